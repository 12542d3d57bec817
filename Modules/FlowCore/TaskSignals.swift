/// Thrown by a task body to end its run Skipped rather than Failed (Prefect's `SKIP` signal).
public struct SkipTask: Error, Sendable, CustomStringConvertible {
  /// Why the task skipped itself.
  public let reason: String

  /// Creates the signal.
  public init(_ reason: String = "Task was skipped by its body.") { self.reason = reason }

  /// The reason.
  public var description: String { reason }
}

/// The error attached to a TimedOut state: the attempt ran longer than its timeout.
public struct TaskTimeoutError: Error, Sendable, CustomStringConvertible {
  /// The task's slug.
  public let task: String
  /// The timeout that was exceeded.
  public let timeout: Duration

  /// Creates the error.
  public init(task: String, timeout: Duration) {
    self.task = task
    self.timeout = timeout
  }

  /// Names the task and the limit.
  public var description: String {
    "task '\(task)' exceeded its timeout of \(timeout) and was cancelled; raise `timeout:` if "
      + "the work needs longer, or make the body check for cancellation sooner"
  }
}

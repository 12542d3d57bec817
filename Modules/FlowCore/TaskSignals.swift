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

/// Thrown by a task body to run the task again with `payload` (Prefect's `LOOP` signal): the
/// next iteration reads it with ``TaskRunContext/loopPayload(_:)`` and its number with
/// ``TaskRunContext/loopCount``. The output of the iteration that returns flows downstream.
///
/// ```swift
/// let fibonacci = task("fibonacci") { (limit: Int) throws -> Int in
///   let pair = TaskRunContext.current?.loopPayload([Int].self) ?? [0, 1]
///   if pair[1] > limit { return pair[0] }
///   throw LoopAgain([pair[1], pair[0] + pair[1]])
/// }
/// ```
public struct LoopAgain<Payload: Sendable>: Error, Sendable, CustomStringConvertible {
  /// What the next iteration receives.
  public let payload: Payload

  /// Asks for another iteration that receives `payload`.
  public init(_ payload: Payload) { self.payload = payload }

  /// Names the payload's type.
  public var description: String { "loop again with a \(Payload.self)" }
}

/// A ``LoopAgain`` whatever its payload's type (how the engine recognises one).
package protocol LoopRequest: Error {
  /// The payload, type-erased.
  var loopPayload: any Sendable { get }
}

extension LoopAgain: LoopRequest {
  package var loopPayload: any Sendable { payload }
}

/// The error of a task run that asked for more loop iterations than its limit.
public struct LoopLimitError: Error, Sendable, CustomStringConvertible {
  /// The task's slug.
  public let task: String
  /// The limit (`TaskOptions.maxLoopIterations`).
  public let limit: Int

  /// Creates the error.
  public init(task: String, limit: Int) {
    self.task = task
    self.limit = limit
  }

  /// Names the task and the limit, and how to raise it.
  public var description: String {
    "task '\(task)' asked for loop iteration \(limit + 1), over its limit of \(limit) "
      + "iterations; end the loop sooner (return a value instead of throwing LoopAgain), or "
      + "raise the limit with `.looping(max:)`"
  }
}

import Foundation

/// The state of a task run or a flow run: a kind, a message, and the result or error attached.
///
/// States are values: the engine moves a run from one to the next through
/// ``RunState/transition(to:)``, which rejects moves the transition table forbids.
public struct RunState: Sendable, CustomStringConvertible {
  /// What kind of state this is (Pending, Running, Success, Failed…).
  public var kind: Kind
  /// A human-readable explanation ("Retrying in 600s", "Trigger was \"allSuccessful\"…").
  public var message: String?
  /// The error that caused a failure, when there was one.
  public var error: (any Error)?
  /// The value a successful or cached run produced, type-erased; see ``value(as:)``.
  public var result: (any Sendable)?
  /// For Scheduled and Retrying: when the next attempt is due.
  public var scheduledAt: Date?

  /// Creates a state of the given kind.
  public init(
    _ kind: Kind, message: String? = nil, error: (any Error)? = nil,
    result: (any Sendable)? = nil, scheduledAt: Date? = nil
  ) {
    self.kind = kind
    self.message = message
    self.error = error
    self.result = result
    self.scheduledAt = scheduledAt
  }

  /// Returns the attached result as `T`, or nil when there is none or it has another type.
  public func value<T>(as type: T.Type = T.self) -> T? { result as? T }

  /// Whether the attached result exists (a `nil` output counts as a result).
  public var hasResult: Bool { result != nil }

  /// True when the run will not change state again.
  public var isFinished: Bool { kind.isFinished }
  /// True for Success, Cached, Mapped and Skipped (Prefect counts a skip as a success).
  public var isSuccessful: Bool { kind.isSuccessful }
  /// True for Failed, TimedOut, TriggerFailed and Crashed.
  public var isFailed: Bool { kind.isFailed }
  /// True for Skipped.
  public var isSkipped: Bool { kind == .skipped }
  /// True for Cancelled.
  public var isCancelled: Bool { kind == .cancelled }
  /// True for Cached.
  public var isCached: Bool { kind == .cached }
  /// True for Mapped.
  public var isMapped: Bool { kind == .mapped }
  /// True for Pending, Scheduled and Retrying: the run waits to start.
  public var isPending: Bool { kind.isPending }
  /// True for Running.
  public var isRunning: Bool { kind == .running }
  /// True for Paused.
  public var isPaused: Bool { kind == .paused }

  /// A one-line description: the kind and, when present, the message.
  public var description: String {
    guard let message else { return kind.name }
    return "\(kind.name)(\"\(message)\")"
  }
}

extension RunState {
  /// The kind of a state. A struct with static members rather than an enum, so it can grow.
  public struct Kind: Hashable, Sendable, CustomStringConvertible {
    /// A small stable number for the kind, used by the transition table.
    public let rawValue: UInt8

    private init(_ rawValue: UInt8) { self.rawValue = rawValue }

    /// Created, waiting for its upstream tasks.
    public static let pending = Kind(0)
    /// Waiting for a start time.
    public static let scheduled = Kind(1)
    /// The body is executing.
    public static let running = Kind(2)
    /// An attempt failed and another is scheduled (see ``RunState/scheduledAt``).
    public static let retrying = Kind(3)
    /// The body returned a value.
    public static let success = Kind(4)
    /// A stored value was reused instead of running the body.
    public static let cached = Kind(5)
    /// The task was mapped: its children are the real runs.
    public static let mapped = Kind(6)
    /// The task did not run, on purpose (an upstream skip or a skip signal).
    public static let skipped = Kind(7)
    /// The body threw an error.
    public static let failed = Kind(8)
    /// The body exceeded its timeout.
    public static let timedOut = Kind(9)
    /// The trigger decided the task must not run.
    public static let triggerFailed = Kind(10)
    /// The infrastructure failed (a worker died, a process crashed): not the task's code.
    public static let crashed = Kind(11)
    /// The run was cancelled before it finished.
    public static let cancelled = Kind(12)
    /// The run waits for a manual approval.
    public static let paused = Kind(13)

    /// Every kind, in rawValue order.
    public static let all: [Kind] = (0...13).map { Kind($0) }

    /// The kind's name as Prefect prints it ("Success", "TriggerFailed"…).
    public var name: String { Self.names[Int(rawValue)] }
    /// Same as ``name``.
    public var description: String { name }

    private static let names = [
      "Pending", "Scheduled", "Running", "Retrying", "Success", "Cached", "Mapped", "Skipped",
      "Failed", "TimedOut", "TriggerFailed", "Crashed", "Cancelled", "Paused",
    ]

    private var bit: UInt16 { 1 << rawValue }
    private static let finishedBits: UInt16 = 0b0001_1111_1111_0000
    private static let successfulBits: UInt16 = 0b0000_0000_1111_0000
    private static let failedBits: UInt16 = 0b0000_1111_0000_0000
    private static let pendingBits: UInt16 = 0b0000_0000_0000_1011

    /// True when a run in this kind will not change state again.
    public var isFinished: Bool { bit & Self.finishedBits != 0 }
    /// True for Success, Cached, Mapped and Skipped.
    public var isSuccessful: Bool { bit & Self.successfulBits != 0 }
    /// True for Failed, TimedOut, TriggerFailed and Crashed.
    public var isFailed: Bool { bit & Self.failedBits != 0 }
    /// True for Pending, Scheduled and Retrying.
    public var isPending: Bool { bit & Self.pendingBits != 0 }
  }
}

extension RunState {
  /// A Pending state.
  public static var pending: RunState { RunState(.pending) }
  /// A Running state.
  public static var running: RunState { RunState(.running) }
  /// A Success state carrying `result`.
  public static func success(_ result: any Sendable, message: String? = nil) -> RunState {
    RunState(.success, message: message, result: result)
  }
  /// A Failed state carrying `error`.
  public static func failed(_ error: any Error, message: String? = nil) -> RunState {
    RunState(.failed, message: message ?? "\(error)", error: error)
  }
}

import Foundation

/// Something the schedule runner did, for logs and tests: a run started or finished, a fire
/// time was skipped, buffered or missed, the runner paused or stopped.
public struct ScheduleRunnerEvent: Sendable, CustomStringConvertible {
  /// What happened.
  public let kind: Kind
  /// When it happened, on the runner's clock.
  public let date: Date
  /// The fire time concerned (the first of them for `missed`), if any.
  public let scheduledDate: Date?
  /// The run concerned, if any.
  public let request: ScheduledRunRequest?
  /// How the run ended, for `runFinished`.
  public let outcome: ScheduledRunOutcome?
  /// How many fire times the event is about (more than 1 only for `missed`).
  public let count: Int
  /// A log line saying what happened.
  public let message: String

  /// Creates an event.
  public init(
    kind: Kind, date: Date, scheduledDate: Date? = nil, request: ScheduledRunRequest? = nil,
    outcome: ScheduledRunOutcome? = nil, count: Int = 1, message: String
  ) {
    self.kind = kind
    self.date = date
    self.scheduledDate = scheduledDate
    self.request = request
    self.outcome = outcome
    self.count = count
    self.message = message
  }

  /// The message.
  public var description: String { message }

  /// The kinds of event; a struct with static members so that it can grow.
  public struct Kind: Hashable, Sendable, CustomStringConvertible {
    /// A short stable name for the kind.
    public let name: String

    /// Creates a kind.
    public init(name: String) { self.name = name }

    /// A run started.
    public static let runStarted = Kind(name: "runStarted")
    /// A run ended.
    public static let runFinished = Kind(name: "runFinished")
    /// A fire time came while a run was going and was dropped (overlap policy).
    public static let skipped = Kind(name: "skipped")
    /// A fire time came while a run was going and waits for it to end (overlap policy).
    public static let buffered = Kind(name: "buffered")
    /// The runner asked a running run to cancel, for a newer fire time (`cancelOther`).
    public static let cancellingRun = Kind(name: "cancellingRun")
    /// Fire times older than the catch-up window were dropped; `count` says how many.
    public static let missed = Kind(name: "missed")
    /// Too many runs failed in a row: the runner starts no more.
    public static let paused = Kind(name: "paused")
    /// A graceful stop was requested: no new run starts; `count` runs are still going.
    public static let stopping = Kind(name: "stopping")
    /// The runner stopped; the summary says why.
    public static let stopped = Kind(name: "stopped")

    /// The name.
    public var description: String { name }
  }
}

/// What a schedule runner did, returned when it stops.
public struct ScheduleRunnerSummary: Sendable, Hashable {
  /// Runs started.
  public var runsStarted = 0
  /// Runs that ended in success.
  public var succeeded = 0
  /// Runs that ended in failure.
  public var failed = 0
  /// Runs that ended cancelled.
  public var cancelled = 0
  /// Fire times dropped by the overlap policy (or left buffered when the runner stopped).
  public var skipped = 0
  /// Fire times dropped because they were older than the catch-up window.
  public var missed = 0
  /// The last fire time the runner handled (ran, skipped or missed): pass it as
  /// `resumeAfter` to a later runner to catch up from there.
  public var lastFireDate: Date?
  /// Why the runner stopped.
  public var stopReason: StopReason = .scheduleEnded

  /// An empty summary.
  public init() {}

  /// Why a schedule runner stopped; a struct with static members so that it can grow.
  public struct StopReason: Hashable, Sendable, CustomStringConvertible {
    /// A short stable name for the reason.
    public let name: String

    /// Creates a reason.
    public init(name: String) { self.name = name }

    /// The schedule has no more fire times.
    public static let scheduleEnded = StopReason(name: "scheduleEnded")
    /// `maxRuns` runs were started.
    public static let maxRunsReached = StopReason(name: "maxRunsReached")
    /// `pauseAfterFailures` runs failed in a row.
    public static let pausedAfterFailures = StopReason(name: "pausedAfterFailures")
    /// A ``ScheduleStopSignal`` asked it to stop.
    public static let stopRequested = StopReason(name: "stopRequested")
    /// The task running it was cancelled.
    public static let cancelled = StopReason(name: "cancelled")

    /// The name.
    public var description: String { name }
  }
}

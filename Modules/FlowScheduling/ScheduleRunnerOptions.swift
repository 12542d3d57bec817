import Foundation

/// How a ``ScheduleRunner`` handles overlaps, lateness, failures and limits.
public struct ScheduleRunnerOptions: Sendable {
  /// What to do with a fire time that comes while a run is going (default: skip it).
  public var overlap: OverlapPolicy
  /// How late a fire time may be handled: when the runner finds fire times that passed while it
  /// could not act (downtime, a suspended machine, `resumeAfter`), those older than this window
  /// are dropped and reported with one `missed` event; newer ones are handled as usual.
  public var catchUpWindow: Duration
  /// Stop after starting this many runs (nil: no limit).
  public var maxRuns: Int?
  /// Stop starting runs after this many consecutive failures (nil: never).
  public var pauseAfterFailures: Int?
  /// The last fire time a previous runner handled: fire times after it that have already passed
  /// are caught up within ``catchUpWindow``. Nil starts from the clock's current time.
  public var resumeAfter: Date?
  /// Called with every event, in order, from the runner's task; keep it quick.
  public var onEvent: @Sendable (ScheduleRunnerEvent) -> Void

  /// Options; by default overlapping fire times are skipped and fire times more than a minute
  /// late are dropped.
  public init(
    overlap: OverlapPolicy = .skip, catchUpWindow: Duration = .seconds(60), maxRuns: Int? = nil,
    pauseAfterFailures: Int? = nil, resumeAfter: Date? = nil,
    onEvent: @escaping @Sendable (ScheduleRunnerEvent) -> Void = { _ in }
  ) {
    self.overlap = overlap
    self.catchUpWindow = catchUpWindow
    self.maxRuns = maxRuns
    self.pauseAfterFailures = pauseAfterFailures
    self.resumeAfter = resumeAfter
    self.onEvent = onEvent
  }
}

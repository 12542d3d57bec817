import FlowState
import Foundation

/// One run of a task (or one mapped child) as it ended: state, attempts, timings.
public struct TaskRun: Sendable {
  /// The task's name.
  public let name: String
  /// The task's slug in the flow.
  public let slug: String
  /// For a mapped child, its index; nil for an unmapped task or a mapped parent.
  public let mapIndex: Int?
  /// The task run's ID.
  public let id: UUID
  /// The final state (Pending when the run stopped before the task could start).
  public let state: RunState
  /// How many times the body was started.
  public var attempts: Int { startedAt == nil ? 0 : 1 + retryStartTimes.count }
  /// When each attempt started.
  public var attemptStartTimes: [Date] { startedAt.map { [$0] + retryStartTimes } ?? [] }
  /// When the first attempt started; nil when the body never ran.
  public let startedAt: Date?
  /// When the second and later attempts started (kept apart so that a run without retries
  /// allocates nothing for them).
  let retryStartTimes: [Date]
  /// When the run reached its final state.
  public let finishedAt: Date?
  /// Attempts lost with a cluster worker and rescheduled (each shows as Crashed in the log).
  public var crashedAttempts = 0
  /// How many loop iterations the run took (``LoopAgain``); 1 when it did not loop. Every
  /// iteration's start counts in ``attempts`` and ``attemptStartTimes``.
  public var loopIterations = 1

  /// Time from the first attempt's start to the final state.
  public var duration: Duration? {
    guard let startedAt, let finishedAt else { return nil }
    return .seconds(finishedAt.timeIntervalSince(startedAt))
  }

  /// `slug` or `slug[index]` for a mapped child.
  public var label: String { mapIndex.map { "\(slug)[\($0)]" } ?? slug }
}

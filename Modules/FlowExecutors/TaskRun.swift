import FlowCore
import FlowState
import Foundation

/// One run of a task (or one mapped child) as it ended: state, attempts, timings.
///
/// Kept compact (a run of a hundred thousand tasks holds a hundred thousand of these): times
/// and counters are stored narrow. The names stay strings: a short one (most slugs) is held
/// inline, with no reference to count when a record is made or freed.
public struct TaskRun: Sendable {
  /// The task's name.
  public let name: String
  /// The task's slug in the flow.
  public let slug: String
  /// For a mapped child, its index; nil for an unmapped task or a mapped parent.
  public var mapIndex: Int? { storedMapIndex < 0 ? nil : Int(storedMapIndex) }
  /// The task run's ID.
  public let id: UUID
  /// The final state (Pending when the run stopped before the task could start).
  public let state: RunState
  /// How many times the body was started.
  public var attempts: Int { startedAt == nil ? 0 : 1 + retryStartTimes.count }
  /// When each attempt started.
  public var attemptStartTimes: [Date] { startedAt.map { [$0] + retryStartTimes } ?? [] }
  /// When the first attempt started; nil when the body never ran.
  public var startedAt: Date? { Self.date(started) }
  /// When the second and later attempts started (kept apart so that a run without retries
  /// allocates nothing for them).
  let retryStartTimes: [Date]
  /// When the run reached its final state.
  public var finishedAt: Date? { Self.date(finished) }
  /// Attempts lost with a cluster worker and rescheduled (each shows as Crashed in the log).
  public var crashedAttempts: Int {
    get { Int(crashed) }
    set { crashed = Int32(clamping: newValue) }
  }
  /// How many loop iterations the run took (``LoopAgain``); 1 when it did not loop. Every
  /// iteration's start counts in ``attempts`` and ``attemptStartTimes``.
  public var loopIterations: Int {
    get { Int(loops) }
    set { loops = Int32(clamping: newValue) }
  }
  /// The times as seconds since the reference date (NaN: none).
  private let started: Double
  private let finished: Double
  /// The map index (-1: none) and the counters, narrow.
  private let storedMapIndex: Int32
  private var crashed: Int32 = 0
  private var loops: Int32 = 1

  /// A record of `graph`'s node `node` (its name and slug are read in place, not copied with
  /// the whole node).
  init(
    _ graph: FlowGraph, node: Int, mapIndex: Int?, id: UUID, state: RunState, startedAt: Date?,
    retryStartTimes: [Date], finishedAt: Date?
  ) {
    name = graph.nodes[node].name
    slug = graph.nodes[node].slug
    storedMapIndex = mapIndex.map { Int32(clamping: $0) } ?? -1
    self.id = id
    self.state = state
    started = startedAt?.timeIntervalSinceReferenceDate ?? .nan
    self.retryStartTimes = retryStartTimes
    finished = finishedAt?.timeIntervalSinceReferenceDate ?? .nan
  }

  private static func date(_ seconds: Double) -> Date? {
    seconds.isNaN ? nil : Date(timeIntervalSinceReferenceDate: seconds)
  }

  /// Time from the first attempt's start to the final state.
  public var duration: Duration? {
    guard let startedAt, let finishedAt else { return nil }
    return .seconds(finishedAt.timeIntervalSince(startedAt))
  }

  /// `slug` or `slug[index]` for a mapped child.
  public var label: String { mapIndex.map { "\(slug)[\($0)]" } ?? slug }
}

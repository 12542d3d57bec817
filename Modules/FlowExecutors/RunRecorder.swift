import FlowCore
import Foundation

/// Records runs into a ``RunStore``: the flow, the run, every task run, transition and log
/// record, and a heartbeat while the run is alive.
///
/// Pass one to `flow.run(..., recorder:)`; nothing is recorded without it (no hidden global).
/// Records are collected off the engine's path and written in batches (one transaction each)
/// by a writer that runs beside the flow run.
public struct RunRecorder: Sendable {
  /// Where records go.
  public let store: any RunStore
  /// How often the run says it is alive (readers call a Running run whose heartbeat is older
  /// than their TTL Crashed; keep this well below it).
  public var heartbeatInterval: Duration
  /// How often buffered records are written.
  public var flushInterval: Duration
  /// A batch is written early once this many records wait.
  public var batchSize: Int
  /// How long the store may keep failing before the run is stopped and ends Crashed.
  public var unavailableTimeout: Duration
  /// The most records waiting to be written: when this many wait, each task attempt waits
  /// for the writer before it starts (back pressure; nothing is dropped). While the store
  /// fails the run waits here until ``unavailableTimeout``, then ends Crashed.
  public var bufferLimit: Int
  /// The command line that started the run (replayed by `flow runs resume`).
  public var command: [String]
  /// The host and process ID recorded with the run.
  public var host: String
  /// The run's process ID.
  public var processID: Int
  /// Whether the run's start is written before its first task runs (the default: a store
  /// that cannot record it refuses the run), or with the run's first batch (a run that ends
  /// within the first flush interval then costs one write; until that batch the run is not in
  /// the store). Agents, whose claim already proved the store reachable, write it with the
  /// first batch.
  public var writesStartAtOnce: Bool
  /// Whether a task run that succeeds is written at once rather than with the next flush: an
  /// agent that persists task outputs in the run database sets this, so that an output is
  /// committed one write after its task's body returned, not up to a flush interval later (a
  /// process killed in between loses the output, and the task runs again when the run is
  /// taken over). Writes by other transitions are still batched.
  public var writesSuccessesAtOnce: Bool

  /// A recorder writing into `store`.
  public init(
    store: any RunStore, heartbeatInterval: Duration = .seconds(5),
    flushInterval: Duration = .milliseconds(200), batchSize: Int = 5_000,
    unavailableTimeout: Duration = .seconds(60), bufferLimit: Int = 100_000,
    command: [String] = [], host: String = SystemHost.name,
    processID: Int = SystemHost.processID, writesStartAtOnce: Bool = true,
    writesSuccessesAtOnce: Bool = false
  ) {
    self.store = store
    self.heartbeatInterval = heartbeatInterval
    self.flushInterval = flushInterval
    self.batchSize = max(1, batchSize)
    self.unavailableTimeout = unavailableTimeout
    self.bufferLimit = max(1, bufferLimit)
    self.command = command
    self.host = host
    self.processID = processID
    self.writesStartAtOnce = writesStartAtOnce
    self.writesSuccessesAtOnce = writesSuccessesAtOnce
  }
}

import FlowCore
import FlowResults
import Foundation
import Synchronization

/// A run store for one deployment run held under a lease: reads go to the store as they are,
/// and every write carries the lease's epoch (``DeploymentStore/write(_:now:)``), through the
/// agent's ``FencedWriteQueue`` (one transaction for the writes of all its runs). A fenced
/// write calls `onFenced` so that the agent stops the run at once.
public struct FencedRunStore: RunStore {
  /// The shared store.
  public let base: any DeploymentStore
  /// The lease the run is held under.
  public let lease: RunLease
  private let writes: FencedWriteQueue
  private let onFenced: @Sendable (RunStoreError) -> Void
  /// When set, the run's last records (those that end its flow run) are kept here for the
  /// agent to write with the lease's release, in one transaction, instead of on their own.
  private let ending: EndingRecords?
  /// When set, the task outputs the run persisted in the database since its last write go
  /// with each write of its records (durable execution, fenced like them).
  private let results: RunDatabaseResultStore?

  /// Writes into `base` under `lease`, on its own, timed by `clock`.
  public init(
    base: any DeploymentStore, lease: RunLease, clock: any WallClock,
    onFenced: @escaping @Sendable (RunStoreError) -> Void
  ) {
    self.init(
      base: base, lease: lease, writes: FencedWriteQueue(store: base, clock: clock),
      onFenced: onFenced)
  }

  /// Writes into `base` under `lease` through `writes`, shared with the agent's other runs.
  public init(
    base: any DeploymentStore, lease: RunLease, writes: FencedWriteQueue,
    onFenced: @escaping @Sendable (RunStoreError) -> Void
  ) {
    self.init(
      base: base, lease: lease, writes: writes, ending: nil, results: nil, onFenced: onFenced)
  }

  /// Writes into `base` under `lease` through `writes`; the records that end the run are kept
  /// in `ending` (when given) for the agent to write with the lease's release; the outputs
  /// queued in `results` (when given) go with each write.
  package init(
    base: any DeploymentStore, lease: RunLease, writes: FencedWriteQueue, ending: EndingRecords?,
    results: RunDatabaseResultStore? = nil,
    onFenced: @escaping @Sendable (RunStoreError) -> Void
  ) {
    self.base = base
    self.lease = lease
    self.writes = writes
    self.ending = ending
    self.results = results
    self.onFenced = onFenced
  }

  /// The shared store's description.
  public var description: String { base.description }

  /// Migrations belong to the shared store's owner: nothing to do here.
  public func migrate() async throws(RunStoreError) {}

  /// The shared store's schema status.
  public func schemaStatus() async throws(RunStoreError) -> RunStoreSchemaStatus {
    try await base.schemaStatus()
  }

  /// Writes the batch (with the outputs persisted since the last write) if the lease is
  /// still current.
  public func write(_ batch: RunStoreBatch) async throws(RunStoreError) {
    if let ending, ending.keep(batch, runID: lease.runID) { return }
    let outputs = results?.takePending() ?? []
    if let error = await writes.submit(FencedWrite(lease: lease, batch: batch, results: outputs)) {
      results?.restore(outputs)
      if error.code == .staleLease { onFenced(error) }
      throw error
    }
  }

  /// Appends engine events under the lease (idempotently, as batches do).
  public func appendEvents(_ events: [RunEventRecord]) async throws(RunStoreError) {
    var batch = RunStoreBatch()
    batch.events = events
    try await write(batch)
  }

  /// Reads from the shared store.
  public func events(flowRunID: UUID, after sequence: Int64) async throws(RunStoreError)
    -> [RunEventRecord]
  {
    try await base.events(flowRunID: flowRunID, after: sequence)
  }

  /// Reads from the shared store.
  public func flowRuns(_ query: FlowRunQuery) async throws(RunStoreError) -> [FlowRunRecord] {
    try await base.flowRuns(query)
  }

  /// Reads from the shared store.
  public func flowRun(id: UUID) async throws(RunStoreError) -> FlowRunRecord? {
    try await base.flowRun(id: id)
  }

  /// Reads from the shared store.
  public func flow(name: String, version: String) async throws(RunStoreError) -> FlowRecord? {
    try await base.flow(name: name, version: version)
  }

  /// Reads from the shared store.
  public func taskRuns(flowRunID: UUID) async throws(RunStoreError) -> [TaskRunRecord] {
    try await base.taskRuns(flowRunID: flowRunID)
  }

  /// Reads from the shared store.
  public func transitions(flowRunID: UUID) async throws(RunStoreError) -> [TransitionRecord] {
    try await base.transitions(flowRunID: flowRunID)
  }

  /// Reads from the shared store.
  public func logs(flowRunID: UUID, after sequence: Int64, minimumLevel: StoredLogLevel)
    async throws(RunStoreError) -> [StoredLogRecord]
  {
    try await base.logs(flowRunID: flowRunID, after: sequence, minimumLevel: minimumLevel)
  }

  /// A run's agent prunes nothing.
  public func prune(endedBefore cutoff: Date, limit: Int) async throws(RunStoreError) -> Int { 0 }

  /// The shared store stays open (its owner closes it).
  public func close() async {}
}

/// A run's last records, kept from its end until its lease is released: the agent writes them
/// with the release (the run's end, its records and the holding's release in one transaction,
/// and one round of statements less per run). Records that follow them are kept with them.
package final class EndingRecords: Sendable {
  private let kept = Mutex<RunStoreBatch?>(nil)

  package init() {}

  /// Keeps `batch` when it ends the flow run `runID` (or follows records kept already);
  /// false when it is to be written now.
  package func keep(_ batch: RunStoreBatch, runID: UUID) -> Bool {
    kept.withLock { kept in
      if let earlier = kept {
        var merged = FencedBatchMerger()
        merged.add(earlier)
        merged.add(batch)
        kept = merged.batch
        return true
      }
      guard batch.flowRuns.contains(where: { $0.id == runID && $0.endedAt != nil }) else {
        return false
      }
      kept = batch
      return true
    }
  }

  /// The records kept (empty when none), once.
  package func take() -> RunStoreBatch {
    kept.withLock { kept in
      defer { kept = nil }
      return kept ?? RunStoreBatch()
    }
  }
}

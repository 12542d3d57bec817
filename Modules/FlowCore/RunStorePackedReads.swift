import Foundation

/// The reads both SQL adapters share of the records schema version 6 keeps in two forms: the
/// rows older versions wrote and the packed ones (``PackedRunStoreBatch``), merged by sequence.
extension RunStoreSQL {
  /// A run's transitions in order.
  package func transitions(flowRunID: UUID, on db: some SQLDatabase)
    async throws(RunStoreError) -> [TransitionRecord]
  {
    TransitionPacking.merged(
      try await db.read(transitions(flowRunID: flowRunID)).compactMap(Self.transition),
      try await packedTransitions(flowRunID: flowRunID, on: db))
  }

  /// The transitions a run's task-run rows hold.
  package func packedTransitions(flowRunID: UUID, on db: some SQLDatabase)
    async throws(RunStoreError) -> [TransitionRecord]
  {
    Self.packedTransitions(
      try await db.read(taskRunTransitions(flowRunID: flowRunID)), flowRunID: flowRunID)
  }

  /// A run's log records after `sequence`, at `minimumLevel` or above.
  package func logs(
    flowRunID: UUID, after sequence: Int64, minimumLevel: StoredLogLevel, on db: some SQLDatabase
  ) async throws(RunStoreError) -> [StoredLogRecord] {
    RunLogPack.merged(
      try await db.read(logs(flowRunID: flowRunID, after: sequence, level: minimumLevel))
        .compactMap(Self.log),
      try await logPacks(flowRunID: flowRunID, after: sequence, on: db), after: sequence,
      level: minimumLevel, limit: .max)
  }

  /// A run's packs of log records that end after `sequence`.
  package func logPacks(flowRunID: UUID, after sequence: Int64, on db: some SQLDatabase)
    async throws(RunStoreError) -> [RunLogPack]
  {
    try await db.read(logPacks(flowRunID: flowRunID, after: sequence)).compactMap {
      Self.logPack($0, flowRunID: flowRunID)
    }
  }
}

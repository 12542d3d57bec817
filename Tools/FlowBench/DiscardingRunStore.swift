import FlowCore
import Foundation
import Synchronization

/// A run store that keeps nothing but a count of the records written: what recording costs
/// the engine's side (building, encoding and handing over records) without a database.
final class DiscardingRunStore: RunStore {
  private let written = Mutex((taskRuns: 0, transitions: 0))

  var description: String { "discarding" }

  /// The task-run and transition records written so far.
  var counts: (taskRuns: Int, transitions: Int) { written.withLock { $0 } }

  func migrate() async throws(RunStoreError) {}
  func schemaStatus() async throws(RunStoreError) -> RunStoreSchemaStatus {
    RunStoreSchemaStatus(databaseVersion: RunStoreSchema.current)
  }
  func write(_ batch: RunStoreBatch) async throws(RunStoreError) {
    written.withLock {
      $0.taskRuns += batch.taskRuns.count
      $0.transitions += batch.transitions.count
    }
  }
  func appendEvents(_ events: [RunEventRecord]) async throws(RunStoreError) {}
  func events(flowRunID: UUID, after sequence: Int64) async throws(RunStoreError)
    -> [RunEventRecord]
  { [] }
  func flowRuns(_ query: FlowRunQuery) async throws(RunStoreError) -> [FlowRunRecord] { [] }
  func flowRun(id: UUID) async throws(RunStoreError) -> FlowRunRecord? { nil }
  func flow(name: String, version: String) async throws(RunStoreError) -> FlowRecord? { nil }
  func taskRuns(flowRunID: UUID) async throws(RunStoreError) -> [TaskRunRecord] { [] }
  func transitions(flowRunID: UUID) async throws(RunStoreError) -> [TransitionRecord] { [] }
  func logs(flowRunID: UUID, after sequence: Int64, minimumLevel: StoredLogLevel)
    async throws(RunStoreError) -> [StoredLogRecord]
  { [] }
  func prune(endedBefore cutoff: Date, limit: Int) async throws(RunStoreError) -> Int { 0 }
  func close() async {}
}

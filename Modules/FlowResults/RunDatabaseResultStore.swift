import FlowCore
import Foundation
import Synchronization

/// One flow run's persisted task outputs in the run database (``RunResultStorage``), as a
/// ``ResultStore``: what an agent uses for durable execution, so that an agent on any machine
/// that takes the run over finds them.
///
/// The engine reads and writes results synchronously, the database is asynchronous: the values
/// the run stored before (when it is resumed) are read once before it starts, and a value
/// written is kept in memory and queued until the run's next write of records takes it
/// (``takePending()``), fenced by the run's lease and in the same transaction as the records
/// that say its task succeeded, which are buffered after it. A value is never in the database
/// after its task's success is recorded without it.
///
/// ```swift
/// let stored = try await store.results(flowRunID: runID)
/// let results = RunDatabaseResultStore(flowRunID: runID, stored: stored, in: store.description)
/// let durable = flow.persistingOutputs(in: results)
/// ```
public final class RunDatabaseResultStore: ResultStore {
  private struct State {
    var values: [String: StoredResult] = [:]
    var pending: [RunResultRecord] = []
  }

  /// The flow run whose outputs these are.
  public let flowRunID: UUID
  /// The database, for messages.
  private let database: String
  private let state: Mutex<State>

  /// The results of the run `flowRunID`, starting with the values it `stored` before, in the
  /// database described as `database`.
  public init(flowRunID: UUID, stored: [RunResultRecord] = [], in database: String) {
    self.flowRunID = flowRunID
    self.database = database
    var values: [String: StoredResult] = [:]
    for record in stored where record.flowRunID == flowRunID {
      values[record.location] = record.result
    }
    state = Mutex(State(values: values))
  }

  /// "the run database (LOCATION)".
  public var description: String { "the run database (\(database))" }

  /// The value at `location`: one the run stored before it was resumed, or wrote since.
  public func read(at location: String) throws(ResultStoreError) -> StoredResult? {
    try ResultLocation.validate(location)
    return state.withLock { $0.values[location] }
  }

  /// Keeps `result` at `location` and queues it for the run's next write of records.
  public func write(_ result: StoredResult, at location: String) throws(ResultStoreError) {
    try ResultLocation.validate(location)
    let record = RunResultRecord(flowRunID: flowRunID, location: location, result: result)
    state.withLock { state in
      state.values[location] = result
      // A location written again before its earlier value was taken is written once.
      state.pending.removeAll { $0.location == location }
      state.pending.append(record)
    }
  }

  /// The values written since the last call, oldest first, no longer queued.
  public func takePending() -> [RunResultRecord] {
    state.withLock { state in
      defer { state.pending = [] }
      return state.pending
    }
  }

  /// Queues `records` again (a write that took them failed), before those written since, but
  /// for locations written again meanwhile.
  public func restore(_ records: [RunResultRecord]) {
    state.withLock { state in
      let newer = Set(state.pending.map(\.location))
      state.pending = records.filter { !newer.contains($0.location) } + state.pending
    }
  }
}

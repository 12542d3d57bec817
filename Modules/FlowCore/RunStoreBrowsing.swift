import Foundation

/// The reads a run-history browser (the server and its UI) needs beyond ``RunStore``: the
/// recorded flows, and bounded pages of a run's transitions and logs and of finished runs.
public protocol RunStoreBrowsing: RunStore {
  /// Every recorded flow version (without its graph), by name then version.
  func flowSummaries() async throws(RunStoreError) -> [FlowSummary]
  /// Up to `limit` of the run's transitions with a sequence above `sequence`, in order.
  func transitions(flowRunID: UUID, after sequence: Int64, limit: Int)
    async throws(RunStoreError) -> [TransitionRecord]
  /// Up to `limit` of the run's log records above `sequence`, at `minimumLevel` or above.
  func logs(flowRunID: UUID, after sequence: Int64, minimumLevel: StoredLogLevel, limit: Int)
    async throws(RunStoreError) -> [StoredLogRecord]
  /// Up to `limit` runs that reached a final state after `cursor`, oldest end first.
  func flowRuns(endedAfter cursor: FlowRunEndCursor?, limit: Int)
    async throws(RunStoreError) -> [FlowRunRecord]
}

/// A recorded flow version, without its graph.
public struct FlowSummary: Sendable, Equatable, Codable {
  /// The flow's name.
  public var name: String
  /// Its version (``FlowRecord/version``).
  public var version: String
  /// Its parameters as a JSON schema.
  public var parameterSchemaJSON: String

  /// Creates a summary.
  public init(name: String, version: String, parameterSchemaJSON: String) {
    self.name = name
    self.version = version
    self.parameterSchemaJSON = parameterSchemaJSON
  }
}

/// A position in the order in which runs ended (end time, then ID).
public struct FlowRunEndCursor: Sendable, Equatable {
  /// The run's end time.
  public var endedAt: Date
  /// The run's ID (breaks ties).
  public var id: UUID

  /// Creates a cursor.
  public init(endedAt: Date, id: UUID) {
    self.endedAt = endedAt
    self.id = id
  }
}

extension RunStoreSQL {
  /// Selects every flow version without its graph.
  package func flowSummaries() -> SQLStatement {
    SQLStatement(
      sql: "SELECT name, version, parameter_schema FROM flows ORDER BY name, version", binds: [])
  }

  /// Selects up to `limit` of a run's transitions after `sequence`.
  package func transitions(flowRunID: UUID, after sequence: Int64, limit: Int, _ p: (Int) -> String)
    -> SQLStatement
  {
    SQLStatement(
      sql: "SELECT flow_run_id, sequence, slug, map_index, from_state, to_state, time, message "
        + "FROM transitions WHERE flow_run_id = \(p(1)) AND sequence > \(p(2)) ORDER BY sequence "
        + "LIMIT \(p(3))",
      binds: [
        .text(flowRunID.uuidString.lowercased()), .integer(sequence), .integer(Int64(limit)),
      ])
  }

  /// Selects up to `limit` of a run's logs after `sequence` at `level` or above.
  package func logs(
    flowRunID: UUID, after sequence: Int64, level: StoredLogLevel, limit: Int,
    _ p: (Int) -> String
  ) -> SQLStatement {
    SQLStatement(
      sql: "SELECT flow_run_id, sequence, time, level, message, metadata FROM logs WHERE "
        + "flow_run_id = \(p(1)) AND sequence > \(p(2)) AND level >= \(p(3)) ORDER BY sequence "
        + "LIMIT \(p(4))",
      binds: [
        .text(flowRunID.uuidString.lowercased()), .integer(sequence),
        .integer(Int64(level.rank)), .integer(Int64(limit)),
      ])
  }

  /// Selects up to `limit` runs that ended after `cursor`, oldest end first.
  package func flowRuns(endedAfter cursor: FlowRunEndCursor?, limit: Int, _ p: (Int) -> String)
    -> SQLStatement
  {
    let columns = Self.flowRunColumns.joined(separator: ",")
    guard let cursor else {
      return SQLStatement(
        sql: "SELECT \(columns) FROM flow_runs WHERE ended_at IS NOT NULL ORDER BY ended_at, id "
          + "LIMIT \(p(1))", binds: [.integer(Int64(limit))])
    }
    let micros = RunStoreCoding.micros(cursor.endedAt)
    return SQLStatement(
      sql: "SELECT \(columns) FROM flow_runs WHERE ended_at > \(p(1)) OR (ended_at = \(p(2)) "
        + "AND id > \(p(3))) ORDER BY ended_at, id LIMIT \(p(4))",
      binds: [
        .integer(micros), .integer(micros), .text(cursor.id.uuidString.lowercased()),
        .integer(Int64(limit)),
      ])
  }

  /// A flow summary from its row.
  package static func flowSummary(_ row: SQLRow) -> FlowSummary? {
    guard let name = row["name"]?.text, let version = row["version"]?.text else { return nil }
    return FlowSummary(
      name: name, version: version, parameterSchemaJSON: row["parameter_schema"]?.text ?? "{}")
  }
}

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
  /// What a run page draws of every task run and transition (see ``RunOutline``).
  func runOutline(flowRunID: UUID) async throws(RunStoreError) -> RunOutline
  /// Up to `limit` of the run's task runs in flow order, from the `offset`-th.
  func taskRuns(flowRunID: UUID, offset: Int, limit: Int) async throws(RunStoreError)
    -> [TaskRunRecord]
}

/// The columns of a run that its page draws for every task run and transition (its schematic
/// and timeline), without the rest: a 10,000-task run's page reads tens of thousands of rows.
public struct RunOutline: Sendable, Equatable {
  /// Every task run in flow order, with its run, slug, map index, state and position only
  /// (the other fields are empty).
  public var taskRuns: [TaskRunRecord]
  /// Every transition in order, with its run, sequence, subject, new state and time only
  /// (`from` is empty, `message` nil).
  public var transitions: [TransitionRecord]

  /// An outline.
  public init(taskRuns: [TaskRunRecord], transitions: [TransitionRecord]) {
    self.taskRuns = taskRuns
    self.transitions = transitions
  }

  /// The outline of full records (what a store without narrower reads returns).
  public init(outlining taskRuns: [TaskRunRecord], _ transitions: [TransitionRecord]) {
    self.taskRuns = taskRuns.map {
      TaskRunRecord(
        flowRunID: $0.flowRunID, slug: $0.slug, mapIndex: $0.mapIndex, taskRunID: nil,
        state: $0.state, message: nil, attempts: 0, crashedAttempts: 0, startedAt: nil,
        endedAt: nil, resultLocation: nil, position: $0.position)
    }
    self.transitions = Self.outline(transitions)
  }

  /// `transitions` with the outline's columns only (`from` empty, `message` nil).
  package static func outline(_ transitions: [TransitionRecord]) -> [TransitionRecord] {
    transitions.map {
      TransitionRecord(
        flowRunID: $0.flowRunID, sequence: $0.sequence, slug: $0.slug, mapIndex: $0.mapIndex,
        from: "", to: $0.to, time: $0.time, message: nil)
    }
  }
}

extension RunStoreBrowsing {
  /// The outline from the full reads (stores with narrower reads implement it themselves).
  public func runOutline(flowRunID: UUID) async throws(RunStoreError) -> RunOutline {
    RunOutline(
      outlining: try await taskRuns(flowRunID: flowRunID),
      try await transitions(flowRunID: flowRunID))
  }

  /// A page of the full read (stores with narrower reads implement it themselves).
  public func taskRuns(flowRunID: UUID, offset: Int, limit: Int) async throws(RunStoreError)
    -> [TaskRunRecord]
  {
    Array(try await taskRuns(flowRunID: flowRunID).dropFirst(max(offset, 0)).prefix(limit))
  }
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
      sql: "SELECT \(RunStoreSQL.logColumns) FROM logs WHERE "
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

  /// Selects the outline's columns of a run's task runs, in flow order.
  package func outlineTaskRuns(flowRunID: UUID, _ p: (Int) -> String) -> SQLStatement {
    SQLStatement(
      sql: "SELECT slug, map_index, state, position FROM task_runs WHERE flow_run_id = \(p(1)) "
        + "ORDER BY position, map_index",
      binds: [.text(flowRunID.uuidString.lowercased())])
  }

  /// Selects the outline's columns of a run's transitions, in order.
  package func outlineTransitions(flowRunID: UUID, _ p: (Int) -> String) -> SQLStatement {
    SQLStatement(
      sql: "SELECT sequence, slug, map_index, to_state, time FROM transitions WHERE "
        + "flow_run_id = \(p(1)) ORDER BY sequence",
      binds: [.text(flowRunID.uuidString.lowercased())])
  }

  /// Selects up to `limit` of a run's task runs in flow order from the `offset`-th.
  package func taskRuns(flowRunID: UUID, offset: Int, limit: Int, _ p: (Int) -> String)
    -> SQLStatement
  {
    SQLStatement(
      sql: "SELECT \(Self.taskRunColumns.joined(separator: ",")) FROM task_runs WHERE "
        + "flow_run_id = \(p(1)) ORDER BY position, map_index LIMIT \(p(2)) OFFSET \(p(3))",
      binds: [
        .text(flowRunID.uuidString.lowercased()), .integer(Int64(max(limit, 0))),
        .integer(Int64(max(offset, 0))),
      ])
  }

  /// A task run of the outline from its row (its run given).
  package static func outlineTaskRun(_ row: SQLRow, flowRunID: UUID) -> TaskRunRecord {
    // Columns by position: slug, map_index, state, position.
    let values = row.values
    return TaskRunRecord(
      flowRunID: flowRunID, slug: values[0].text ?? "", mapIndex: Int(values[1].integer ?? -1),
      taskRunID: nil, state: values[2].text ?? "", message: nil, attempts: 0,
      crashedAttempts: 0, startedAt: nil, endedAt: nil, resultLocation: nil,
      position: Int(values[3].integer ?? 0))
  }

  /// A transition of the outline from its row (its run given).
  package static func outlineTransition(_ row: SQLRow, flowRunID: UUID) -> TransitionRecord {
    // Columns by position: sequence, slug, map_index, to_state, time.
    let values = row.values
    return TransitionRecord(
      flowRunID: flowRunID, sequence: values[0].integer ?? 0, slug: values[1].text,
      mapIndex: Int(values[2].integer ?? -1), from: "", to: values[3].text ?? "",
      time: values[4].integer.map(RunStoreCoding.date) ?? .distantPast, message: nil)
  }

  /// A flow summary from its row.
  package static func flowSummary(_ row: SQLRow) -> FlowSummary? {
    guard let name = row["name"]?.text, let version = row["version"]?.text else { return nil }
    return FlowSummary(
      name: name, version: version, parameterSchemaJSON: row["parameter_schema"]?.text ?? "{}")
  }
}

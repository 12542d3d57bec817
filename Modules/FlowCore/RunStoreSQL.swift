import Foundation
import Synchronization

/// A value bound to or read from a SQL statement, in the types both databases share.
package enum SQLValue: Sendable, Equatable {
  case integer(Int64)
  case text(String)
  case blob(Data)
  case null

  package var integer: Int64? {
    if case .integer(let value) = self { return value }
    return nil
  }

  package var text: String? {
    if case .text(let value) = self { return value }
    return nil
  }
}

/// One statement and its binds.
package struct SQLStatement: Sendable {
  /// The SQL text.
  package var sql: String
  /// The values of its placeholders, in order.
  package var binds: [SQLValue]
  /// Whether its text is one the database adapter may prepare once per connection and run
  /// again with other binds (a hot statement of fixed text; PostgreSQL then skips planning it
  /// at each call). An adapter that does not know the text runs it as any other.
  package var prepared: Bool

  /// A statement.
  package init(sql: String, binds: [SQLValue] = [], prepared: Bool = false) {
    self.sql = sql
    self.binds = binds
    self.prepared = prepared
  }
}

/// One result row, read by column name: the values in column order beside the column names,
/// which all rows of one result share (no dictionary per row: a run page reads tens of
/// thousands of rows).
package struct SQLRow: Sendable, Equatable, ExpressibleByDictionaryLiteral {
  /// The column names, in order (shared by the rows of one result).
  package private(set) var names: [String]
  /// The values, in the order of `names`.
  package private(set) var values: [SQLValue]

  /// A row of `values` named by `names` (the same count).
  package init(names: [String], values: [SQLValue]) {
    precondition(names.count == values.count, "one name per value")
    self.names = names
    self.values = values
  }

  /// A row from name-value pairs.
  package init(dictionaryLiteral elements: (String, SQLValue)...) {
    names = elements.map(\.0)
    values = elements.map(\.1)
  }

  /// The value of the column `name`, or nil when the row has no such column.
  package subscript(name: String) -> SQLValue? {
    get {
      // A row has a dozen columns at most: a scan beats hashing the name.
      for index in names.indices where names[index] == name { return values[index] }
      return nil
    }
    set {
      let index = names.firstIndex(of: name)
      switch (index, newValue) {
      case (let index?, let value?): values[index] = value
      case (let index?, nil):
        names.remove(at: index)
        values.remove(at: index)
      case (nil, let value?):
        names.append(name)
        values.append(value)
      case (nil, nil): break
      }
    }
  }
}

/// The run store's SQL, shared by the SQLite and PostgreSQL adapters; only the placeholder
/// syntax differs (`?` or `$1`).
package struct RunStoreSQL: Sendable {
  private let placeholder: @Sendable (Int) -> String
  /// Rows per multi-row INSERT.
  private let rowsPerStatement = 500
  /// Runs deleted per transaction by the adapters' prune (a concurrent run's write waits for
  /// one such transaction at most).
  package static let pruneChunk = 25
  /// Inserts bind one array per column (PostgreSQL's `unnest`), not one value per cell.
  private let arrayInserts: Bool

  /// SQL with placeholders written by `placeholder(n)` for the n-th bind (from 1); with
  /// `arrayInserts` (PostgreSQL), an INSERT binds each column as one array literal and reads
  /// the rows with `unnest`: one short statement per table instead of thousands of binds.
  package init(placeholder: @escaping @Sendable (Int) -> String, arrayInserts: Bool = false) {
    self.placeholder = placeholder
    self.arrayInserts = arrayInserts
  }

  /// The columns stored as BIGINT (but `flows.version`); `payload` is BYTEA, the rest TEXT.
  private static let integerColumns: Set<String> = [
    "pid", "scheduled_at", "started_at", "ended_at", "heartbeat_at", "map_index", "attempts",
    "crashed_attempts", "position", "sequence", "time", "level", "version", "first_sequence",
    "last_sequence",
  ]

  /// One INSERT of all `rows`, each column bound as a PostgreSQL array literal and read back
  /// with `unnest`.
  private func arrayInsert<Row>(
    _ rows: [Row], into table: String, columns: [String], suffix: String,
    _ binds: (Row, inout [SQLValue]) -> Void
  ) -> [SQLStatement] {
    guard !rows.isEmpty else { return [] }
    var literals = [String](repeating: "{", count: columns.count)
    var values: [SQLValue] = []
    values.reserveCapacity(columns.count)
    for (index, row) in rows.enumerated() {
      values.removeAll(keepingCapacity: true)
      binds(row, &values)
      for (column, value) in values.enumerated() {
        if index > 0 { literals[column] += "," }
        Self.appendArrayElement(value, to: &literals[column])
      }
    }
    var types: [String] = []
    for (n, column) in columns.enumerated() {
      types.append("\(placeholder(n + 1))::\(Self.arrayType(table: table, column: column))[]")
    }
    return [
      SQLStatement(
        sql: "INSERT INTO \(table) (\(columns.joined(separator: ","))) SELECT * FROM unnest("
          + types.joined(separator: ",") + ") " + suffix,
        binds: literals.map { .text($0 + "}") })
    ]
  }

  /// The PostgreSQL element type of `column` of `table` in an array insert.
  package static func arrayType(table: String, column: String) -> String {
    // `flows.version` is the graph's hash (text); `run_events.version` a number.
    let integer = integerColumns.contains(column) && !(table == "flows" && column == "version")
    return column == "payload" ? "bytea" : integer ? "bigint" : "text"
  }

  /// `value` as an element of an array literal (`NULL`, a number, or a quoted string).
  package static func appendArrayElement(_ value: SQLValue, to literal: inout String) {
    switch value {
    case .null: literal += "NULL"
    case .integer(let number): literal += String(number)
    case .text(let text):
      literal += "\""
      if text.utf8.contains(where: { $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }) {
        for character in text.unicodeScalars {
          if character == "\"" || character == "\\" { literal += "\\" }
          literal.unicodeScalars.append(character)
        }
      } else {
        literal += text
      }
      literal += "\""
    case .blob(let data):
      // bytea in hex; the backslash of `\x` is escaped inside the quoted element.
      let hex = Array("0123456789abcdef".utf8)
      var bytes: [UInt8] = Array(#""\\x"#.utf8)
      bytes.reserveCapacity(data.count * 2 + 5)
      for byte in data {
        bytes.append(hex[Int(byte >> 4)])
        bytes.append(hex[Int(byte & 0xf)])
      }
      bytes.append(UInt8(ascii: "\""))
      literal += String(decoding: bytes, as: UTF8.self)
    }
  }

  private func values(rows: Int, columns: Int) -> String {
    var parts: [String] = []
    parts.reserveCapacity(rows)
    var n = 0
    for _ in 0..<rows {
      var row: [String] = []
      for _ in 0..<columns {
        n += 1
        row.append(placeholder(n))
      }
      parts.append("(" + row.joined(separator: ",") + ")")
    }
    return parts.joined(separator: ",")
  }

  private func insert<Row>(
    _ rows: [Row], into table: String, columns: [String], suffix: String,
    _ binds: (Row, inout [SQLValue]) -> Void
  ) -> [SQLStatement] {
    if arrayInserts {
      return arrayInsert(rows, into: table, columns: columns, suffix: suffix, binds)
    }
    var statements: [SQLStatement] = []
    var start = 0
    while start < rows.count {
      let chunk = rows[start..<min(rows.count, start + rowsPerStatement)]
      var all: [SQLValue] = []
      all.reserveCapacity(chunk.count * columns.count)
      for row in chunk { binds(row, &all) }
      statements.append(
        SQLStatement(
          sql: insertText(table: table, columns: columns, suffix: suffix, rows: chunk.count),
          binds: all))
      start += rowsPerStatement
    }
    return statements
  }

  /// The text of an INSERT of `rows` rows; a full chunk's text is built once per table.
  private func insertText(table: String, columns: [String], suffix: String, rows: Int) -> String {
    let build = {
      "INSERT INTO \(table) (\(columns.joined(separator: ","))) VALUES "
        + values(rows: rows, columns: columns.count) + " " + suffix
    }
    guard rows == rowsPerStatement else { return build() }
    let key = table + " " + suffix
    if let text = fullChunks.texts.withLock({ $0[key] }) { return text }
    let text = build()
    fullChunks.texts.withLock { $0[key] = text }
    return text
  }

  /// The texts of full-chunk INSERTs by table and suffix.
  private final class FullChunkTexts: Sendable {
    let texts = Mutex<[String: String]>([:])
  }
  private let fullChunks = FullChunkTexts()

  private static func id(_ id: UUID) -> SQLValue { .text(RunStoreCoding.text(id)) }

  /// Renders run IDs, remembering the last one (a batch's records mostly share their run).
  private struct IDText {
    var last: (id: UUID, text: SQLValue)?
    mutating func callAsFunction(_ id: UUID) -> SQLValue {
      if let last, last.id == id { return last.text }
      let text = RunStoreSQL.id(id)
      last = (id, text)
      return text
    }
  }
  private static func time(_ date: Date?) -> SQLValue {
    date.map { .integer(RunStoreCoding.micros($0)) } ?? .null
  }
  private static func text(_ text: String?) -> SQLValue { text.map { .text($0) } ?? .null }

  package static let flowRunColumns = [
    "id", "flow_name", "flow_version", "parameters", "executor", "host", "pid", "command",
    "scheduled_at", "started_at", "ended_at", "state", "message", "heartbeat_at",
  ]
  package static let taskRunColumns = [
    "flow_run_id", "slug", "map_index", "task_run_id", "state", "message", "attempts",
    "crashed_attempts", "started_at", "ended_at", "result_location", "position",
  ]

  /// A table a batch writes: its columns and what a conflict does.
  package struct BatchTable: Sendable {
    /// The table.
    package let name: String
    /// The columns written, in bind order.
    package let columns: [String]
    /// What follows the VALUES (an ON CONFLICT clause).
    package let suffix: String
  }

  /// Flow versions (written once).
  package static let flowsTable = BatchTable(
    name: "flows", columns: ["name", "version", "graph", "parameter_schema"],
    suffix: "ON CONFLICT DO NOTHING")
  /// Flow runs (a later write updates the run).
  package static let flowRunsTable = BatchTable(
    name: "flow_runs", columns: flowRunColumns,
    suffix: "ON CONFLICT (id) DO UPDATE SET "
      + flowRunColumns.dropFirst().map { "\($0) = excluded.\($0)" }.joined(separator: ", "))
  /// Task runs (a later write updates the task run), each with its transitions of the batch
  /// (schema version 6), appended to those its row holds.
  package static let taskRunsTable = BatchTable(
    name: "task_runs", columns: taskRunColumns + ["transitions"],
    suffix: "ON CONFLICT (flow_run_id, slug, map_index) DO UPDATE SET "
      + taskRunColumns.dropFirst(3).map { "\($0) = excluded.\($0)" }.joined(separator: ", ")
      + ", transitions = coalesce(task_runs.transitions || excluded.transitions, "
      + "task_runs.transitions, excluded.transitions)")
  /// Transitions (appends are idempotent: a batch retried after an ambiguous failure writes
  /// nothing twice).
  package static let transitionsTable = BatchTable(
    name: "transitions",
    columns: [
      "flow_run_id", "sequence", "slug", "map_index", "from_state", "to_state", "time", "message",
    ], suffix: "ON CONFLICT DO NOTHING")
  /// Log records.
  package static let logsTable = BatchTable(
    name: "logs",
    columns: ["flow_run_id", "sequence", "time", "level", "message", "metadata"]
      + StoredLogMetadata.columns,
    suffix: "ON CONFLICT DO NOTHING")
  /// The columns a log read selects.
  package static let logColumns = logsTable.columns.joined(separator: ", ")
  /// The engine's steps, packed (schema version 6; a retried pack writes nothing twice).
  package static let eventPacksTable = BatchTable(
    name: "run_event_packs",
    columns: ["flow_run_id", "first_sequence", "last_sequence", "payload"],
    suffix: "ON CONFLICT DO NOTHING")
  /// The log records, packed (schema version 6; a retried pack writes nothing twice).
  package static let logPacksTable = BatchTable(
    name: "log_packs", columns: ["flow_run_id", "first_sequence", "last_sequence", "payload"],
    suffix: "ON CONFLICT DO NOTHING")

  /// The text of a one-row INSERT into `table` (SQLite's writer keeps it prepared and steps it
  /// once per record).
  package func singleRowInsert(_ table: BatchTable) -> String {
    insertText(table: table.name, columns: table.columns, suffix: table.suffix, rows: 1)
  }

  /// The text of a heartbeat: the run's `heartbeat_at` moves forward to the first bind.
  package func heartbeatUpdate() -> String {
    "UPDATE flow_runs SET heartbeat_at = \(placeholder(1)) WHERE id = \(placeholder(2)) "
      + "AND heartbeat_at < \(placeholder(1))"
  }

  private func insert<Row>(
    _ rows: [Row], into table: BatchTable, _ binds: (Row, inout [SQLValue]) -> Void
  ) -> [SQLStatement] {
    insert(rows, into: table.name, columns: table.columns, suffix: table.suffix, binds)
  }

  /// The statements that write `batch` (to run inside one transaction).
  package func write(_ batch: RunStoreBatch) -> [SQLStatement] {
    let packed = PackedRunStoreBatch(batch)
    var statements: [SQLStatement] = []
    var runID = IDText()
    statements += insert(batch.flows, into: Self.flowsTable) {
      $1 += [.text($0.name), .text($0.version), .text($0.graphJSON), .text($0.parameterSchemaJSON)]
    }
    statements += insert(batch.flowRuns, into: Self.flowRunsTable) { run, binds in
      binds += [
        runID(run.id), .text(run.flowName), .text(run.flowVersion),
        .text(RunStoreCoding.json(run.parameters)), .text(run.executor), .text(run.host),
        .integer(Int64(run.processID)), .text(RunStoreCoding.json(run.command)),
        Self.time(run.scheduledAt), Self.time(run.startedAt), Self.time(run.endedAt),
        .text(run.state), Self.text(run.message), Self.time(run.heartbeatAt),
      ]
    }
    statements += insert(packed.taskRuns, into: Self.taskRunsTable) { row, binds in
      let run = row.record
      binds.append(runID(run.flowRunID))
      binds.append(.text(run.slug))
      binds.append(.integer(Int64(run.mapIndex)))
      binds.append(run.taskRunID.map(Self.id) ?? .null)
      binds.append(.text(run.state))
      binds.append(Self.text(run.message))
      binds.append(.integer(Int64(run.attempts)))
      binds.append(.integer(Int64(run.crashedAttempts)))
      binds.append(Self.time(run.startedAt))
      binds.append(Self.time(run.endedAt))
      binds.append(Self.text(run.resultLocation))
      binds.append(.integer(Int64(run.position)))
      binds.append(Self.text(row.transitions))
    }
    // Appends are idempotent: a batch retried after an ambiguous failure writes nothing twice.
    statements += insert(packed.transitions, into: Self.transitionsTable) { transition, binds in
      binds.append(runID(transition.flowRunID))
      binds.append(.integer(transition.sequence))
      binds.append(Self.text(transition.slug))
      binds.append(.integer(Int64(transition.mapIndex)))
      binds.append(.text(transition.from))
      binds.append(.text(transition.to))
      binds.append(Self.time(transition.time))
      binds.append(Self.text(transition.message))
    }
    statements += insert(packed.logPacks, into: Self.logPacksTable) { pack, binds in
      binds.append(runID(pack.flowRunID))
      binds.append(.integer(pack.firstSequence))
      binds.append(.integer(pack.lastSequence))
      binds.append(.blob(pack.payload))
    }
    statements += insert(packed.eventPacks, into: Self.eventPacksTable) { pack, binds in
      binds.append(runID(pack.flowRunID))
      binds.append(.integer(pack.firstSequence))
      binds.append(.integer(pack.lastSequence))
      binds.append(.blob(pack.payload))
    }
    for beat in batch.heartbeats {
      statements.append(
        SQLStatement(
          sql: heartbeatUpdate(), binds: [Self.time(beat.time), Self.id(beat.flowRunID)]))
    }
    return statements
  }

  /// Inserts engine events (a taken sequence violates the primary key).
  package func appendEvents(_ events: [RunEventRecord]) -> [SQLStatement] {
    insert(
      events, into: "run_events", columns: ["flow_run_id", "sequence", "payload", "version"],
      suffix: ""
    ) {
      $1 += [
        Self.id($0.flowRunID), .integer($0.sequence), .blob($0.payload),
        .integer(Int64($0.version)),
      ]
    }
  }

  /// Selects a run's events after `sequence`.
  package func events(flowRunID: UUID, after sequence: Int64) -> SQLStatement {
    SQLStatement(
      sql: "SELECT sequence, payload, version FROM run_events WHERE flow_run_id = "
        + "\(placeholder(1)) AND sequence > \(placeholder(2)) ORDER BY sequence",
      binds: [Self.id(flowRunID), .integer(sequence)])
  }

  /// Selects a run's packs of engine steps that end after `sequence` (schema version 6).
  package func eventPacks(flowRunID: UUID, after sequence: Int64) -> SQLStatement {
    SQLStatement(
      sql: "SELECT first_sequence, last_sequence, payload FROM run_event_packs WHERE "
        + "flow_run_id = \(placeholder(1)) AND last_sequence > \(placeholder(2)) "
        + "ORDER BY first_sequence",
      binds: [Self.id(flowRunID), .integer(sequence)])
  }

  /// Selects a run's packs of log records that end after `sequence` (schema version 6), by
  /// first sequence.
  package func logPacks(flowRunID: UUID, after sequence: Int64) -> SQLStatement {
    SQLStatement(
      sql: "SELECT first_sequence, last_sequence, payload FROM log_packs WHERE "
        + "flow_run_id = \(placeholder(1)) AND last_sequence > \(placeholder(2)) "
        + "ORDER BY first_sequence",
      binds: [Self.id(flowRunID), .integer(sequence)])
  }

  /// Selects the transitions a run's task-run rows hold (schema version 6).
  package func taskRunTransitions(flowRunID: UUID) -> SQLStatement {
    SQLStatement(
      sql: "SELECT slug, map_index, transitions FROM task_runs WHERE flow_run_id = "
        + "\(placeholder(1)) AND transitions IS NOT NULL",
      binds: [Self.id(flowRunID)])
  }

  /// Selects one page of flow runs, newest first (keyset: no OFFSET).
  package func flowRuns(_ query: FlowRunQuery) -> SQLStatement {
    var conditions: [String] = []
    var binds: [SQLValue] = []
    func bind(_ value: SQLValue) -> String {
      binds.append(value)
      return placeholder(binds.count)
    }
    if let name = query.flowName { conditions.append("flow_name = \(bind(.text(name)))") }
    if let prefix = query.idPrefix {
      // IDs are lowercase hexadecimal and dashes: no LIKE wildcard can occur in a valid prefix.
      let escaped = prefix.lowercased().filter { $0.isHexDigit || $0 == "-" }
      conditions.append("id LIKE \(bind(.text(escaped + "%")))")
    }
    if let since = query.since { conditions.append("started_at >= \(bind(Self.time(since)))") }
    if let after = query.after {
      let time = bind(Self.time(after.startedAt))
      let time2 = bind(Self.time(after.startedAt))
      let id = bind(Self.id(after.id))
      conditions.append("(started_at < \(time) OR (started_at = \(time2) AND id < \(id)))")
    }
    if let state = query.state {
      let stale = Self.time(query.staleBefore)
      switch state {
      case "Crashed":
        conditions.append(
          "(state = 'Crashed' OR (state = 'Running' AND heartbeat_at < \(bind(stale))))")
      case "Running":
        conditions.append("(state = 'Running' AND heartbeat_at >= \(bind(stale)))")
      default:
        conditions.append("state = \(bind(.text(state)))")
      }
    }
    let filter = conditions.isEmpty ? "" : " WHERE " + conditions.joined(separator: " AND ")
    return SQLStatement(
      sql: "SELECT \(Self.flowRunColumns.joined(separator: ",")) FROM flow_runs\(filter) "
        + "ORDER BY started_at DESC, id DESC LIMIT \(bind(.integer(Int64(max(0, query.limit)))))",
      binds: binds)
  }

  /// Selects one flow run.
  package func flowRun(id: UUID) -> SQLStatement {
    SQLStatement(
      sql: "SELECT \(Self.flowRunColumns.joined(separator: ",")) FROM flow_runs WHERE id = "
        + placeholder(1), binds: [Self.id(id)])
  }

  /// Selects one flow version.
  package func flow(name: String, version: String) -> SQLStatement {
    SQLStatement(
      sql: "SELECT name, version, graph, parameter_schema FROM flows WHERE name = "
        + "\(placeholder(1)) AND version = \(placeholder(2))",
      binds: [.text(name), .text(version)])
  }

  /// Selects a run's task runs in flow order.
  package func taskRuns(flowRunID: UUID) -> SQLStatement {
    SQLStatement(
      sql: "SELECT \(Self.taskRunColumns.joined(separator: ",")) FROM task_runs WHERE "
        + "flow_run_id = \(placeholder(1)) ORDER BY position, map_index",
      binds: [Self.id(flowRunID)])
  }

  /// Selects a run's transitions in order.
  package func transitions(flowRunID: UUID) -> SQLStatement {
    SQLStatement(
      sql: "SELECT flow_run_id, sequence, slug, map_index, from_state, to_state, time, message "
        + "FROM transitions WHERE flow_run_id = \(placeholder(1)) ORDER BY sequence",
      binds: [Self.id(flowRunID)])
  }

  /// Selects a run's logs after `sequence` at `level` or above.
  package func logs(flowRunID: UUID, after sequence: Int64, level: StoredLogLevel)
    -> SQLStatement
  {
    SQLStatement(
      sql: "SELECT \(Self.logColumns) FROM logs WHERE "
        + "flow_run_id = \(placeholder(1)) AND sequence > \(placeholder(2)) AND level >= "
        + "\(placeholder(3)) ORDER BY sequence",
      binds: [Self.id(flowRunID), .integer(sequence), .integer(Int64(level.rank))])
  }

  /// Selects up to `limit` IDs of runs that ended before `cutoff`, oldest first.
  package func prunable(endedBefore cutoff: Date, limit: Int) -> SQLStatement {
    SQLStatement(
      sql: "SELECT id FROM flow_runs WHERE ended_at < \(placeholder(1)) ORDER BY ended_at "
        + "LIMIT \(placeholder(2))",
      binds: [Self.time(cutoff), .integer(Int64(limit))])
  }

  /// Deletes the runs `ids` and everything recorded about them (a deployment's run too, with
  /// its labels and lease history: retention is the same for both).
  package func delete(runs ids: [String]) -> [SQLStatement] {
    guard !ids.isEmpty else { return [] }
    let list = (1...ids.count).map(placeholder).joined(separator: ",")
    let binds = ids.map { SQLValue.text($0) }
    return [
      "run_events", "run_event_packs", "logs", "log_packs", "transitions", "task_runs",
      "run_results",
    ].map {
      SQLStatement(sql: "DELETE FROM \($0) WHERE flow_run_id IN (\(list))", binds: binds)
    } + [SQLStatement(sql: "DELETE FROM flow_runs WHERE id IN (\(list))", binds: binds)]
      + ["run_labels", "run_leases"].map {
        SQLStatement(sql: "DELETE FROM \($0) WHERE run_id IN (\(list))", binds: binds)
      }
      + [SQLStatement(sql: "DELETE FROM deployment_runs WHERE id IN (\(list))", binds: binds)]
  }

  // MARK: Decoding rows

  private static func uuid(_ value: SQLValue?) -> UUID? {
    value?.text.flatMap(RunStoreSQL.uuid(text:))
  }

  /// The UUID a 36-character text names (either case), or nil; parsed by hand, since
  /// Foundation's `UUID(uuidString:)` goes through `sscanf` and a run page parses one per row.
  package static func uuid(text: String) -> UUID? {
    var text = text
    return text.withUTF8 { bytes -> UUID? in
      guard bytes.count == 36 else { return nil }
      var raw: uuid_t = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
      let parsed = withUnsafeMutableBytes(of: &raw) { out -> Bool in
        var position = 0
        for index in 0..<16 {
          if position == 8 || position == 13 || position == 18 || position == 23 {
            guard bytes[position] == 45 else { return false }  // "-"
            position += 1
          }
          guard let high = hexDigit(bytes[position]), let low = hexDigit(bytes[position + 1])
          else { return false }
          out[index] = high << 4 | low
          position += 2
        }
        return true
      }
      return parsed ? UUID(uuid: raw) : nil
    }
  }

  private static func hexDigit(_ byte: UInt8) -> UInt8? {
    switch byte {
    case 48...57: byte - 48
    case 65...70: byte - 55
    case 97...102: byte - 87
    default: nil
    }
  }
  private static func date(_ value: SQLValue?) -> Date? {
    value?.integer.map(RunStoreCoding.date)
  }

  /// A flow run from its row.
  package static func flowRun(_ row: SQLRow) -> FlowRunRecord? {
    guard let id = uuid(row["id"]) else { return nil }
    return FlowRunRecord(
      id: id, flowName: row["flow_name"]?.text ?? "", flowVersion: row["flow_version"]?.text ?? "",
      parameters: RunStoreCoding.decode(
        row["parameters"]?.text ?? "{}", as: [String: String].self, or: [:]),
      executor: row["executor"]?.text ?? "", host: row["host"]?.text ?? "",
      processID: Int(row["pid"]?.integer ?? 0),
      command: RunStoreCoding.decode(row["command"]?.text ?? "[]", as: [String].self, or: []),
      scheduledAt: date(row["scheduled_at"]) ?? .distantPast,
      startedAt: date(row["started_at"]) ?? .distantPast, endedAt: date(row["ended_at"]),
      state: row["state"]?.text ?? "", message: row["message"]?.text,
      heartbeatAt: date(row["heartbeat_at"]) ?? .distantPast)
  }

  /// A task run from its row.
  package static func taskRun(_ row: SQLRow) -> TaskRunRecord? {
    guard let flowRunID = uuid(row["flow_run_id"]) else { return nil }
    return TaskRunRecord(
      flowRunID: flowRunID, slug: row["slug"]?.text ?? "",
      mapIndex: Int(row["map_index"]?.integer ?? -1), taskRunID: uuid(row["task_run_id"]),
      state: row["state"]?.text ?? "", message: row["message"]?.text,
      attempts: Int(row["attempts"]?.integer ?? 0),
      crashedAttempts: Int(row["crashed_attempts"]?.integer ?? 0),
      startedAt: date(row["started_at"]), endedAt: date(row["ended_at"]),
      resultLocation: row["result_location"]?.text,
      position: Int(row["position"]?.integer ?? 0))
  }

  /// A transition from its row.
  package static func transition(_ row: SQLRow) -> TransitionRecord? {
    guard let flowRunID = uuid(row["flow_run_id"]) else { return nil }
    return TransitionRecord(
      flowRunID: flowRunID, sequence: row["sequence"]?.integer ?? 0, slug: row["slug"]?.text,
      mapIndex: Int(row["map_index"]?.integer ?? -1), from: row["from_state"]?.text ?? "",
      to: row["to_state"]?.text ?? "", time: date(row["time"]) ?? .distantPast,
      message: row["message"]?.text)
  }

  /// A log record from its row.
  package static func log(_ row: SQLRow) -> StoredLogRecord? {
    guard let flowRunID = uuid(row["flow_run_id"]) else { return nil }
    return StoredLogRecord(
      flowRunID: flowRunID, sequence: row["sequence"]?.integer ?? 0,
      time: date(row["time"]) ?? .distantPast,
      level: StoredLogLevel(rank: Int(row["level"]?.integer ?? 2)),
      message: row["message"]?.text ?? "",
      metadata: StoredLogMetadata.metadata(rest: row["metadata"]?.text) { row[$0]?.text })
  }

  /// A flow from its row.
  package static func flow(_ row: SQLRow) -> FlowRecord? {
    guard let name = row["name"]?.text, let version = row["version"]?.text else { return nil }
    return FlowRecord(
      name: name, version: version, graphJSON: row["graph"]?.text ?? "{}",
      parameterSchemaJSON: row["parameter_schema"]?.text ?? "{}")
  }

  /// The transitions of the task-run rows `rows` (``taskRunTransitions(flowRunID:)``), in no
  /// particular order.
  package static func packedTransitions(_ rows: [SQLRow], flowRunID: UUID) -> [TransitionRecord] {
    var records: [TransitionRecord] = []
    for row in rows {
      // Columns by position: slug, map_index, transitions.
      let values = row.values
      guard let text = values[2].text else { continue }
      records +=
        TransitionPacking.transitions(
          text, flowRunID: flowRunID, slug: values[0].text ?? "",
          mapIndex: Int(values[1].integer ?? -1)) ?? []
    }
    return records
  }

  /// A pack of engine steps from its row (its run given).
  package static func eventPack(_ row: SQLRow, flowRunID: UUID) -> RunEventPack? {
    guard let first = row["first_sequence"]?.integer, let last = row["last_sequence"]?.integer,
      case .blob(let payload)? = row["payload"]
    else { return nil }
    return RunEventPack(
      flowRunID: flowRunID, firstSequence: first, lastSequence: last, payload: payload)
  }

  /// A pack of log records from its row (its run given).
  package static func logPack(_ row: SQLRow, flowRunID: UUID) -> RunLogPack? {
    guard let first = row["first_sequence"]?.integer, let last = row["last_sequence"]?.integer,
      case .blob(let payload)? = row["payload"]
    else { return nil }
    return RunLogPack(
      flowRunID: flowRunID, firstSequence: first, lastSequence: last, payload: payload)
  }

  /// An event from its row (its run given).
  package static func event(_ row: SQLRow, flowRunID: UUID) -> RunEventRecord? {
    guard let sequence = row["sequence"]?.integer, case .blob(let payload)? = row["payload"] else {
      return nil
    }
    return RunEventRecord(
      flowRunID: flowRunID, sequence: sequence, payload: payload,
      version: Int(row["version"]?.integer ?? 0))
  }
}

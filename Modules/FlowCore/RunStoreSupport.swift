import Foundation
import Synchronization

/// Lets one caller at a time through, across suspension points (a database adapter's single
/// writer: a transaction's statements must not interleave with another's).
package final class SerialGate: Sendable {
  private struct State {
    var busy = false
    var waiters: [CheckedContinuation<Void, Never>] = []
  }

  private let state = Mutex(State())

  /// An open gate.
  package init() {}

  /// Runs `body` once every earlier caller has finished theirs.
  package func run<T: Sendable, E: Error>(_ body: () async throws(E) -> T) async throws(E) -> T {
    await enter()
    defer { leave() }
    return try await body()
  }

  private func enter() async {
    let entered = state.withLock { state -> Bool in
      if state.busy { return false }
      state.busy = true
      return true
    }
    if entered { return }
    await withCheckedContinuation { continuation in
      let now = state.withLock { state -> Bool in
        if state.busy {
          state.waiters.append(continuation)
          return false
        }
        state.busy = true
        return true
      }
      if now { continuation.resume() }
    }
  }

  private func leave() {
    let next = state.withLock { state -> CheckedContinuation<Void, Never>? in
      if state.waiters.isEmpty {
        state.busy = false
        return nil
      }
      return state.waiters.removeFirst()
    }
    next?.resume()
  }
}

/// How the database adapters store values: instants as microseconds since 1970, maps and
/// lists as JSON text.
package enum RunStoreCoding {
  /// `date` in microseconds since 1970.
  package static func micros(_ date: Date) -> Int64 {
    Int64((date.timeIntervalSince1970 * 1_000_000).rounded())
  }

  /// The instant `micros` microseconds after 1970.
  package static func date(_ micros: Int64) -> Date {
    Date(timeIntervalSince1970: Double(micros) / 1_000_000)
  }

  /// `id` in lowercase hexadecimal with dashes (`uuidString.lowercased()`, without its
  /// formatting and copy).
  package static func text(_ id: UUID, uppercase: Bool = false) -> String {
    let hex = Array((uppercase ? "0123456789ABCDEF" : "0123456789abcdef").utf8)
    return withUnsafeBytes(of: id.uuid) { bytes in
      String(unsafeUninitializedCapacity: 36) { out in
        var n = 0
        for (index, byte) in bytes.enumerated() {
          if index == 4 || index == 6 || index == 8 || index == 10 {
            out[n] = UInt8(ascii: "-")
            n += 1
          }
          out[n] = hex[Int(byte >> 4)]
          out[n + 1] = hex[Int(byte & 0xf)]
          n += 2
        }
        return n
      }
    }
  }

  /// `map` as a JSON object with sorted keys (what ``json(_:)`` writes, built directly).
  package static func json(_ map: [String: String]) -> String {
    var out = "{"
    // Sorted by their UTF-8 bytes (Unicode scalar order, as `<` sorts NFC keys), which costs
    // less than comparing Strings.
    let keys = map.keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
    for (index, key) in keys.enumerated() {
      if index > 0 { out += "," }
      appendJSON(key, to: &out)
      out += ":"
      appendJSON(map[key]!, to: &out)
    }
    return out + "}"
  }

  /// `list` as a JSON array.
  package static func json(_ list: [String]) -> String {
    var out = "["
    for (index, element) in list.enumerated() {
      if index > 0 { out += "," }
      appendJSON(element, to: &out)
    }
    return out + "]"
  }

  private static func appendJSON(_ text: String, to out: inout String) {
    out += "\""
    var plain = true
    for byte in text.utf8
    where byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") {
      plain = false
      break
    }
    if plain {
      out += text
    } else {
      for scalar in text.unicodeScalars {
        switch scalar {
        case "\"": out += "\\\""
        case "\\": out += "\\\\"
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        case _ where scalar.value < 0x20:
          out += "\\u00" + (scalar.value < 0x10 ? "0" : "") + String(scalar.value, radix: 16)
        default: out.unicodeScalars.append(scalar)
        }
      }
    }
    out += "\""
  }

  /// `value` as JSON text (sorted keys, instants in ISO 8601).
  package static func json<T: Encodable>(_ value: T) -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    encoder.dateEncodingStrategy = .iso8601
    return (try? encoder.encode(value)).map { String(decoding: $0, as: UTF8.self) } ?? "null"
  }

  /// The value JSON `text` holds, or `fallback`. Dates are read as `json(_:)` writes
  /// them (ISO 8601): a schedule's interval anchor was dropped when they were not.
  package static func decode<T: Decodable>(_ text: String, as type: T.Type, or fallback: T) -> T {
    let decoder = JSONDecoder()
    decoder.dateDecodingStrategy = .iso8601
    return (try? decoder.decode(T.self, from: Data(text.utf8))) ?? fallback
  }

  /// The value JSON object `text` holds as a string map (empty for `{}` without decoding).
  package static func decodeMap(_ text: String?) -> [String: String] {
    guard let text, text != "{}" else { return [:] }
    return decode(text, as: [String: String].self, or: [:])
  }

  /// The `(version, statements)` migrations of the schema in order, shared by both databases
  /// (version 5, the results, is ``RunResultSQL``'s): `BLOB`/`BYTEA` is passed in, and version 4
  /// differs (SQLite rebuilds the append-only
  /// tables without a rowid, `sqlite` true; PostgreSQL adds the log metadata columns).
  package static func migrations(blobType: String, sqlite: Bool = false)
    -> [(version: Int, statements: [String])]
  {
    [
      (
        1,
        [
          """
          CREATE TABLE flows (name TEXT NOT NULL, version TEXT NOT NULL, graph TEXT NOT NULL,
            parameter_schema TEXT NOT NULL, PRIMARY KEY (name, version))
          """,
          """
          CREATE TABLE flow_runs (id TEXT PRIMARY KEY, flow_name TEXT NOT NULL,
            flow_version TEXT NOT NULL, parameters TEXT NOT NULL, executor TEXT NOT NULL,
            host TEXT NOT NULL, pid BIGINT NOT NULL, command TEXT NOT NULL,
            scheduled_at BIGINT NOT NULL, started_at BIGINT NOT NULL, ended_at BIGINT,
            state TEXT NOT NULL, message TEXT, heartbeat_at BIGINT NOT NULL)
          """,
          "CREATE INDEX flow_runs_by_start ON flow_runs (started_at DESC, id DESC)",
          "CREATE INDEX flow_runs_by_flow ON flow_runs (flow_name, started_at DESC, id DESC)",
          "CREATE INDEX flow_runs_by_state ON flow_runs (state, started_at DESC, id DESC)",
          "CREATE INDEX flow_runs_by_end ON flow_runs (ended_at)",
          """
          CREATE TABLE task_runs (flow_run_id TEXT NOT NULL, slug TEXT NOT NULL,
            map_index BIGINT NOT NULL, task_run_id TEXT, state TEXT NOT NULL, message TEXT,
            attempts BIGINT NOT NULL, crashed_attempts BIGINT NOT NULL, started_at BIGINT,
            ended_at BIGINT, result_location TEXT, position BIGINT NOT NULL,
            PRIMARY KEY (flow_run_id, slug, map_index))
          """,
          """
          CREATE TABLE transitions (flow_run_id TEXT NOT NULL, sequence BIGINT NOT NULL,
            slug TEXT, map_index BIGINT NOT NULL, from_state TEXT NOT NULL,
            to_state TEXT NOT NULL, time BIGINT NOT NULL, message TEXT,
            PRIMARY KEY (flow_run_id, sequence))
          """,
          """
          CREATE TABLE logs (flow_run_id TEXT NOT NULL, sequence BIGINT NOT NULL,
            time BIGINT NOT NULL, level BIGINT NOT NULL, message TEXT NOT NULL,
            metadata TEXT NOT NULL, PRIMARY KEY (flow_run_id, sequence))
          """,
          """
          CREATE TABLE run_events (flow_run_id TEXT NOT NULL, sequence BIGINT NOT NULL,
            payload \(blobType) NOT NULL, version BIGINT NOT NULL,
            PRIMARY KEY (flow_run_id, sequence))
          """,
        ]
      ),
      (2, DeploymentStoreSQL.migration),
      (3, DeploymentStoreSQL.agentsMigration),
      (4, sqlite ? sqliteVersionFour : postgresVersionFour),
    ] + RunResultSQL.migrations(blobType: blobType) + [
      (6, versionSix(blobType: blobType, sqlite: sqlite)),
      (7, DeploymentStoreSQL.schedulePauseMigration(sqlite: sqlite)),
    ]
  }

  /// Version 6: a task run's transitions in its own row, the engine's steps and the log
  /// records packed per batch (``PackedRunStoreBatch``); rows of `transitions`, `run_events`
  /// and `logs` written before stay where they are and read the same.
  private static func versionSix(blobType: String, sqlite: Bool) -> [String] {
    [
      "ALTER TABLE task_runs ADD COLUMN \(sqlite ? "" : "IF NOT EXISTS ")transitions TEXT",
      """
      CREATE TABLE IF NOT EXISTS run_event_packs (flow_run_id TEXT NOT NULL,
        first_sequence BIGINT NOT NULL, last_sequence BIGINT NOT NULL,
        payload \(blobType) NOT NULL,
        PRIMARY KEY (flow_run_id, first_sequence, last_sequence))\(sqlite ? " WITHOUT ROWID" : "")
      """,
      """
      CREATE TABLE IF NOT EXISTS log_packs (flow_run_id TEXT NOT NULL,
        first_sequence BIGINT NOT NULL, last_sequence BIGINT NOT NULL,
        payload \(blobType) NOT NULL,
        PRIMARY KEY (flow_run_id, first_sequence, last_sequence))\(sqlite ? " WITHOUT ROWID" : "")
      """,
    ]
  }

  /// Version 4 on PostgreSQL: the log metadata keys every record carries get columns of their
  /// own (older rows keep theirs in `metadata`, read the same way).
  private static let postgresVersionFour = [
    "ALTER TABLE logs "
      + StoredLogMetadata.columns.map { "ADD COLUMN IF NOT EXISTS \($0) TEXT" }.joined(
        separator: ", ")
  ]

  /// Version 4 on SQLite: the task runs, transitions, logs and engine events are rebuilt as
  /// WITHOUT ROWID tables (a row is written once, into its primary key's b-tree, instead of
  /// into the table and again into the key's index), the logs with their metadata columns.
  private static let sqliteVersionFour: [String] = {
    let tables: [(name: String, definition: String, columns: String)] = [
      (
        "task_runs",
        """
        flow_run_id TEXT NOT NULL, slug TEXT NOT NULL,
          map_index BIGINT NOT NULL, task_run_id TEXT, state TEXT NOT NULL, message TEXT,
          attempts BIGINT NOT NULL, crashed_attempts BIGINT NOT NULL, started_at BIGINT,
          ended_at BIGINT, result_location TEXT, position BIGINT NOT NULL,
          PRIMARY KEY (flow_run_id, slug, map_index)
        """,
        "flow_run_id, slug, map_index, task_run_id, state, message, attempts, crashed_attempts, "
          + "started_at, ended_at, result_location, position"
      ),
      (
        "transitions",
        """
        flow_run_id TEXT NOT NULL, sequence BIGINT NOT NULL,
          slug TEXT, map_index BIGINT NOT NULL, from_state TEXT NOT NULL,
          to_state TEXT NOT NULL, time BIGINT NOT NULL, message TEXT,
          PRIMARY KEY (flow_run_id, sequence)
        """,
        "flow_run_id, sequence, slug, map_index, from_state, to_state, time, message"
      ),
      (
        "logs",
        """
        flow_run_id TEXT NOT NULL, sequence BIGINT NOT NULL,
          time BIGINT NOT NULL, level BIGINT NOT NULL, message TEXT NOT NULL,
          metadata TEXT NOT NULL, \(StoredLogMetadata.columns.map { "\($0) TEXT" }
          .joined(separator: ", ")), PRIMARY KEY (flow_run_id, sequence)
        """,
        "flow_run_id, sequence, time, level, message, metadata"
      ),
      (
        "run_events",
        """
        flow_run_id TEXT NOT NULL, sequence BIGINT NOT NULL,
          payload BLOB NOT NULL, version BIGINT NOT NULL, PRIMARY KEY (flow_run_id, sequence)
        """,
        "flow_run_id, sequence, payload, version"
      ),
    ]
    return tables.flatMap { table in
      [
        "CREATE TABLE \(table.name)_v4 (\(table.definition)) WITHOUT ROWID",
        "INSERT INTO \(table.name)_v4 (\(table.columns)) SELECT \(table.columns) FROM \(table.name)",
        "DROP TABLE \(table.name)",
        "ALTER TABLE \(table.name)_v4 RENAME TO \(table.name)",
      ]
    }
  }()
}

/// A log record's metadata as the `logs` table stores it (schema version 4): the keys every
/// run log record carries (``keys``) in columns of their own, the others as a JSON object
/// (`{}`, not encoded, when there are none). Reading merges both, so rows written before
/// version 4 (everything in the JSON) read the same.
///
/// ``StoredLogRecord`` keeps its metadata in this form, so that the run log fills the columns'
/// values directly and the writers bind them without building or splitting a dictionary.
package struct StoredLogMetadata: Sendable, Hashable {
  /// The keys with a column each, in column order.
  package static let keys = [
    "flow", "flow_run_id", "task", "task_run_id", "map_index", "attempt", "state",
  ]
  /// Their columns (`meta_` and the key).
  package static let columns = keys.map { "meta_" + $0 }

  package var flow, flowRunID, task, taskRunID, mapIndex, attempt, state: String?
  /// The other keys.
  package var others: [String: String] = [:]

  /// No metadata.
  package init() {}

  /// Splits `metadata` into the columns' values and the rest.
  package init(_ metadata: [String: String]) {
    for (key, value) in metadata { self[key] = value }
  }

  /// The value of `key`, in its column's field or among the others.
  package subscript(key: String) -> String? {
    get {
      switch key {
      case "flow": flow
      case "flow_run_id": flowRunID
      case "task": task
      case "task_run_id": taskRunID
      case "map_index": mapIndex
      case "attempt": attempt
      case "state": state
      default: others[key]
      }
    }
    set {
      switch key {
      case "flow": flow = newValue
      case "flow_run_id": flowRunID = newValue
      case "task": task = newValue
      case "task_run_id": taskRunID = newValue
      case "map_index": mapIndex = newValue
      case "attempt": attempt = newValue
      case "state": state = newValue
      default: others[key] = newValue
      }
    }
  }

  /// The other keys as a JSON object (`{}` when there are none).
  package var rest: String { others.isEmpty ? "{}" : RunStoreCoding.json(others) }

  /// Every key and value.
  package var dictionary: [String: String] {
    var metadata = others
    for index in Self.keys.indices {
      if let value = self[column: index] { metadata[Self.keys[index]] = value }
    }
    return metadata
  }

  /// The value of the column at `index` in ``columns`` (nil: the key is absent).
  package subscript(column index: Int) -> String? {
    switch index {
    case 0: flow
    case 1: flowRunID
    case 2: task
    case 3: taskRunID
    case 4: mapIndex
    case 5: attempt
    default: state
    }
  }

  /// The metadata of a row: the JSON object `rest` and the columns' values by column name.
  package static func metadata(rest: String?, column: (String) -> String?) -> [String: String] {
    var metadata = RunStoreCoding.decodeMap(rest)
    for (index, name) in columns.enumerated() {
      if let value = column(name) { metadata[keys[index]] = value }
    }
    return metadata
  }
}

import Foundation

/// The SQL of the run database's results (``RunResultStorage``), shared by the SQLite and
/// PostgreSQL adapters: a value is one row per chunk of at most ``runResultChunkSize`` bytes.
package struct RunResultSQL: Sendable {
  private let placeholder: @Sendable (Int) -> String

  /// SQL with placeholders written by `placeholder(n)` for the n-th bind (from 1).
  package init(placeholder: @escaping @Sendable (Int) -> String) {
    self.placeholder = placeholder
  }

  /// The schema version that adds the results.
  package static let version = 5

  /// The migration that adds the results table (`BLOB` or `BYTEA` passed in): its own step,
  /// after the run store's and the deployments' tables.
  package static func migrations(blobType: String) -> [(version: Int, statements: [String])] {
    [
      (
        version,
        [
          """
          CREATE TABLE IF NOT EXISTS run_results (flow_run_id TEXT NOT NULL, location TEXT NOT NULL,
            chunk BIGINT NOT NULL, serializer TEXT NOT NULL, type_name TEXT NOT NULL,
            metadata TEXT NOT NULL, size BIGINT NOT NULL, payload \(blobType) NOT NULL,
            PRIMARY KEY (flow_run_id, location, chunk))
          """
        ]
      )
    ]
  }

  /// The statements that store `results` (to run inside one transaction): each value's old
  /// rows go, then one row per chunk.
  package func write(_ results: [RunResultRecord]) -> [SQLStatement] {
    var statements: [SQLStatement] = []
    let p = (1...8).map(placeholder)
    for record in results {
      let run = SQLValue.text(record.flowRunID.uuidString.lowercased())
      let location = SQLValue.text(record.location)
      statements.append(
        SQLStatement(
          sql: "DELETE FROM run_results WHERE flow_run_id = \(p[0]) AND location = \(p[1])",
          binds: [run, location]))
      let payload = record.result.payload
      let metadata = SQLValue.text(RunStoreCoding.json(record.result.metadata))
      var chunk = 0
      var start = payload.startIndex
      repeat {
        let end =
          payload.index(start, offsetBy: runResultChunkSize, limitedBy: payload.endIndex)
          ?? payload.endIndex
        statements.append(
          SQLStatement(
            sql: "INSERT INTO run_results (flow_run_id, location, chunk, serializer, type_name, "
              + "metadata, size, payload) VALUES (\(p.joined(separator: ", ")))",
            binds: [
              run, location, .integer(Int64(chunk)), .text(record.result.serializer),
              .text(record.result.typeName), metadata, .integer(Int64(payload.count)),
              .blob(Data(payload[start..<end])),
            ]))
        chunk += 1
        start = end
      } while start < payload.endIndex
    }
    return statements
  }

  /// Selects a run's rows, by location and chunk.
  package func read(flowRunID: UUID) -> SQLStatement {
    SQLStatement(
      sql: "SELECT location, chunk, serializer, type_name, metadata, size, payload FROM "
        + "run_results WHERE flow_run_id = \(placeholder(1)) ORDER BY location, chunk",
      binds: [.text(flowRunID.uuidString.lowercased())])
  }

  /// The values `rows` (as ``read(flowRunID:)`` selects them) hold; a value whose chunks are
  /// not numbered 0, 1, 2… or do not add up to its size is left out.
  package static func results(_ rows: [SQLRow], flowRunID: UUID) -> [RunResultRecord] {
    var records: [RunResultRecord] = []
    var index = 0
    while index < rows.count {
      let first = rows[index]
      let location = first["location"]?.text ?? ""
      var payload = Data()
      var complete = true
      var chunk: Int64 = 0
      while index < rows.count, rows[index]["location"]?.text == location {
        if rows[index]["chunk"]?.integer != chunk { complete = false }
        if case .blob(let bytes)? = rows[index]["payload"] { payload.append(bytes) }
        chunk += 1
        index += 1
      }
      guard complete, Int64(payload.count) == first["size"]?.integer else { continue }
      records.append(
        RunResultRecord(
          flowRunID: flowRunID, location: location,
          result: StoredResult(
            serializer: first["serializer"]?.text ?? "", typeName: first["type_name"]?.text ?? "",
            payload: payload, metadata: RunStoreCoding.decodeMap(first["metadata"]?.text))))
    }
    return records
  }
}

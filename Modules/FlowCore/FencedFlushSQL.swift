import Foundation

/// An agent's flush as one statement of fixed text (PostgreSQL's data-modifying common table
/// expressions): the runs' rows locked in ID order, each write's lease judged, the accepted
/// writes' records inserted (every column of every table bound as one array, read back with
/// `unnest`), and their finished runs ended and their holdings released, in one round trip
/// without BEGIN and COMMIT. Its text does not depend on the flush (how many runs, records or
/// tables), so the database prepares it once per connection and never plans it again.
extension DeploymentStoreSQL {
  /// The tables whose records a flush writes, in bind order after the writes and the flows
  /// (packed as ``RunStoreSQL/write(_:)`` packs them: schema version 6).
  private static let flushTables = [
    RunStoreSQL.flowRunsTable, RunStoreSQL.taskRunsTable, RunStoreSQL.transitionsTable,
    RunStoreSQL.logPacksTable, RunStoreSQL.eventPacksTable,
  ]

  /// Array inserts, whose binds (one array literal per column) the flush reuses.
  private static let arrayRecords = RunStoreSQL(placeholder: { "$\($0)" }, arrayInserts: true)

  /// The flush's statement (PostgreSQL). Binds: `$1`…`$5` the writes (run ID, epoch, 1 when
  /// the write ends its run, the final state and message), `$6`…`$10` the flows (the run that
  /// wrote each, then the flows table's columns), then each of ``flushTables``' columns, and,
  /// without `databaseNow`, the caller's time in microseconds. Its rows are the runs' rows as
  /// locked, each with `database_now` (the time leases were judged at) and `accepted` (1 when
  /// the write under the run's lease was current and written).
  package static func flushSQL(databaseNow: String?) -> String {
    var next = 0
    func placeholders(_ types: [String]) -> String {
      types.map { type in
        next += 1
        return "$\(next)::\(type)[]"
      }.joined(separator: ", ")
    }
    let writes = placeholders(["text", "bigint", "bigint", "text", "text"])
    let flowColumns = RunStoreSQL.flowsTable.columns
    let flows = placeholders(
      ["text"] + flowColumns.map { RunStoreSQL.arrayType(table: "flows", column: $0) })
    let flowAliases = (1...flowColumns.count).map { "c\($0)" }.joined(separator: ", ")
    var inserts: [String] = []
    var flowRunIDs = ""
    for (index, table) in flushTables.enumerated() {
      let first = next + 1
      let arrays = placeholders(
        table.columns.map { RunStoreSQL.arrayType(table: table.name, column: $0) })
      if table.name == RunStoreSQL.flowRunsTable.name { flowRunIDs = "$\(first)::text[]" }
      let aliases = (1...table.columns.count).map { "c\($0)" }.joined(separator: ", ")
      // Every table's first column is its run's ID: a refused write's records are left out.
      inserts.append(
        "t\(index) AS (INSERT INTO \(table.name) (\(table.columns.joined(separator: ", "))) "
          + "SELECT \(aliases) FROM unnest(\(arrays)) AS r(\(aliases)) WHERE c1 IN (SELECT id "
          + "FROM ok) \(table.suffix)), ")
    }
    let clock = databaseNow ?? "$\(next + 1)::BIGINT"
    let now = "(SELECT now FROM clock)"
    return "WITH clock AS MATERIALIZED (SELECT \(clock) AS now), "
      + "writes AS (SELECT * FROM unnest(\(writes)) AS w(id, epoch, ends, end_state, "
      + "end_message)), "
      // Every run's row locked first, in ID order (two agents' flushes never wait on each
      // other in a cycle): the count below reads all of them before any write.
      + "locked AS (SELECT \(runColumns) FROM deployment_runs WHERE id = ANY($1::text[]) "
      + "ORDER BY id FOR UPDATE), "
      // The writes whose lease is the run's current one and has not run out.
      + "ok AS MATERIALIZED (SELECT w.id, w.epoch, w.ends, w.end_state, w.end_message FROM "
      + "writes w JOIN locked d ON d.id = w.id WHERE (SELECT count(*) FROM locked) >= 0 AND "
      + "d.lease_epoch = w.epoch AND d.state = 'Running' AND d.ended_at IS NULL AND "
      + "d.lease_expires_at > \(now)), "
      + "fl AS (INSERT INTO flows (\(flowColumns.joined(separator: ", "))) SELECT DISTINCT ON "
      + "(c1, c2) \(flowAliases) FROM unnest(\(flows)) AS r(c0, \(flowAliases)) WHERE c0 IN "
      + "(SELECT id FROM ok) \(RunStoreSQL.flowsTable.suffix)), "
      + inserts.joined()
      + "ended AS (SELECT id, epoch, end_state, end_message FROM ok WHERE ends = 1), "
      + "e0 AS (UPDATE deployment_runs d SET state = e.end_state, message = e.end_message, "
      + "ended_at = \(now), lease_agent = NULL, lease_expires_at = NULL FROM ended e WHERE "
      + "d.id = e.id), "
      // A run that ended before its recorder wrote its end (it could not start) shows it; a
      // flow run the records write (with its end) is not touched twice in one statement.
      + "e1 AS (UPDATE flow_runs f SET state = e.end_state, message = e.end_message, ended_at "
      + "= \(now) FROM ended e WHERE f.id = e.id AND COALESCE(f.ended_at, -1) = -1 AND f.id "
      + "<> ALL(\(flowRunIDs))), "
      + "e2 AS (UPDATE run_leases l SET released_at = \(now) FROM ended e WHERE l.run_id = "
      + "e.id AND l.epoch = e.epoch) "
      + "SELECT locked.*, \(now) AS database_now, CASE WHEN ok.id IS NULL THEN 0 ELSE 1 END::"
      + "BIGINT AS accepted FROM locked LEFT JOIN ok ON ok.id = locked.id"
  }

  /// `writes` as the flush statement (``flushSQL(databaseNow:)``), or nil when they need the
  /// transaction of several statements: without data-modifying CTEs, when a run has more
  /// than one write, a write gives its run back, carries a heartbeat, task outputs (their
  /// values go as blobs, chunk by chunk) or a record of another run, or ends its run while
  /// its records leave the flow run open.
  func flushStatement(_ writes: [FencedWrite], now: Date) -> SQLStatement? {
    guard writingCTEs, !writes.isEmpty else { return nil }
    var runs: Set<UUID> = []
    var merged = FencedBatchMerger()
    var columns = [String](repeating: "{", count: 5)
    var flowColumns = [String](repeating: "{", count: RunStoreSQL.flowsTable.columns.count + 1)
    var flowCount = 0
    func append(_ values: [SQLValue], to literals: inout [String], first: Bool) {
      for (index, value) in values.enumerated() {
        if !first { literals[index] += "," }
        RunStoreSQL.appendArrayElement(value, to: &literals[index])
      }
    }
    for (index, write) in writes.enumerated() {
      let run = write.lease.runID
      let batch = write.batch
      guard runs.insert(run).inserted, batch.heartbeats.isEmpty, write.results.isEmpty,
        batch.flowRuns.allSatisfy({ $0.id == run }),
        batch.taskRuns.allSatisfy({ $0.flowRunID == run }),
        batch.transitions.allSatisfy({ $0.flowRunID == run }),
        batch.logs.allSatisfy({ $0.flowRunID == run }),
        batch.events.allSatisfy({ $0.flowRunID == run })
      else { return nil }
      let id = SQLValue.text(run.uuidString.lowercased())
      var row: [SQLValue] = [id, .integer(write.lease.epoch), .integer(0), .null, .null]
      switch write.release {
      case nil: break
      case .finished(let state, let message)?:
        guard batch.flowRuns.allSatisfy({ $0.endedAt != nil }) else { return nil }
        row[2] = .integer(1)
        row[3] = .text(state)
        row[4] = message.map { .text($0) } ?? .null
      case .returned?: return nil
      }
      append(row, to: &columns, first: index == 0)
      for flow in batch.flows {
        append(
          [
            id, .text(flow.name), .text(flow.version), .text(flow.graphJSON),
            .text(flow.parameterSchemaJSON),
          ], to: &flowColumns, first: flowCount == 0)
        flowCount += 1
      }
      var records = batch
      records.flows = []
      merged.add(records)
    }
    var binds = (columns + flowColumns).map { SQLValue.text($0 + "}") }
    let statements = Self.arrayRecords.write(merged.batch)
    for table in Self.flushTables {
      let prefix = "INSERT INTO \(table.name) ("
      if let statement = statements.first(where: { $0.sql.hasPrefix(prefix) }) {
        binds += statement.binds
      } else {
        binds += Array(repeating: .text("{}"), count: table.columns.count)
      }
    }
    if databaseNow == nil { binds.append(.integer(RunStoreCoding.micros(now))) }
    return SQLStatement(sql: flushText, binds: binds, prepared: true)
  }

  /// Each write's result from the flush statement's rows: nil when written, else why its
  /// lease was refused.
  func flushResults(_ writes: [FencedWrite], rows: [SQLRow], location: String, now: Date)
    -> [RunStoreError?]
  {
    var found: [UUID: (run: DeploymentRunRecord, accepted: Bool)] = [:]
    var judgedAt = now
    for row in rows {
      if let time = Self.date(row["database_now"]) { judgedAt = time }
      guard let run = Self.run(row) else { continue }
      found[run.id] = (run, (row["accepted"]?.integer ?? 0) == 1)
    }
    return writes.map { write -> RunStoreError? in
      let current = found[write.lease.runID]
      if current?.accepted == true { return nil }
      let reason =
        DeploymentRunLogic.staleReason(current?.run, lease: write.lease, now: judgedAt)
        ?? "the lease was no longer current when the write was judged"
      return RunStoreError.staleLease(location: location, lease: write.lease, reason: reason)
    }
  }
}

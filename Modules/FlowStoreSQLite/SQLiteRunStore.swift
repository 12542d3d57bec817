import FlowCore
import Foundation
import Logging
internal import NIOCore
internal import SQLiteNIO

/// The run store on an embedded SQLite database (the default): WAL mode, one writer
/// connection whose batches are single transactions (with statements kept prepared across
/// batches, ``SQLiteWriter``), and a reader connection that never blocks it. A busy database is waited for (`busy_timeout`), never reported as "locked".
///
/// ```swift
/// let store = try await SQLiteRunStore.open(path: "/tmp/flow.sqlite")
/// let result = try await flow.run(recorder: RunRecorder(store: store))
/// ```
public final class SQLiteRunStore: RunStore {
  /// The database file.
  public let path: String
  /// `sqlite:` and the file's path.
  public var description: String { "sqlite:\(path)" }
  let writer: SQLiteWriter
  let reader: SQLiteConnection
  /// Checkpoints the WAL beside the writer after its batches.
  let checkpointer: SQLiteCheckpointer
  let gate = SerialGate()
  private let sql = RunStoreSQL(placeholder: { "?\($0)" })
  /// The one-row statements of a batch write.
  private let batchTexts = SQLiteBatchWriting.Texts(sql: RunStoreSQL(placeholder: { "?\($0)" }))
  /// How long a statement waits for another process's lock before failing.
  public static let busyTimeoutMilliseconds = 10_000

  /// The WAL's size (in pages) past which the writer checkpoints inside a commit itself: only
  /// when the checkpointer beside it has fallen far behind.
  static let writerCheckpointPages = 2_000

  private init(
    path: String, writer: SQLiteWriter, reader: SQLiteConnection,
    checkpointer: SQLiteCheckpointer
  ) {
    self.path = path
    self.writer = writer
    self.reader = reader
    self.checkpointer = checkpointer
  }

  /// Opens (creating it and its directory when missing) the database at `path`.
  ///
  /// With `migrating` (the default) an older or empty database is upgraded to the current
  /// schema; without it, one that needs migrating throws ``RunStoreError/Code/needsMigration``.
  /// A newer database always throws ``RunStoreError/Code/newerSchema``.
  public static func open(path: String, migrating: Bool = true) async throws(RunStoreError)
    -> SQLiteRunStore
  {
    let location = "sqlite:\(path)"
    if !migrating, !FileManager.default.fileExists(atPath: path) {
      throw RunStoreError(
        .invalidLocation, location: location,
        message: "there is no database at \(path): nothing has been recorded there yet; run a "
          + "flow (it creates the database), run `flow db migrate`, or point --database / "
          + "FLOW_DATABASE at the database your runs use")
    }
    let directory = URL(fileURLWithPath: path).deletingLastPathComponent().path
    do {
      try FileManager.default.createDirectory(
        atPath: directory, withIntermediateDirectories: true)
    } catch {
      throw RunStoreError(
        .invalidLocation, location: location,
        message: "cannot create the directory \(directory): \(error); pick a writable path "
          + "with --database sqlite:PATH or FLOW_DATABASE",
        cause: error)
    }
    var isDirectory: ObjCBool = false
    if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory),
      isDirectory.boolValue
    {
      throw RunStoreError(
        .invalidLocation, location: location,
        message: "\(path) is a directory; name a database file, e.g. sqlite:\(path)/flow.sqlite")
    }
    let writer: SQLiteWriter
    let reader: SQLiteConnection
    do {
      writer = try await SQLiteWriter.open(path: path)
    } catch {
      throw map(error, location: location, path: path)
    }
    let store: SQLiteRunStore
    do {
      for pragma in [
        // 16 KB pages for a new database (an existing one keeps its size): a batch's rows fill
        // a quarter as many pages, each written to the WAL with one call, and the rebuilt
        // WITHOUT ROWID tables keep more rows per page.
        "PRAGMA busy_timeout = \(busyTimeoutMilliseconds)", "PRAGMA page_size = 16384",
        "PRAGMA journal_mode = WAL",
        "PRAGMA synchronous = NORMAL", "PRAGMA foreign_keys = OFF",
        // A batch of 100k records fits in the page cache (no pages spilled to the WAL
        // mid-transaction), and commits leave checkpoints to the checkpointer.
        "PRAGMA cache_size = -32768", "PRAGMA wal_autocheckpoint = \(writerCheckpointPages)",
      ] {
        _ = try await writer.execute(pragma)
      }
      reader = try await SQLiteConnection.open(storage: .file(path: path))
      _ = try await reader.query("PRAGMA busy_timeout = \(busyTimeoutMilliseconds)", [])
      let checkpointer: SQLiteCheckpointer
      do {
        checkpointer = try await SQLiteCheckpointer.open(
          path: path, busyTimeoutMilliseconds: busyTimeoutMilliseconds)
      } catch {
        try? await reader.close()
        throw error
      }
      store = SQLiteRunStore(
        path: path, writer: writer, reader: reader, checkpointer: checkpointer)
    } catch {
      await writer.close()
      throw map(error, location: location, path: path)
    }
    do throws(RunStoreError) {
      let version = try await store.schemaStatus().databaseVersion
      if version > RunStoreSchema.current {
        throw RunStoreError.newerSchema(location: location, found: version)
      }
      if version < RunStoreSchema.current {
        guard migrating else {
          throw RunStoreError.needsMigration(location: location, found: version)
        }
        try await store.migrate()
      }
    } catch {
      await store.close()
      throw error
    }
    return store
  }

  private static func map(_ error: any Error, location: String, path: String) -> RunStoreError {
    if let error = error as? SQLiteWriterError {
      if error.isNotADatabase {
        return RunStoreError(
          .notADatabase, location: location,
          message: "\(path) is not an SQLite database (\(error.message)); point --database "
            + "sqlite:PATH or FLOW_DATABASE at a database file, or move this file away",
          cause: error)
      }
      if error.isUnopenable {
        return RunStoreError(
          .invalidLocation, location: location,
          message: "cannot open \(path) (\(error.message)); check that the file and its "
            + "directory are writable, or pick another path with --database sqlite:PATH",
          cause: error)
      }
      return RunStoreError(
        .database, location: location, message: "SQLite failed: \(error.message)", cause: error)
    }
    if let error = error as? SQLiteError {
      switch error.reason {
      case .notADatabase, .corrupt:
        return RunStoreError(
          .notADatabase, location: location,
          message: "\(path) is not an SQLite database (\(error.message)); point --database "
            + "sqlite:PATH or FLOW_DATABASE at a database file, or move this file away",
          cause: error)
      case .cantOpen, .permission, .readOnly:
        return RunStoreError(
          .invalidLocation, location: location,
          message: "cannot open \(path) (\(error.message)); check that the file and its "
            + "directory are writable, or pick another path with --database sqlite:PATH",
          cause: error)
      default:
        return RunStoreError(
          .database, location: location, message: "SQLite failed: \(error.message)",
          cause: error)
      }
    }
    return RunStoreError(
      .database, location: location, message: "SQLite failed: \(error)", cause: nil)
  }

  func fail(_ error: any Error) -> RunStoreError {
    if let error = error as? RunStoreError { return error }
    return Self.map(error, location: description, path: path)
  }

  static func bind(_ value: SQLValue) -> SQLiteData {
    switch value {
    case .integer(let value): .integer(Int(value))
    case .text(let value): .text(value)
    case .blob(let data): .blob(ByteBuffer(bytes: data))
    case .null: .null
    }
  }

  static func row(_ row: SQLiteRow) -> SQLRow {
    let columns = row.columns
    return SQLRow(names: columns.map(\.name), values: columns.map { value($0.data) })
  }

  static func value(_ data: SQLiteData) -> SQLValue {
    switch data {
    case .integer(let value): .integer(Int64(value))
    case .float(let value): .integer(Int64(value))
    case .text(let value): .text(value)
    case .blob(var buffer): .blob(Data(buffer.readBytes(length: buffer.readableBytes) ?? []))
    case .null: .null
    }
  }

  /// Runs a read on the reader connection.
  func query(_ statement: SQLStatement) async throws(RunStoreError) -> [SQLRow] {
    do {
      // Rows are converted as SQLite steps through them, on its thread, with one array of
      // column names for the whole result.
      let rows = RowCollector()
      try await reader.query(statement.sql, statement.binds.map(Self.bind)) {
        rows.append($0)
      }
      return rows.rows
    } catch {
      throw fail(error)
    }
  }

  /// Runs a statement on the writer connection.
  func writerQuery(_ statement: SQLStatement) async throws(RunStoreError) -> [SQLRow] {
    do {
      return try await writer.execute(statement.sql, statement.binds)
    } catch {
      throw fail(error)
    }
  }

  /// Runs one statement on the writer to completion, even if the calling task is cancelled
  /// (a transaction is never cut short between its statements: the job is not cancelled).
  func write(_ sql: String, _ binds: [SQLValue] = []) async throws {
    _ = try await writer.execute(sql, binds)
  }

  /// Runs `body` on the writer inside one immediate transaction (one job on the thread pool),
  /// rolled back if it throws.
  private func transaction(
    _ body: @escaping @Sendable (SQLiteWriterConnection) throws -> Void
  ) async throws(RunStoreError) {
    try await gate.run { () async throws(RunStoreError) in
      do {
        try await writer.run { connection in
          _ = try connection.execute("BEGIN IMMEDIATE", [])
          do {
            try body(connection)
            _ = try connection.execute("COMMIT", [])
          } catch {
            _ = try? connection.execute("ROLLBACK", [])
            throw error
          }
        }
      } catch {
        throw fail(error)
      }
    }
  }

  /// Runs `statements` on the writer in one transaction.
  private func transaction(_ statements: [SQLStatement]) async throws(RunStoreError) {
    try await transaction { connection in
      for statement in statements { _ = try connection.execute(statement.sql, statement.binds) }
    }
  }

  /// Creates the schema or upgrades it to the current version.
  public func migrate() async throws(RunStoreError) {
    let version = try await schemaStatus().databaseVersion
    if version > RunStoreSchema.current {
      throw RunStoreError.newerSchema(location: description, found: version)
    }
    for migration in RunStoreCoding.migrations(blobType: "BLOB", sqlite: true)
    where migration.version > version {
      var statements = migration.statements.map { SQLStatement(sql: $0, binds: []) }
      if version == 0 {
        statements.insert(
          SQLStatement(
            sql: "CREATE TABLE IF NOT EXISTS flow_schema (version BIGINT NOT NULL)", binds: []),
          at: 0)
      }
      statements.append(SQLStatement(sql: "DELETE FROM flow_schema", binds: []))
      statements.append(
        SQLStatement(
          sql: "INSERT INTO flow_schema (version) VALUES (?1)",
          binds: [.integer(Int64(migration.version))]))
      try await transaction(statements)
    }
  }

  /// The database's schema version.
  public func schemaStatus() async throws(RunStoreError) -> RunStoreSchemaStatus {
    let tables = try await writerQuery(
      SQLStatement(
        sql: "SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'flow_schema'",
        binds: []))
    if tables.isEmpty { return RunStoreSchemaStatus(databaseVersion: 0) }
    let rows = try await writerQuery(
      SQLStatement(sql: "SELECT max(version) AS version FROM flow_schema", binds: []))
    return RunStoreSchemaStatus(databaseVersion: Int(rows.first?["version"]?.integer ?? 0))
  }

  /// Writes the batch in one transaction: each record bound straight into its table's
  /// one-row INSERT, prepared once for the store's life (``SQLiteBatchWriting``).
  public func write(_ batch: RunStoreBatch) async throws(RunStoreError) {
    guard !batch.isEmpty else { return }
    let texts = batchTexts
    try await transaction { connection in
      var writing = SQLiteBatchWriting(connection: connection, texts: texts)
      try writing.write(batch)
    }
    checkpointer.wrote(records: batch.count)
  }

  /// Appends engine events; a taken sequence writes none of them.
  public func appendEvents(_ events: [RunEventRecord]) async throws(RunStoreError) {
    guard !events.isEmpty else { return }
    do {
      try await transaction(sql.appendEvents(events))
    } catch {
      if let cause = error.cause as? SQLiteWriterError,
        cause.isConstraint || cause.message.contains("UNIQUE")
      {
        let first = events[0]
        throw RunStoreError.sequenceTaken(
          location: description, flowRunID: first.flowRunID, sequence: first.sequence)
      }
      throw error
    }
  }

  /// The run's engine events after a sequence.
  public func events(flowRunID: UUID, after sequence: Int64) async throws(RunStoreError)
    -> [RunEventRecord]
  {
    let rows = try await query(sql.events(flowRunID: flowRunID, after: sequence)).compactMap {
      RunStoreSQL.event($0, flowRunID: flowRunID)
    }
    let packs = try await query(sql.eventPacks(flowRunID: flowRunID, after: sequence))
      .compactMap { RunStoreSQL.eventPack($0, flowRunID: flowRunID) }
    return RunEventPack.merged(rows, packs, after: sequence)
  }

  /// One page of flow runs, newest first.
  public func flowRuns(_ query: FlowRunQuery) async throws(RunStoreError) -> [FlowRunRecord] {
    try await self.query(sql.flowRuns(query)).compactMap(RunStoreSQL.flowRun).map {
      RunStoreReading.reported($0, staleBefore: query.staleBefore)
    }
  }

  /// The flow run with this ID, or nil.
  public func flowRun(id: UUID) async throws(RunStoreError) -> FlowRunRecord? {
    try await query(sql.flowRun(id: id)).first.flatMap(RunStoreSQL.flowRun)
  }

  /// The flow with this name and version, or nil.
  public func flow(name: String, version: String) async throws(RunStoreError) -> FlowRecord? {
    try await query(sql.flow(name: name, version: version)).first.flatMap(RunStoreSQL.flow)
  }

  /// The run's task runs in flow order.
  public func taskRuns(flowRunID: UUID) async throws(RunStoreError) -> [TaskRunRecord] {
    try await query(sql.taskRuns(flowRunID: flowRunID)).compactMap(RunStoreSQL.taskRun)
  }

  /// The run's transitions in order.
  public func transitions(flowRunID: UUID) async throws(RunStoreError) -> [TransitionRecord] {
    try await sql.transitions(flowRunID: flowRunID, on: database)
  }

  /// The run's log records after a sequence, at a level or above.
  public func logs(flowRunID: UUID, after sequence: Int64, minimumLevel: StoredLogLevel)
    async throws(RunStoreError) -> [StoredLogRecord]
  {
    try await sql.logs(
      flowRunID: flowRunID, after: sequence, minimumLevel: minimumLevel, on: database)
  }

  /// Deletes up to `limit` runs that ended before `cutoff`, in transactions of
  /// ``RunStoreSQL/pruneChunk`` runs.
  public func prune(endedBefore cutoff: Date, limit: Int) async throws(RunStoreError) -> Int {
    let ids = try await query(sql.prunable(endedBefore: cutoff, limit: limit)).compactMap {
      $0["id"]?.text
    }
    // Small transactions, each releasing the writer (whose writes queue in order behind the
    // one running): a run's write waits for one chunk at most.
    var start = 0
    while start < ids.count {
      let chunk = Array(ids[start..<min(ids.count, start + RunStoreSQL.pruneChunk)])
      try await transaction(sql.delete(runs: chunk))
      start += RunStoreSQL.pruneChunk
      // Each chunk's deleted pages are copied from the WAL into the database here, by the
      // reader connection beside the writer (a passive checkpoint takes no write lock), so
      // that the WAL never grows to the writer's automatic checkpoint, which runs inside
      // whichever commit crosses its threshold: a recorded run's write, or a prune chunk that
      // a run's write then waits behind.
      _ = try? await reader.query("PRAGMA wal_checkpoint(PASSIVE)", [])
    }
    return ids.count
  }

  /// Closes the connections.
  public func close() async {
    await checkpointer.close()
    try? await reader.close()
    await writer.close()
  }
}

// MARK: Browsing (the server's reads)

extension SQLiteRunStore: RunStoreBrowsing {
  private static func placeholder(_ n: Int) -> String { "?\(n)" }

  /// Every recorded flow version, without its graph.
  public func flowSummaries() async throws(RunStoreError) -> [FlowSummary] {
    try await query(sql.flowSummaries()).compactMap(RunStoreSQL.flowSummary)
  }

  /// A page of the run's transitions after a sequence.
  public func transitions(flowRunID: UUID, after sequence: Int64, limit: Int)
    async throws(RunStoreError) -> [TransitionRecord]
  {
    let rows = try await query(
      sql.transitions(flowRunID: flowRunID, after: sequence, limit: limit, Self.placeholder)
    ).compactMap(RunStoreSQL.transition)
    let packed = try await sql.packedTransitions(flowRunID: flowRunID, on: database).filter {
      $0.sequence > sequence
    }
    return Array(TransitionPacking.merged(rows, packed).prefix(max(limit, 0)))
  }

  /// A page of the run's logs after a sequence, at a level or above.
  public func logs(
    flowRunID: UUID, after sequence: Int64, minimumLevel: StoredLogLevel, limit: Int
  ) async throws(RunStoreError) -> [StoredLogRecord] {
    RunLogPack.merged(
      try await query(
        sql.logs(
          flowRunID: flowRunID, after: sequence, level: minimumLevel, limit: limit,
          Self.placeholder)
      ).compactMap(RunStoreSQL.log),
      try await sql.logPacks(flowRunID: flowRunID, after: sequence, on: database), after: sequence,
      level: minimumLevel, limit: limit)
  }

  /// The run's outline: two narrow reads.
  public func runOutline(flowRunID: UUID) async throws(RunStoreError) -> RunOutline {
    let tasks = try await query(sql.outlineTaskRuns(flowRunID: flowRunID, Self.placeholder))
    let transitions = try await query(
      sql.outlineTransitions(flowRunID: flowRunID, Self.placeholder))
    return RunOutline(
      taskRuns: tasks.map { RunStoreSQL.outlineTaskRun($0, flowRunID: flowRunID) },
      transitions: RunOutline.outline(
        TransitionPacking.merged(
          transitions.map { RunStoreSQL.outlineTransition($0, flowRunID: flowRunID) },
          try await sql.packedTransitions(flowRunID: flowRunID, on: database))))
  }

  /// A page of the run's task runs in flow order.
  public func taskRuns(flowRunID: UUID, offset: Int, limit: Int) async throws(RunStoreError)
    -> [TaskRunRecord]
  {
    try await query(
      sql.taskRuns(flowRunID: flowRunID, offset: offset, limit: limit, Self.placeholder)
    )
    .compactMap(RunStoreSQL.taskRun)
  }

  /// A page of the runs that ended after a cursor, oldest end first.
  public func flowRuns(endedAfter cursor: FlowRunEndCursor?, limit: Int)
    async throws(RunStoreError) -> [FlowRunRecord]
  {
    try await query(sql.flowRuns(endedAfter: cursor, limit: limit, Self.placeholder))
      .compactMap(RunStoreSQL.flowRun)
  }
}

/// The rows of one result as SQLite returns them, one at a time on its thread (the callback of
/// one query runs on one thread, in order, before the query returns).
private final class RowCollector: @unchecked Sendable {
  var rows: [SQLRow] = []
  private var names: [String] = []

  func append(_ row: SQLiteRow) {
    let columns = row.columns
    if names.count != columns.count { names = columns.map(\.name) }
    rows.append(SQLRow(names: names, values: columns.map { SQLiteRunStore.value($0.data) }))
  }
}

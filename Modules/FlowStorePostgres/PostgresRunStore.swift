import FlowCore
import Foundation
import Logging
internal import NIOCore
internal import PostgresNIO

/// The run store on PostgreSQL, shared by processes and machines: a pooled `PostgresClient`,
/// each batch one transaction of multi-row inserts.
///
/// The client's connection pool runs for the scope of ``withStore(url:migrating:_:)``
/// (structured concurrency: no background task outlives it).
/// ```swift
/// try await PostgresRunStore.withStore(url: "postgres://flow@localhost/flow") { store in
///   _ = try await flow.run(recorder: RunRecorder(store: store))
/// }
/// ```
public final class PostgresRunStore: RunStore {
  /// The URL with its password hidden.
  public let description: String
  let client: PostgresClient
  private let sql = RunStoreSQL(placeholder: { "$\($0)" }, arrayInserts: true)
  let logger = Logger(label: "swift-flow.store.postgres")
  /// Whose clock judges leases (``PostgresLeaseClock/database`` unless told otherwise).
  public let leaseClock: PostgresLeaseClock

  private init(client: PostgresClient, description: String, leaseClock: PostgresLeaseClock) {
    self.client = client
    self.description = description
    self.leaseClock = leaseClock
  }

  /// `url` with its password replaced by `***`.
  public static func redacted(_ url: String) -> String {
    guard var components = URLComponents(string: url), components.password != nil else {
      return url
    }
    components.password = "***"
    return components.string ?? url
  }

  /// What `url` says: the client configuration, or an error naming the problem.
  static func configuration(url: String) throws(RunStoreError) -> PostgresClient.Configuration {
    let shown = redacted(url)
    guard let components = URLComponents(string: url),
      ["postgres", "postgresql"].contains(components.scheme ?? ""),
      let host = components.host, !host.isEmpty
    else {
      throw RunStoreError(
        .invalidLocation, location: shown,
        message: "'\(shown)' is not a PostgreSQL URL; write "
          + "postgres://USER:PASSWORD@HOST:PORT/DATABASE (e.g. postgres://flow@127.0.0.1:5432/flow)"
      )
    }
    guard let user = components.user, !user.isEmpty else {
      throw RunStoreError(
        .invalidLocation, location: shown,
        message: "'\(shown)' names no user; write postgres://USER:PASSWORD@\(host)/DATABASE")
    }
    let database = String(components.path.drop { $0 == "/" })
    let mode = components.queryItems?.first { $0.name == "sslmode" }?.value ?? "disable"
    let tls: PostgresClient.Configuration.TLS
    switch mode {
    case "disable": tls = .disable
    case "prefer": tls = .prefer(.makeClientConfiguration())
    case "require": tls = .require(.makeClientConfiguration())
    default:
      throw RunStoreError(
        .invalidLocation, location: shown,
        message: "sslmode=\(mode) is not supported; use sslmode=disable, prefer or require")
    }
    var configuration = PostgresClient.Configuration(
      host: host, port: components.port ?? 5432, username: user,
      password: components.password.map { $0.removingPercentEncoding ?? $0 },
      database: database.isEmpty ? user : database, tls: tls)
    configuration.options.connectTimeout = .seconds(5)
    configuration.options.maximumConnections = 8
    return configuration
  }

  /// Connects to the server at `url`, checks (and with `migrating`, upgrades) the schema, runs
  /// `body` with the store, then closes the pool. Leases go by the server's clock unless
  /// `leaseClock` is ``PostgresLeaseClock/caller``.
  public static func withStore<T: Sendable>(
    url: String, migrating: Bool = true, leaseClock: PostgresLeaseClock = .database,
    _ body: (PostgresRunStore) async throws -> T
  ) async throws -> T {
    let configuration = try configuration(url: url)
    let shown = redacted(url)
    // One plain connection first: an unreachable server or a refused login fails fast with a
    // clear error instead of a pool retrying in the background.
    do {
      let connection = try await PostgresConnection.connect(
        configuration: .init(
          host: configuration.host ?? "", port: configuration.port ?? 5432,
          username: configuration.username, password: configuration.password,
          database: configuration.database, tls: try tlsForConnection(url: url)),
        id: 0, logger: Logger(label: "swift-flow.store.postgres"))
      try await connection.close()
    } catch {
      throw map(error, location: shown)
    }
    // The pool's own chatter (reconnects, shutdown) is not the user's business below errors.
    var background = Logger(label: "swift-flow.store.postgres")
    background.logLevel = .error
    let client = PostgresClient(configuration: configuration, backgroundLogger: background)
    let store = PostgresRunStore(client: client, description: shown, leaseClock: leaseClock)
    return try await withThrowingTaskGroup(of: Void.self) { group in
      group.addTask { await client.run() }
      defer { group.cancelAll() }
      let version = try await store.schemaStatus().databaseVersion
      if version > RunStoreSchema.current {
        throw RunStoreError.newerSchema(location: shown, found: version)
      }
      if version < RunStoreSchema.current {
        guard migrating else { throw RunStoreError.needsMigration(location: shown, found: version) }
        try await store.migrate()
      }
      return try await body(store)
    }
  }

  private static func tlsForConnection(url: String) throws -> PostgresConnection.Configuration.TLS {
    let mode =
      URLComponents(string: url)?.queryItems?.first { $0.name == "sslmode" }?.value ?? "disable"
    switch mode {
    case "require": return .require(try .init(configuration: .makeClientConfiguration()))
    case "prefer": return .prefer(try .init(configuration: .makeClientConfiguration()))
    default: return .disable
    }
  }

  static func map(_ error: any Error, location: String) -> RunStoreError {
    if let error = error as? RunStoreError { return error }
    if let error = error as? PostgresTransactionError {
      if let cause = error.closureError { return map(cause, location: location) }
      if let cause = error.commitError { return map(cause, location: location) }
      if let cause = error.beginError { return map(cause, location: location) }
    }
    guard let error = error as? PSQLError else {
      return RunStoreError(
        .unreachable, location: location,
        message: "cannot reach the PostgreSQL server (\(error)); check the host and port, and "
          + "that the server is running and accepts TCP connections")
    }
    let state = error.serverInfo?[.sqlState]
    let text = error.serverInfo?[.message] ?? "\(error.code)"
    switch state {
    case "28P01", "28000":
      return RunStoreError(
        .authentication, location: location,
        message: "the server refused the login (\(text)); check the user and password in the "
          + "URL (postgres://USER:PASSWORD@HOST/DB)", cause: error)
    case "3D000":
      return RunStoreError(
        .invalidLocation, location: location,
        message: "\(text); create it (`createdb NAME`) or name an existing database in the URL",
        cause: error)
    case "23505":
      return RunStoreError(.conflict, location: location, message: text, cause: error)
    case .some:
      return RunStoreError(
        .database, location: location, message: "PostgreSQL failed: \(text)", cause: error)
    case nil:
      if error.code == .connectionError || error.code == .serverClosedConnection
        || error.code == .clientClosedConnection || error.code == .poolClosed
      {
        return RunStoreError(
          .unreachable, location: location,
          message:
            "cannot reach the PostgreSQL server (\(error.underlying.map { "\($0)" } ?? "\(error.code)")); "
            + "check the host and port, and that the server is running", cause: error)
      }
      return RunStoreError(
        .database, location: location, message: "PostgreSQL failed: \(error.code)", cause: error)
    }
  }

  static func bindings(_ values: [SQLValue]) -> PostgresBindings {
    var bindings = PostgresBindings(capacity: values.count)
    for value in values {
      switch value {
      case .integer(let value): bindings.append(value)
      case .text(let value): bindings.append(value)
      case .blob(let data): bindings.append(ByteBuffer(bytes: data))
      case .null: bindings.appendNull()
      }
    }
    return bindings
  }

  static func rows<Rows: AsyncSequence>(_ sequence: Rows) async throws -> [SQLRow]
  where Rows.Element == PostgresRow {
    var rows: [SQLRow] = []
    for try await row in sequence {
      var result: SQLRow = [:]
      for cell in row {
        if cell.bytes == nil {
          result[cell.columnName] = .null
        } else if cell.dataType == .bytea {
          var buffer = try cell.decode(ByteBuffer.self)
          result[cell.columnName] = .blob(
            Data(buffer.readBytes(length: buffer.readableBytes) ?? []))
        } else if [.int8, .int4, .int2].contains(cell.dataType) {
          result[cell.columnName] = .integer(try cell.decode(Int64.self))
        } else {
          result[cell.columnName] = .text(try cell.decode(String.self))
        }
      }
      rows.append(result)
    }
    return rows
  }

  func query(_ statement: SQLStatement) async throws(RunStoreError) -> [SQLRow] {
    do {
      let sequence = try await client.query(
        PostgresQuery(unsafeSQL: statement.sql, binds: Self.bindings(statement.binds)),
        logger: logger)
      return try await Self.rows(sequence)
    } catch {
      throw Self.map(error, location: description)
    }
  }

  private func transaction(_ statements: [SQLStatement]) async throws(RunStoreError) {
    do {
      try await client.withTransaction(logger: logger) { connection in
        for statement in statements {
          try await connection.query(
            PostgresQuery(unsafeSQL: statement.sql, binds: Self.bindings(statement.binds)),
            logger: logger)
        }
      }
    } catch {
      throw Self.map(error, location: description)
    }
  }

  /// Creates the schema or upgrades it to the current version.
  public func migrate() async throws(RunStoreError) {
    let version = try await schemaStatus().databaseVersion
    if version > RunStoreSchema.current {
      throw RunStoreError.newerSchema(location: description, found: version)
    }
    let migrations = RunStoreCoding.migrations(blobType: "BYTEA")
    do {
      try await client.withTransaction(logger: logger) { connection in
        // Two processes migrating at once: the lock lets one through; the other then reads
        // the new version and skips what is done.
        try await connection.query("SELECT pg_advisory_xact_lock(7460143)", logger: logger)
        try await connection.query(
          "CREATE TABLE IF NOT EXISTS flow_schema (version BIGINT NOT NULL)", logger: logger)
        let rows = try await Self.rows(
          connection.query(
            "SELECT coalesce(max(version), 0) AS version FROM flow_schema", logger: logger))
        let current = Int(rows.first?["version"]?.integer ?? 0)
        for migration in migrations where migration.version > current {
          for statement in migration.statements {
            try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
          }
          try await connection.query("DELETE FROM flow_schema", logger: logger)
          try await connection.query(
            "INSERT INTO flow_schema (version) VALUES (\(Int64(migration.version)))",
            logger: logger)
        }
      }
    } catch {
      throw Self.map(error, location: description)
    }
  }

  /// The database's schema version.
  public func schemaStatus() async throws(RunStoreError) -> RunStoreSchemaStatus {
    let exists = try await query(
      SQLStatement(
        sql: "SELECT count(*) AS n FROM information_schema.tables WHERE table_name = "
          + "'flow_schema' AND table_schema = current_schema()"))
    guard (exists.first?["n"]?.integer ?? 0) > 0 else {
      return RunStoreSchemaStatus(databaseVersion: 0)
    }
    let rows = try await query(
      SQLStatement(sql: "SELECT coalesce(max(version), 0) AS version FROM flow_schema"))
    return RunStoreSchemaStatus(databaseVersion: Int(rows.first?["version"]?.integer ?? 0))
  }

  /// Writes the batch in one transaction.
  public func write(_ batch: RunStoreBatch) async throws(RunStoreError) {
    guard !batch.isEmpty else { return }
    try await transaction(sql.write(batch))
  }

  /// Appends engine events; a taken sequence writes none of them.
  public func appendEvents(_ events: [RunEventRecord]) async throws(RunStoreError) {
    guard !events.isEmpty else { return }
    do {
      try await transaction(sql.appendEvents(events))
    } catch {
      if error.code == .conflict {
        throw RunStoreError.sequenceTaken(
          location: description, flowRunID: events[0].flowRunID, sequence: events[0].sequence)
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
  /// ``RunStoreSQL/pruneChunk`` runs (as SQLite does): each holds its rows' locks briefly, so
  /// a concurrent run's writes never wait behind one long delete.
  public func prune(endedBefore cutoff: Date, limit: Int) async throws(RunStoreError) -> Int {
    let ids = try await query(sql.prunable(endedBefore: cutoff, limit: limit)).compactMap {
      $0["id"]?.text
    }
    var start = 0
    while start < ids.count {
      let chunk = Array(ids[start..<min(ids.count, start + RunStoreSQL.pruneChunk)])
      try await transaction(sql.delete(runs: chunk))
      start += RunStoreSQL.pruneChunk
    }
    return ids.count
  }

  /// Nothing: the pool closes when ``withStore(url:migrating:_:)`` returns.
  public func close() async {}
}

// MARK: Browsing (the server's reads)

extension PostgresRunStore: RunStoreBrowsing {
  private static func placeholder(_ n: Int) -> String { "$\(n)" }

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
    ).compactMap(RunStoreSQL.taskRun)
  }

  /// A page of the runs that ended after a cursor, oldest end first.
  public func flowRuns(endedAfter cursor: FlowRunEndCursor?, limit: Int)
    async throws(RunStoreError) -> [FlowRunRecord]
  {
    try await query(sql.flowRuns(endedAfter: cursor, limit: limit, Self.placeholder))
      .compactMap(RunStoreSQL.flowRun)
  }
}

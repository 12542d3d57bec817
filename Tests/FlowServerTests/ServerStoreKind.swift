import FlowCore
import FlowStorePostgres
import FlowStoreSQLite
import FlowTesting
import Foundation
import Logging
import PostgresNIO

/// The stores the server's API suites run against: its SQL reads are checked on SQLite and
/// PostgreSQL, not only on the in-memory store.
enum ServerStoreKind: String, CustomStringConvertible, CaseIterable, Sendable {
  case memory
  case sqlite
  case postgres

  var description: String { rawValue }

  /// The PostgreSQL server the tests may use (`.ci/run` starts one and sets it).
  static let postgresURL = ProcessInfo.processInfo.environment["FLOW_TEST_POSTGRES_URL"]

  /// The kinds available here; without a PostgreSQL URL, one line says what was skipped.
  static let available: [ServerStoreKind] = {
    guard postgresURL != nil else {
      print(
        "Skipped: the PostgreSQL cases of the server's API, dashboard and live-stream suites; set "
          + "FLOW_TEST_POSTGRES_URL=postgres://USER@HOST:PORT/DB to run them (`bash .ci/run` "
          + "starts a server and does)")
      return [.memory, .sqlite]
    }
    return allCases
  }()

  /// Runs `body` with a new, empty, migrated store of this kind, then removes it.
  func withStore(_ body: (any RunStoreDashboard & DeploymentStore) async throws -> Void)
    async throws
  {
    switch self {
    case .memory:
      let store = MemoryRunStore()
      try await store.migrate()
      try await body(store)
    case .sqlite:
      let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
        "flow-server-\(UUID().uuidString)")
      defer { try? FileManager.default.removeItem(at: directory) }
      let store = try await SQLiteRunStore.open(
        path: directory.appendingPathComponent("flow.sqlite").path)
      do {
        try await body(store)
      } catch {
        await store.close()
        throw error
      }
      await store.close()
    case .postgres:
      // Leases judged by the times the tests give (their TestClock), as on SQLite, not by the
      // database's own clock: the tests place leases at fixed dates.
      try await Self.withTemporaryPostgresDatabase { url in
        try await PostgresRunStore.withStore(url: url, leaseClock: .caller) { store in
          try await body(store)
        }
      }
    }
  }

  /// Runs `body` with the URL of a new database on the test server, dropped afterwards.
  static func withTemporaryPostgresDatabase(_ body: (String) async throws -> Void) async throws {
    guard let base = postgresURL.flatMap({ URLComponents(string: $0) }) else { return }
    let name =
      "flow_server_\(UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased())"
    let logger = Logger(label: "flow-server-test")
    let connection = try await PostgresConnection.connect(
      configuration: .init(
        host: base.host ?? "127.0.0.1", port: base.port ?? 5432, username: base.user ?? "flow",
        password: base.password, database: String(base.path.dropFirst()), tls: .disable),
      id: 1, logger: logger)
    try await connection.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(name)"), logger: logger)
    var components = base
    components.path = "/\(name)"
    do {
      try await body(components.string!)
    } catch {
      _ = try? await connection.query(
        PostgresQuery(unsafeSQL: "DROP DATABASE \(name) WITH (FORCE)"), logger: logger)
      try? await connection.close()
      throw error
    }
    _ = try? await connection.query(
      PostgresQuery(unsafeSQL: "DROP DATABASE \(name) WITH (FORCE)"), logger: logger)
    try? await connection.close()
  }
}

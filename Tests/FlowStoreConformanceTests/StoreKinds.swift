import FlowCore
import FlowStorePostgres
import FlowStoreSQLite
import FlowTesting
import Foundation
import Logging
import PostgresNIO
import Testing

/// The adapters the conformance suite runs against.
enum StoreKind: String, CustomStringConvertible, CaseIterable, Sendable {
  case memory
  case sqlite
  case postgres

  var description: String { rawValue }

  /// The PostgreSQL server the tests may use (`.ci/run` starts one and sets it).
  static let postgresURL = ProcessInfo.processInfo.environment["FLOW_TEST_POSTGRES_URL"]

  /// The kinds available here; without a PostgreSQL URL, one line says what was skipped.
  static let available: [StoreKind] = {
    guard postgresURL != nil else {
      print(
        "Skipped: the PostgreSQL cases of the run-store and deployment-store conformance, crash-resume "
          + "and agent suites; set "
          + "FLOW_TEST_POSTGRES_URL=postgres://USER@HOST:PORT/DB to run them (`bash .ci/run` "
          + "starts a server and does)")
      return [.memory, .sqlite]
    }
    return allCases
  }()

  /// Runs `body` with a new, empty, migrated store of this kind, then removes it.
  func withStore(_ body: (any RunStore) async throws -> Void) async throws {
    switch self {
    case .memory:
      let store = MemoryRunStore()
      try await store.migrate()
      try await body(store)
    case .sqlite:
      let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
        "flow-store-\(UUID().uuidString)")
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
      try await withTemporaryPostgresDatabase { url in
        // The suite drives leases with fixed instants: they go by the caller's clock here (the
        // database clock has its own test).
        try await PostgresRunStore.withStore(url: url, leaseClock: .caller) { store in
          try await body(store)
        }
      }
    }
  }
}

/// Runs `body` with the URL of a new database on the test server, dropped afterwards.
func withTemporaryPostgresDatabase(_ body: (String) async throws -> Void) async throws {
  let base = try #require(StoreKind.postgresURL.flatMap { URLComponents(string: $0) })
  let name = "flow_test_\(UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased())"
  let logger = Logger(label: "flow-test")
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

/// 2026-03-05 14:07:09 UTC plus `seconds`, at whole milliseconds (which every adapter keeps).
func instant(_ seconds: Double) -> Date {
  Date(timeIntervalSince1970: 1_772_719_629 + seconds)
}

/// Dates rounded to the microsecond, so that records compare across adapters.
func same(_ a: Date?, _ b: Date?) -> Bool {
  switch (a, b) {
  case (nil, nil): true
  case (let a?, let b?): abs(a.timeIntervalSince(b)) < 0.000_01
  default: false
  }
}

/// A flow run record with the given ID and start.
func flowRun(
  _ id: UUID, flow: String = "etl", started: Double, state: String = "Running",
  ended: Double? = nil, heartbeat: Double? = nil
) -> FlowRunRecord {
  FlowRunRecord(
    id: id, flowName: flow, flowVersion: "v1", parameters: ["size": "3"], executor: "sequential",
    host: "test-host", processID: 42, command: ["/bin/etl", "run"], scheduledAt: instant(started),
    startedAt: instant(started), endedAt: ended.map(instant), state: state, message: nil,
    heartbeatAt: instant(heartbeat ?? started))
}

/// A UUID whose last digits are `n` (stable order in tests).
func uuid(_ n: Int) -> UUID {
  UUID(uuidString: String(format: "00000000-0000-4000-8000-%012d", n))!
}

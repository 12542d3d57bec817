import FlowCore
import FlowStoreSQLite
import Foundation
import SQLiteNIO
import Testing

/// The results' schema step on SQLite: a version-4 database (no results table) migrates.
@Suite("SQLite results migration")
struct SQLiteResultsMigrationTests {
  @Test("a version-4 database gets the results table, and keeps working")
  func migratesVersionFour() async throws {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
      "flow-sqlite-results-\(UUID().uuidString)")
    defer { try? FileManager.default.removeItem(at: directory) }
    let path = directory.appendingPathComponent("flow.sqlite").path
    let store = try await SQLiteRunStore.open(path: path)
    await store.close()
    // What a version-4 binary leaves.
    let raw = try await SQLiteConnection.open(storage: .file(path: path))
    _ = try await raw.query("DROP TABLE run_results", [])
    _ = try await raw.query("UPDATE flow_schema SET version = 4", [])
    try await raw.close()
    let error = await #expect(throws: RunStoreError.self) {
      _ = try await SQLiteRunStore.open(path: path, migrating: false)
    }
    #expect(error?.code == .needsMigration)
    let migrated = try await SQLiteRunStore.open(path: path)
    #expect(try await migrated.schemaStatus().databaseVersion == RunResultSQL.version)
    let record = RunResultRecord(
      flowRunID: UUID(), location: "etl/run/load",
      result: StoredResult(serializer: "json", typeName: "Int", payload: Data("4".utf8)))
    try await migrated.writeResults([record])
    #expect(try await migrated.results(flowRunID: record.flowRunID) == [record])
    await migrated.close()
  }
}

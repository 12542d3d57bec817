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
    // What a version-4 binary leaves (no results, no packed records).
    let raw = try await SQLiteConnection.open(storage: .file(path: path))
    for statement in [
      "DROP TABLE run_results", "DROP TABLE run_event_packs", "DROP TABLE log_packs",
      "ALTER TABLE task_runs DROP COLUMN transitions",
      "ALTER TABLE deployments DROP COLUMN schedule_paused",
      "ALTER TABLE deployments DROP COLUMN schedule_resumed_at",
    ] {
      _ = try await raw.query(statement, [])
    }
    _ = try await raw.query("UPDATE flow_schema SET version = 4", [])
    try await raw.close()
    let error = await #expect(throws: RunStoreError.self) {
      _ = try await SQLiteRunStore.open(path: path, migrating: false)
    }
    #expect(error?.code == .needsMigration)
    let migrated = try await SQLiteRunStore.open(path: path)
    #expect(try await migrated.schemaStatus().databaseVersion == RunStoreSchema.current)
    let record = RunResultRecord(
      flowRunID: UUID(), location: "etl/run/load",
      result: StoredResult(serializer: "json", typeName: "Int", payload: Data("4".utf8)))
    try await migrated.writeResults([record])
    #expect(try await migrated.results(flowRunID: record.flowRunID) == [record])
    await migrated.close()
  }
}

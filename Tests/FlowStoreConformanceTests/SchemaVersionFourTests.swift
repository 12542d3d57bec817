import FlowCore
import FlowStorePostgres
import Foundation
import Testing

/// Schema version 4 on PostgreSQL (SQLite's rebuild is tested in FlowStoreSQLiteTests): a
/// version-3 database's log records, all their metadata as JSON, read the same after the
/// migration adds the metadata columns, and new records use them.
@Suite("Schema version 4 on PostgreSQL", .timeLimit(.minutes(2)))
struct SchemaVersionFourTests {
  @Test("a version-3 PostgreSQL database is migrated to version 4 and keeps its logs")
  func migratesVersionThree() async throws {
    guard StoreKind.postgresURL != nil else { return }
    let id = uuid(1)
    let text = id.uuidString.lowercased()
    try await withTemporaryPostgresDatabase { url in
      try await PostgresRunStore.withStore(url: url) { store in
        var batch = RunStoreBatch()
        batch.flowRuns = [flowRun(id, started: 0)]
        try await store.write(batch)
      }
      // Back to what a version-3 binary left: no metadata columns, metadata as JSON.
      try await AgentRegistryConformanceTests.rawPostgres(
        url,
        "ALTER TABLE logs "
          + StoredLogMetadata.columns.map { "DROP COLUMN \($0)" }.joined(separator: ", "),
        "ALTER TABLE deployments DROP COLUMN schedule_paused, DROP COLUMN schedule_resumed_at",
        "UPDATE flow_schema SET version = 3",
        "INSERT INTO logs (flow_run_id, sequence, time, level, message, metadata) VALUES "
          + "('\(text)', 1, 0, 2, 'old', '{\"flow\":\"etl\",\"task\":\"load\",\"user\":\"ada\"}')"
      )
      let error = await #expect(throws: RunStoreError.self) {
        try await PostgresRunStore.withStore(url: url, migrating: false) { _ in }
      }
      #expect(error?.code == .needsMigration)
      try await PostgresRunStore.withStore(url: url) { store in
        #expect(try await store.schemaStatus().databaseVersion == RunStoreSchema.current)
        var batch = RunStoreBatch()
        batch.logs = [
          StoredLogRecord(
            flowRunID: id, sequence: 2, time: instant(1), level: StoredLogLevel(rank: 2),
            message: "new", metadata: ["flow": "etl", "task": "load", "user": "ada"])
        ]
        try await store.write(batch)
        let logs = try await store.logs(flowRunID: id, after: 0, minimumLevel: .trace)
        #expect(logs.map(\.message) == ["old", "new"])
        #expect(logs.allSatisfy { $0.metadata == ["flow": "etl", "task": "load", "user": "ada"] })
      }
    }
  }
}

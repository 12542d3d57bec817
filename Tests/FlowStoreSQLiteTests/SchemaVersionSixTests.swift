import FlowCore
import FlowExecutors
import FlowStoreSQLite
import Foundation
import SQLiteNIO
import Testing

/// Schema version 6 on SQLite, from a real version-4 database: `Resources/schema-4-ticket-run.sqlite`
/// is what `ticket-model-evaluation run --database sqlite:PATH` of main at 5db7c1a (schema 4)
/// recorded (10 task runs, 22 transitions, 22 log records, 33 engine steps), vacuumed to 1 KB
/// pages.
@Suite("Schema version 6 on SQLite", .timeLimit(.minutes(2)))
struct SchemaVersionSixTests {
  /// A copy of the version-4 file in a temporary directory.
  static func versionFourCopy() throws -> (path: String, cleanup: @Sendable () -> Void) {
    let fixture = try #require(
      Bundle.module.url(forResource: "schema-4-ticket-run", withExtension: "sqlite"))
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
      "flow-v4-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    let path = directory.appendingPathComponent("flow.sqlite").path
    try FileManager.default.copyItem(atPath: fixture.path, toPath: path)
    return (path, { try? FileManager.default.removeItem(at: directory) })
  }

  @Test(
    "a real version-4 database is migrated to the current version and every record reads the same")
  func migratesARealVersionFourDatabase() async throws {
    let (path, cleanup) = try Self.versionFourCopy()
    defer { cleanup() }
    // What the version-4 binary wrote, read raw.
    let raw = try await SQLiteConnection.open(storage: .file(path: path))
    let version = try await raw.query("SELECT version FROM flow_schema", [])
    #expect(version.first?.column("version")?.integer == 4)
    let runID = try #require(
      try await raw.query("SELECT id FROM flow_runs", []).first?.column("id")?.string
        .flatMap(UUID.init(uuidString:)))
    let rawTransitions = try await raw.query(
      "SELECT sequence, slug, to_state FROM transitions ORDER BY sequence", [])
    let rawEvents = try await raw.query(
      "SELECT sequence, hex(payload) AS hex FROM run_events ORDER BY sequence", [])
    try await raw.close()
    #expect(rawTransitions.count == 22 && rawEvents.count == 33)

    let error = await #expect(throws: RunStoreError.self) {
      _ = try await SQLiteRunStore.open(path: path, migrating: false)
    }
    #expect(error?.code == .needsMigration)
    let store = try await SQLiteRunStore.open(path: path)
    #expect(try await store.schemaStatus().databaseVersion == RunStoreSchema.current)
    #expect(try await store.flowRun(id: runID)?.state == "Success")
    let tasks = try await store.taskRuns(flowRunID: runID)
    #expect(tasks.count == 10 && tasks.allSatisfy { $0.state == "Success" })
    let transitions = try await store.transitions(flowRunID: runID)
    #expect(
      transitions.map(\.sequence)
        == rawTransitions.compactMap { $0.column("sequence")?.integer.map { Int64($0) } })
    #expect(transitions.map(\.slug) == rawTransitions.map { $0.column("slug")?.string })
    #expect(transitions.map(\.to) == rawTransitions.compactMap { $0.column("to_state")?.string })
    #expect(try await store.logs(flowRunID: runID, after: 0, minimumLevel: .trace).count == 22)
    // The engine's steps read back and decode (what a replay of the run reads).
    let events = try await store.events(flowRunID: runID, after: 0)
    #expect(events.map(\.sequence) == Array(Int64(1)...33))
    #expect(
      events.map { $0.payload.map { String(format: "%02X", $0) }.joined() }
        == rawEvents.compactMap { $0.column("hex")?.string })
    let steps = try events.map { try FlowRunStepCoding.decode($0.payload) }
    #expect(steps.count == 33)
    let outline = try await store.runOutline(flowRunID: runID)
    #expect(outline.transitions.map(\.sequence) == transitions.map(\.sequence))

    // A run recorded after the migration is in the new form, and reads back whole.
    let result = try await SQLiteRecordingTests.pipeline().run(
      parameters: ["count": 3], environment: .testing(seed: 5), recorder: RunRecorder(store: store))
    let recorded = try await store.transitions(flowRunID: result.flowRunID)
    #expect(!recorded.isEmpty)
    #expect(recorded.map(\.sequence) == Array(1...Int64(recorded.count)))
    #expect(try await store.taskRuns(flowRunID: result.flowRunID).count == result.taskRuns.count)
    #expect(try await store.transitions(flowRunID: runID).count == 22)
    await store.close()

    let check = try await SQLiteConnection.open(storage: .file(path: path))
    let packed = try await check.query(
      "SELECT count(*) AS n FROM task_runs WHERE transitions IS NOT NULL", [])
    #expect((packed.first?.column("n")?.integer ?? 0) > 0)
    let packs = try await check.query("SELECT count(*) AS n FROM run_event_packs", [])
    #expect((packs.first?.column("n")?.integer ?? 0) > 0)
    try await check.close()
  }
}

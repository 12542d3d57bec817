import FlowCore
import FlowStorePostgres
import Foundation
import Testing

/// Schema version 6 packs a task run's transitions into its row and the engine's steps into
/// one row per batch (``PackedRunStoreBatch``): every adapter must still read each record
/// once, in order, whatever the batches were.
@Suite("Packed records conformance", .timeLimit(.minutes(2)))
struct PackedRecordsConformanceTests {
  static func transition(
    _ id: UUID, _ sequence: Int64, _ slug: String?, _ from: String, _ to: String,
    _ message: String?
  ) -> TransitionRecord {
    TransitionRecord(
      flowRunID: id, sequence: sequence, slug: slug, mapIndex: slug == "map" ? 2 : -1,
      from: from, to: to, time: instant(Double(sequence)), message: message)
  }

  static func taskRun(_ id: UUID, _ slug: String, _ state: String) -> TaskRunRecord {
    TaskRunRecord(
      flowRunID: id, slug: slug, mapIndex: slug == "map" ? 2 : -1, taskRunID: nil, state: state,
      message: nil, attempts: 1, crashedAttempts: 0, startedAt: instant(1), endedAt: nil,
      resultLocation: nil, position: 0)
  }

  @Test(
    "a task run's transitions over several batches, retried, read back once and in order",
    arguments: StoreKind.available)
  func transitionsAcrossBatches(kind: StoreKind) async throws {
    try await kind.withStore { store in
      let id = uuid(7)
      // Messages that look like the packed form's separators, and text beyond ASCII.
      let odd = "3:abc;-,12,é 🚀\n\"q\""
      var first = RunStoreBatch()
      first.flowRuns = [flowRun(id, started: 0)]
      first.taskRuns = [Self.taskRun(id, "load", "Running"), Self.taskRun(id, "map", "Running")]
      first.transitions = [
        Self.transition(id, 1, nil, "Pending", "Running", "Running flow."),
        Self.transition(id, 2, "load", "Pending", "Running", odd),
        Self.transition(id, 3, "map", "Pending", "Running", ""),
        // A task run this batch does not write: its transition stays a row of its own.
        Self.transition(id, 4, "other", "Pending", "Running", nil),
      ]
      try await store.write(first)
      try await store.write(first)  // retried after an ambiguous failure
      var second = RunStoreBatch()
      second.taskRuns = [Self.taskRun(id, "load", "Success")]
      second.transitions = [
        Self.transition(id, 5, "load", "Running", "Success", nil),
        Self.transition(id, 6, nil, "Running", "Success", "done"),
      ]
      try await store.write(second)
      let all = try await store.transitions(flowRunID: id)
      #expect(all.map(\.sequence) == [1, 2, 3, 4, 5, 6])
      #expect(all.map(\.slug) == [nil, "load", "map", "other", "load", nil])
      #expect(all.map(\.mapIndex) == [-1, -1, 2, -1, -1, -1])
      #expect(all.map(\.message) == ["Running flow.", odd, "", nil, nil, "done"])
      #expect(all.map(\.to) == ["Running", "Running", "Running", "Running", "Success", "Success"])
      #expect(
        all.map(\.from) == ["Pending", "Pending", "Pending", "Pending", "Running", "Running"])
      #expect(zip(all, 1...6).allSatisfy { same($0.time, instant(Double($1))) })
      #expect(
        try await store.taskRuns(flowRunID: id).map(\.state).sorted() == ["Running", "Success"])
      let browsing = try #require(store as? any RunStoreBrowsing)
      let page = try await browsing.transitions(flowRunID: id, after: 1, limit: 3)
      #expect(page.map(\.sequence) == [2, 3, 4])
      #expect(
        try await browsing.transitions(flowRunID: id, after: 4, limit: 9).map(\.sequence) == [5, 6])
      let outline = try await browsing.runOutline(flowRunID: id)
      #expect(outline.transitions == RunOutline(outlining: [], all).transitions)
    }
  }

  @Test(
    "engine steps packed per batch read back once, in order, from any sequence",
    arguments: StoreKind.available)
  func eventsAcrossBatches(kind: StoreKind) async throws {
    try await kind.withStore { store in
      let id = uuid(8)
      func event(_ sequence: Int64) -> RunEventRecord {
        RunEventRecord(
          flowRunID: id, sequence: sequence,
          payload: Data((0..<Int(sequence * 40)).map { UInt8($0 % 251) }), version: Int(sequence))
      }
      var first = RunStoreBatch()
      first.flowRuns = [flowRun(id, started: 0)]
      first.events = [1, 2, 3, 5].map(event)  // a gap: two packs
      try await store.write(first)
      try await store.write(first)
      var second = RunStoreBatch()
      second.events = [6, 7].map(event)
      try await store.write(second)
      let all = try await store.events(flowRunID: id, after: 0)
      #expect(all == [1, 2, 3, 5, 6, 7].map(event))
      #expect(try await store.events(flowRunID: id, after: 2) == [3, 5, 6, 7].map(event))
      #expect(try await store.events(flowRunID: id, after: 6) == [event(7)])
      #expect(try await store.events(flowRunID: id, after: 7).isEmpty)
    }
  }

  @Test("a version-4 PostgreSQL database is migrated to the current version and keeps its history")
  func migratesVersionFourOnPostgres() async throws {
    guard StoreKind.postgresURL != nil else { return }
    let id = uuid(9)
    let text = id.uuidString.lowercased()
    try await withTemporaryPostgresDatabase { url in
      try await PostgresRunStore.withStore(url: url) { store in
        var batch = RunStoreBatch()
        batch.flowRuns = [flowRun(id, started: 0)]
        try await store.write(batch)
      }
      // Back to what a version-4 binary left: transitions and steps one row each.
      try await AgentRegistryConformanceTests.rawPostgres(
        url, "ALTER TABLE task_runs DROP COLUMN transitions", "DROP TABLE run_event_packs",
        "ALTER TABLE deployments DROP COLUMN schedule_paused, DROP COLUMN schedule_resumed_at",
        "UPDATE flow_schema SET version = 4",
        "INSERT INTO task_runs VALUES ('\(text)', 'load', -1, NULL, 'Running', NULL, 1, 0, 0, "
          + "NULL, NULL, 0)",
        "INSERT INTO transitions VALUES ('\(text)', 1, NULL, -1, 'Pending', 'Running', 0, NULL)",
        "INSERT INTO transitions VALUES ('\(text)', 2, 'load', -1, 'Pending', 'Running', 0, 'm')",
        "INSERT INTO run_events VALUES ('\(text)', 1, '\\x0102', 1)")
      let error = await #expect(throws: RunStoreError.self) {
        try await PostgresRunStore.withStore(url: url, migrating: false) { _ in }
      }
      #expect(error?.code == .needsMigration, "\(String(describing: error))")
      try await PostgresRunStore.withStore(url: url) { store in
        #expect(try await store.schemaStatus().databaseVersion == RunStoreSchema.current)
        // The run goes on after the migration (a resumed run): new records in the new form.
        var batch = RunStoreBatch()
        batch.taskRuns = [Self.taskRun(id, "load", "Success")]
        batch.transitions = [Self.transition(id, 3, "load", "Running", "Success", nil)]
        batch.events = [RunEventRecord(flowRunID: id, sequence: 2, payload: Data([3]), version: 1)]
        try await store.write(batch)
        let transitions = try await store.transitions(flowRunID: id)
        #expect(transitions.map(\.sequence) == [1, 2, 3])
        #expect(transitions.map(\.message) == [nil, "m", nil])
        #expect(try await store.taskRuns(flowRunID: id).map(\.state) == ["Success"])
        let events = try await store.events(flowRunID: id, after: 0)
        #expect(events.map(\.payload) == [Data([1, 2]), Data([3])])
      }
    }
  }
}

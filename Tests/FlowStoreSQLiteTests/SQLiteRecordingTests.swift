import FlowCore
import FlowExecutors
import FlowStoreSQLite
import FlowTesting
import Foundation
import SQLiteNIO
import Synchronization
import Testing

/// A temporary directory for one test's database; removed by `cleanup`.
private func temporaryDatabase() -> (path: String, cleanup: @Sendable () -> Void) {
  let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
    "flow-sqlite-\(UUID().uuidString)")
  return (
    directory.appendingPathComponent("runs/flow.sqlite").path,
    { try? FileManager.default.removeItem(at: directory) }
  )
}

private struct Boom: Error, CustomStringConvertible {
  var description: String { "boom" }
}

@Suite("Recording runs into SQLite", .timeLimit(.minutes(2)))
struct SQLiteRecordingTests {
  /// extract → map(square) → total, with a parameter, a failing optional branch.
  static func pipeline() -> Flow {
    let extract = task("extract") { (count: Int) -> [Int] in Array(1...count) }
    let square = task("square") { (x: Int) -> Int in x * x }
    let total = task("total") { (xs: [Int]) -> Int in xs.reduce(0, +) }
    let flaky = task("flaky") { () throws -> Int in throw Boom() }
    return Flow("recorded") {
      let count = Parameter("count", default: 3)
      _ = total(square.map(extract(count)))
      _ = flaky()
    }
  }

  @Test("the engine's steps are recorded in order and replay through the machine from the store")
  func recordsTheEventHistory() async throws {
    let (path, cleanup) = temporaryDatabase()
    defer { cleanup() }
    let store = try await SQLiteRunStore.open(path: path)
    let flow = Self.pipeline()
    let observed = FlowRunRecorder(flowName: flow.name)
    let result = try await flow.run(
      parameters: ["count": 4], environment: .testing(seed: 7), observer: observed.observer,
      recorder: RunRecorder(store: store))
    await store.close()

    let reader = try await SQLiteRunStore.open(path: path, migrating: false)
    let events = try await reader.events(flowRunID: result.flowRunID, after: 0)
    #expect(events.map(\.sequence) == Array(1...Int64(observed.history.steps.count)))
    let steps = try events.map { try FlowRunStepCoding.decode($0.payload) }
    #expect(steps.map(\.sequence) == observed.history.steps.map(\.sequence))
    let history = FlowRunHistory(flowName: flow.name, steps: steps)
    _ = try FlowRunReplayer.replay(history, flow: flow)
    // A changed flow diverges from the stored history.
    let changed = Flow("recorded") {
      _ = task("extract") { (count: Int) -> [Int] in Array(1...count) }(
        Parameter("count", default: 3))
    }
    #expect(throws: FlowReplayError.self) { try FlowRunReplayer.replay(history, flow: changed) }
    await reader.close()
  }

  @Test("every task run, transition and log record of a run is in the database")
  func recordsARun() async throws {
    let (path, cleanup) = temporaryDatabase()
    defer { cleanup() }
    let store = try await SQLiteRunStore.open(path: path)
    let flow = Self.pipeline()
    let result = try await flow.run(
      parameters: ["count": 4], environment: .testing(seed: 7),
      recorder: RunRecorder(store: store, command: ["/bin/recorded", "run"]))
    #expect(result.state.kind == .failed)
    await store.close()

    // A second process (a new connection) reads what the first wrote.
    let reader = try await SQLiteRunStore.open(path: path, migrating: false)
    let run = try #require(try await reader.flowRun(id: result.flowRunID))
    #expect(run.state == "Failed" && run.flowName == "recorded")
    #expect(run.parameters == ["count": "4"])
    #expect(run.command == ["/bin/recorded", "run"])
    #expect(run.endedAt != nil)
    let flowRecord = try #require(try await reader.flow(name: "recorded", version: run.flowVersion))
    let graph = try #require(FlowGraphDocument(json: flowRecord.graphJSON))
    #expect(graph.tasks.map(\.slug) == ["extract", "square", "total", "flaky"])
    #expect(graph.parameters.map(\.name) == ["count"])
    #expect(flowRecord.parameterSchemaJSON.contains("\"default\":3"))

    let tasks = try await reader.taskRuns(flowRunID: result.flowRunID)
    #expect(tasks.count == result.taskRuns.count)
    for expected in result.taskRuns {
      let recorded = try #require(
        tasks.first { $0.slug == expected.slug && $0.mapIndex == (expected.mapIndex ?? -1) })
      #expect(recorded.state == expected.state.kind.name)
      #expect(recorded.taskRunID == expected.id)
      #expect(recorded.attempts == expected.attempts)
    }
    #expect(tasks.first { $0.slug == "flaky" }?.message?.contains("boom") == true)

    let transitions = try await reader.transitions(flowRunID: result.flowRunID)
    #expect(transitions.map(\.sequence) == Array(1...Int64(transitions.count)))
    #expect(transitions.first?.slug == nil && transitions.first?.to == "Running")
    #expect(transitions.last?.slug == nil && transitions.last?.to == "Failed")
    // Each of the 4 squares and 4 other tasks started and finished (square's parent: Mapped).
    #expect(transitions.filter { $0.to == "Running" && $0.slug != nil }.count == 7)

    let logs = try await reader.logs(flowRunID: result.flowRunID, after: 0, minimumLevel: .trace)
    #expect(logs.map(\.message) == result.logs.map(\.message))
    #expect(logs.first?.message == "Beginning Flow run for 'recorded'")
    await reader.close()
  }

  @Test("a resumed run continues its record under the same ID")
  func resumedRun() async throws {
    let (path, cleanup) = temporaryDatabase()
    defer { cleanup() }
    let store = try await SQLiteRunStore.open(path: path)
    let flow = Self.pipeline()
    let first = try await flow.run(
      environment: .testing(seed: 1), recorder: RunRecorder(store: store))
    let second = try await flow.run(
      environment: .testing(seed: 2), resuming: first.flowRunID,
      recorder: RunRecorder(store: store))
    #expect(second.flowRunID == first.flowRunID)
    let transitions = try await store.transitions(flowRunID: first.flowRunID)
    #expect(transitions.map(\.sequence) == Array(1...Int64(transitions.count)))
    #expect(transitions.filter { $0.slug == nil && $0.to == "Running" }.count == 2)
    let runs = try await store.flowRuns(FlowRunQuery(staleBefore: .distantPast))
    #expect(runs.count == 1)
    await store.close()
  }

  @Test("a recorded run cancelled mid-write leaves the database usable")
  func cancelledRun() async throws {
    let (path, cleanup) = temporaryDatabase()
    defer { cleanup() }
    let store = try await SQLiteRunStore.open(path: path)
    let noop = task("noop") { () -> Int in 1 }
    let wait = task("wait") { () async throws -> Int in
      try await SystemWallClock().sleep(for: .seconds(30))
      return 1
    }
    let flow = Flow("cancelled") {
      for _ in 0..<2_000 { noop() }
      _ = wait()
    }
    await withTaskGroup(of: Void.self) { group in
      group.addTask {
        _ = try? await flow.run(
          executor: .concurrent(width: 4),
          recorder: RunRecorder(store: store, flushInterval: .milliseconds(1), batchSize: 50))
      }
      try? await SystemWallClock().sleep(for: .milliseconds(300))
      group.cancelAll()
    }
    // No transaction was left open: the next write commits.
    var batch = RunStoreBatch()
    let id = UUID()
    let now = Date(timeIntervalSince1970: 1_772_719_629)
    batch.flowRuns = [
      FlowRunRecord(
        id: id, flowName: "after", flowVersion: "v1", parameters: [:], executor: "sequential",
        host: "h", processID: 1, command: [], scheduledAt: now, startedAt: now, endedAt: now,
        state: "Success", message: nil, heartbeatAt: now)
    ]
    try await store.write(batch)
    #expect(try await store.flowRun(id: id)?.state == "Success")
    let runs = try await store.flowRuns(
      FlowRunQuery(flowName: "cancelled", staleBefore: .distantPast))
    // The cancelled run's end was recorded too (its final state, not a run stuck in Running).
    #expect(runs.first?.endedAt != nil && runs.first?.state != "Running")
    await store.close()
  }

  @Test("a file that is not a database is refused, naming the file and the fix")
  func notADatabase() async throws {
    let (path, cleanup) = temporaryDatabase()
    defer { cleanup() }
    try FileManager.default.createDirectory(
      atPath: URL(fileURLWithPath: path).deletingLastPathComponent().path,
      withIntermediateDirectories: true)
    try Data(repeating: 0x41, count: 4096).write(to: URL(fileURLWithPath: path))
    let error = await #expect(throws: RunStoreError.self) {
      _ = try await SQLiteRunStore.open(path: path)
    }
    #expect(error?.code == .notADatabase)
    #expect(error?.message.contains(path) == true)
    #expect(error?.message.contains("--database") == true)
  }

  @Test("a directory is refused")
  func directory() async throws {
    let (path, cleanup) = temporaryDatabase()
    defer { cleanup() }
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    let error = await #expect(throws: RunStoreError.self) {
      _ = try await SQLiteRunStore.open(path: path)
    }
    #expect(error?.code == .invalidLocation)
  }

  @Test("a database from a newer version is refused; an older binary never writes to it")
  func newerSchema() async throws {
    let (path, cleanup) = temporaryDatabase()
    defer { cleanup() }
    let store = try await SQLiteRunStore.open(path: path)
    await store.close()
    let raw = try await SQLiteConnection.open(storage: .file(path: path))
    _ = try await raw.query("UPDATE flow_schema SET version = 99", [])
    try await raw.close()
    let error = await #expect(throws: RunStoreError.self) {
      _ = try await SQLiteRunStore.open(path: path)
    }
    #expect(error?.code == .newerSchema)
    #expect(error?.message.contains("version 99") == true)
    #expect(error?.message.contains("upgrade swift-flow") == true)
  }

  @Test("a version-2 database (no agents' table) is migrated to the current version")
  func migratesVersionTwo() async throws {
    let (path, cleanup) = temporaryDatabase()
    defer { cleanup() }
    let store = try await SQLiteRunStore.open(path: path)
    await store.close()
    let raw = try await SQLiteConnection.open(storage: .file(path: path))
    for statement in [
      "DROP TABLE agents", "ALTER TABLE deployments DROP COLUMN schedule_paused",
      "ALTER TABLE deployments DROP COLUMN schedule_resumed_at",
      "UPDATE flow_schema SET version = 2",
    ] {
      _ = try await raw.query(statement, [])
    }
    try await raw.close()
    let error = await #expect(throws: RunStoreError.self) {
      _ = try await SQLiteRunStore.open(path: path, migrating: false)
    }
    #expect(error?.code == .needsMigration)
    let migrated = try await SQLiteRunStore.open(path: path)
    #expect(try await migrated.schemaStatus().databaseVersion == RunStoreSchema.current)
    try await migrated.registerAgent(
      AgentRecord(
        agentID: "a", host: "h", processID: 1, labels: [], limit: 1, flows: [],
        heartbeatInterval: .seconds(5), startedAt: Date(timeIntervalSince1970: 0)))
    #expect(try await migrated.registeredAgents().map(\.agentID) == ["a"])
    await migrated.close()
  }

  @Test("a version-3 database keeps every record through version 4's rebuilt tables")
  func migratesVersionThree() async throws {
    let (path, cleanup) = temporaryDatabase()
    defer { cleanup() }
    try FileManager.default.createDirectory(
      atPath: URL(fileURLWithPath: path).deletingLastPathComponent().path,
      withIntermediateDirectories: true)
    // The database a version-3 binary leaves: its schema, one run with a task run, two
    // transitions, a log record (all its metadata as JSON) and an engine event.
    let run = UUID(uuidString: "6F9619FF-8B86-D011-B42D-00C04FC964FF")!
    let id = run.uuidString.lowercased()
    let raw = try await SQLiteConnection.open(storage: .file(path: path))
    _ = try await raw.query("CREATE TABLE flow_schema (version BIGINT NOT NULL)", [])
    for migration in RunStoreCoding.migrations(blobType: "BLOB", sqlite: true)
    where migration.version <= 3 {
      for statement in migration.statements { _ = try await raw.query(statement, []) }
    }
    let metadata =
      #"{"attempt":"1","flow":"etl","flow_run_id":"\#(id)","state":"Running","#
      + #""task":"load","task_run_id":"\#(id)","user":"ada"}"#
    for statement in [
      "INSERT INTO flow_schema (version) VALUES (3)",
      "INSERT INTO flows VALUES ('etl', 'v1', '{}', '{}')",
      "INSERT INTO flow_runs VALUES ('\(id)', 'etl', 'v1', '{}', 'sequential', 'h', 1, '[]', "
        + "0, 0, 2000000, 'Success', 'done', 0)",
      "INSERT INTO task_runs VALUES ('\(id)', 'load', -1, NULL, 'Success', NULL, 1, 0, 0, "
        + "1000000, NULL, 0)",
      "INSERT INTO transitions VALUES ('\(id)', 1, 'load', -1, 'Pending', 'Running', 0, NULL)",
      "INSERT INTO transitions VALUES ('\(id)', 2, 'load', -1, 'Running', 'Success', 1, NULL)",
      "INSERT INTO logs VALUES ('\(id)', 1, 0, 2, 'Starting task run...', '\(metadata)')",
      "INSERT INTO run_events VALUES ('\(id)', 1, x'0102', 1)",
    ] {
      _ = try await raw.query(statement, [])
    }
    try await raw.close()

    let error = await #expect(throws: RunStoreError.self) {
      _ = try await SQLiteRunStore.open(path: path, migrating: false)
    }
    #expect(error?.code == .needsMigration)
    let store = try await SQLiteRunStore.open(path: path)
    #expect(try await store.schemaStatus().databaseVersion == RunStoreSchema.current)
    #expect(try await store.flowRun(id: run)?.state == "Success")
    #expect(try await store.taskRuns(flowRunID: run).map(\.state) == ["Success"])
    #expect(try await store.transitions(flowRunID: run).map(\.to) == ["Running", "Success"])
    let logs = try await store.logs(flowRunID: run, after: 0, minimumLevel: .trace)
    #expect(logs.map(\.message) == ["Starting task run..."])
    #expect(
      logs.first?.metadata == [
        "attempt": "1", "flow": "etl", "flow_run_id": id, "state": "Running", "task": "load",
        "task_run_id": id, "user": "ada",
      ])
    #expect(try await store.events(flowRunID: run, after: 0).map(\.payload) == [Data([1, 2])])
    await store.close()

    // The rebuilt tables (and version 6's packs) have no rowid, and a run recorded after the
    // migration reads back.
    let check = try await SQLiteConnection.open(storage: .file(path: path))
    let tables = try await check.query(
      "SELECT name FROM sqlite_master WHERE type = 'table' AND sql LIKE '%WITHOUT ROWID'", [])
    #expect(
      Set(tables.compactMap { $0.column("name")?.string })
        == ["task_runs", "transitions", "logs", "run_events", "run_event_packs", "log_packs"])
    try await check.close()
    let reopened = try await SQLiteRunStore.open(path: path)
    let result = try await Self.pipeline().run(
      parameters: ["count": 2], environment: .testing(seed: 3),
      recorder: RunRecorder(store: reopened))
    let recorded = try await reopened.logs(
      flowRunID: result.flowRunID, after: 0, minimumLevel: .trace)
    #expect(recorded.count == result.logs.count)
    #expect(recorded.map(\.metadata) == result.logs.map(\.metadata))
    await reopened.close()
  }

  @Test("an unmigrated database is reported, and migrated on request")
  func needsMigration() async throws {
    let (path, cleanup) = temporaryDatabase()
    defer { cleanup() }
    try FileManager.default.createDirectory(
      atPath: URL(fileURLWithPath: path).deletingLastPathComponent().path,
      withIntermediateDirectories: true)
    let raw = try await SQLiteConnection.open(storage: .file(path: path))
    _ = try await raw.query("CREATE TABLE unrelated (x INTEGER)", [])
    try await raw.close()
    let error = await #expect(throws: RunStoreError.self) {
      _ = try await SQLiteRunStore.open(path: path, migrating: false)
    }
    #expect(error?.code == .needsMigration)
    #expect(error?.message.contains("flow db migrate") == true)
    let store = try await SQLiteRunStore.open(path: path)
    #expect(try await store.schemaStatus().isCurrent)
    await store.close()
  }
}

@Suite("Recording when the store fails", .timeLimit(.minutes(1)))
struct RecordingFailureTests {
  @Test("a store that cannot record the start refuses the run before any task runs")
  func unavailableAtStart() async throws {
    let store = MemoryRunStore()
    try await store.migrate()
    store.setUnavailable(true)
    let ran = Counter()
    let body = task("body") { () -> Int in
      ran.increment()
      return 1
    }
    let flow = Flow("refused") { _ = body() }
    let error = await #expect(throws: FlowValidationError.self) {
      _ = try await flow.run(
        recorder: RunRecorder(
          store: store, flushInterval: .milliseconds(10), unavailableTimeout: .milliseconds(100)))
    }
    #expect(error?.code == .unrecordable)
    #expect(error?.message.contains("unavailable") == true)
    #expect(ran.value == 0)
  }

  @Test("a store down past the timeout stops the run: Crashed, naming the store's error")
  func unavailableMidRun() async throws {
    let store = MemoryRunStore()
    try await store.migrate()
    let slow = task("slow") { () async throws -> Int in
      store.setUnavailable(true)
      try await SystemWallClock().sleep(for: .seconds(30))
      return 1
    }
    let flow = Flow("stopped") { _ = slow() }
    let result = try await flow.run(
      recorder: RunRecorder(
        store: store, flushInterval: .milliseconds(10),
        unavailableTimeout: .milliseconds(200)))
    #expect(result.state.kind == .crashed)
    #expect(result.state.message?.contains("The run store failed") == true)
    #expect(result.state.message?.contains("unavailable") == true)
    store.setUnavailable(false)
    // What was written is consistent: the run's start is there, still Running (its heartbeat
    // goes stale and readers report it Crashed).
    let run = try #require(try await store.flowRun(id: result.flowRunID))
    #expect(run.state == "Running")
  }
}

/// Counts calls from task bodies.
final class Counter: Sendable {
  private let count = Mutex(0)
  func increment() { count.withLock { $0 += 1 } }
  var value: Int { count.withLock { $0 } }
}

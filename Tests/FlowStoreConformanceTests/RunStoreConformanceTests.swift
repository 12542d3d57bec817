import FlowCore
import Foundation
import Testing

/// One suite, every adapter: the in-memory store, SQLite and (with FLOW_TEST_POSTGRES_URL)
/// PostgreSQL must behave the same.
@Suite("Run store conformance", .timeLimit(.minutes(2)))
struct RunStoreConformanceTests {
  /// Log metadata with keys stored in columns of their own and others (JSON), one quoted.
  static let mixedMetadata = [
    "task": "load", "map_index": "3", "state": "Running", "user": "ada", "note": "a \"b\"\n",
  ]

  @Test("migrating twice leaves the current schema", arguments: StoreKind.available)
  func migrations(kind: StoreKind) async throws {
    try await kind.withStore { store in
      try await store.migrate()
      let status = try await store.schemaStatus()
      #expect(status.isCurrent)
      #expect(status.databaseVersion == RunStoreSchema.current)
    }
  }

  @Test(
    "a batch round-trips: flow, run, task runs, transitions, logs", arguments: StoreKind.available)
  func roundTrip(kind: StoreKind) async throws {
    try await kind.withStore { store in
      let id = uuid(1)
      var batch = RunStoreBatch()
      batch.flows = [
        FlowRecord(
          name: "etl", version: "v1", graphJSON: "{\"tasks\":[]}", parameterSchemaJSON: "{}")
      ]
      batch.flowRuns = [flowRun(id, started: 0)]
      batch.taskRuns = [
        TaskRunRecord(
          flowRunID: id, slug: "load", mapIndex: -1, taskRunID: uuid(11), state: "Success",
          message: nil, attempts: 2, crashedAttempts: 1, startedAt: instant(1),
          endedAt: instant(2.5),
          resultLocation: "etl/load", position: 2),
        TaskRunRecord(
          flowRunID: id, slug: "extract", mapIndex: 1, taskRunID: nil, state: "Running",
          message: "Running", attempts: 1, crashedAttempts: 0, startedAt: instant(1), endedAt: nil,
          resultLocation: nil, position: 0),
        TaskRunRecord(
          flowRunID: id, slug: "extract", mapIndex: 0, taskRunID: nil, state: "Failed",
          message: "boom", attempts: 1, crashedAttempts: 0, startedAt: instant(1),
          endedAt: instant(1.5), resultLocation: nil, position: 0),
      ]
      batch.transitions = (1...3).map {
        TransitionRecord(
          flowRunID: id, sequence: Int64($0), slug: $0 == 1 ? nil : "load", mapIndex: -1,
          from: "Pending", to: "Running", time: instant(Double($0)), message: "m\($0)")
      }
      batch.logs = [
        StoredLogRecord(
          flowRunID: id, sequence: 1, time: instant(1), level: StoredLogLevel(name: "debug")!,
          message: "quiet", metadata: [:]),
        StoredLogRecord(
          flowRunID: id, sequence: 2, time: instant(2), level: StoredLogLevel(name: "error")!,
          message: "loud", metadata: Self.mixedMetadata),
      ]
      try await store.write(batch)
      // A retried batch (after an ambiguous failure) writes nothing twice.
      try await store.write(batch)

      let flow = try #require(try await store.flow(name: "etl", version: "v1"))
      #expect(flow.graphJSON == "{\"tasks\":[]}")
      #expect(try await store.flow(name: "etl", version: "v2") == nil)
      let run = try #require(try await store.flowRun(id: id))
      #expect(run.flowName == "etl" && run.parameters == ["size": "3"])
      #expect(run.command == ["/bin/etl", "run"] && run.processID == 42)
      #expect(same(run.startedAt, instant(0)) && run.endedAt == nil)
      let tasks = try await store.taskRuns(flowRunID: id)
      #expect(tasks.map(\.label) == ["extract[0]", "extract[1]", "load"])
      #expect(tasks[2].attempts == 2 && tasks[2].crashedAttempts == 1)
      #expect(tasks[2].taskRunID == uuid(11) && tasks[2].resultLocation == "etl/load")
      #expect(same(tasks[2].endedAt, instant(2.5)) && tasks[1].endedAt == nil)
      let transitions = try await store.transitions(flowRunID: id)
      #expect(transitions.map(\.sequence) == [1, 2, 3])
      #expect(transitions.map(\.slug) == [nil, "load", "load"])
      #expect(transitions.map(\.message) == ["m1", "m2", "m3"])
      // The run page's narrow reads: the outline's columns, and pages of full task runs.
      let browsing = try #require(store as? any RunStoreBrowsing)
      let outline = try await browsing.runOutline(flowRunID: id)
      #expect(outline == RunOutline(outlining: tasks, transitions))
      #expect(outline.taskRuns.map(\.state) == ["Failed", "Running", "Success"])
      #expect(outline.taskRuns.allSatisfy { $0.flowRunID == id && $0.taskRunID == nil })
      #expect(outline.transitions.map(\.to) == ["Running", "Running", "Running"])
      #expect(same(outline.transitions[2].time, instant(3)))
      #expect(try await browsing.taskRuns(flowRunID: id, offset: 1, limit: 1) == [tasks[1]])
      #expect(try await browsing.taskRuns(flowRunID: id, offset: 0, limit: 5) == tasks)
      #expect(try await browsing.taskRuns(flowRunID: id, offset: 3, limit: 5).isEmpty)
      #expect(
        try await browsing.runOutline(flowRunID: uuid(99))
          == RunOutline(taskRuns: [], transitions: []))
      let all = try await store.logs(flowRunID: id, after: 0, minimumLevel: .trace)
      #expect(all.map(\.message) == ["quiet", "loud"])
      #expect(all[1].metadata == Self.mixedMetadata)
      let loud = try await store.logs(
        flowRunID: id, after: 0, minimumLevel: StoredLogLevel(name: "warning")!)
      #expect(loud.map(\.message) == ["loud"])
      #expect(try await store.logs(flowRunID: id, after: 2, minimumLevel: .trace).isEmpty)
      #expect(try await store.flowRun(id: uuid(99)) == nil)
    }
  }

  @Test("runs are found by the first characters of their ID", arguments: StoreKind.available)
  func idPrefix(kind: StoreKind) async throws {
    try await kind.withStore { store in
      var batch = RunStoreBatch()
      let ids = [
        "a4790000-0000-4000-8000-000000000001", "a4791111-0000-4000-8000-000000000002",
        "b4790000-0000-4000-8000-000000000003",
      ].map { UUID(uuidString: $0)! }
      batch.flowRuns = ids.enumerated().map { flowRun($1, started: Double($0)) }
      try await store.write(batch)
      func matching(_ prefix: String) async throws -> [UUID] {
        try await store.flowRuns(
          FlowRunQuery(limit: 10, staleBefore: instant(0), idPrefix: prefix)
        ).map(\.id)
      }
      #expect(try await matching("a479") == [ids[1], ids[0]])
      #expect(try await matching("A4791") == [ids[1]], "hexadecimal in either case")
      #expect(try await matching("b4790000-0000") == [ids[2]])
      #expect(try await matching("c479").isEmpty)
    }
  }

  @Test(
    "runs and task runs are replaced by key; heartbeats only move forward",
    arguments: StoreKind.available)
  func upserts(kind: StoreKind) async throws {
    try await kind.withStore { store in
      let id = uuid(1)
      var batch = RunStoreBatch()
      batch.flowRuns = [flowRun(id, started: 0)]
      try await store.write(batch)
      batch = RunStoreBatch()
      batch.heartbeats = [RunHeartbeat(flowRunID: id, time: instant(10))]
      try await store.write(batch)
      batch.heartbeats = [RunHeartbeat(flowRunID: id, time: instant(5))]
      try await store.write(batch)
      #expect(same(try await store.flowRun(id: id)?.heartbeatAt, instant(10)))
      batch = RunStoreBatch()
      var finished = flowRun(id, started: 0, state: "Success", ended: 20, heartbeat: 20)
      finished.message = "All reference tasks succeeded."
      batch.flowRuns = [finished]
      try await store.write(batch)
      let run = try #require(try await store.flowRun(id: id))
      #expect(run.state == "Success" && run.message == "All reference tasks succeeded.")
      #expect(same(run.endedAt, instant(20)))
    }
  }

  @Test(
    "list: newest first, keyset pages, filters by flow, state and start",
    arguments: StoreKind.available)
  func listing(kind: StoreKind) async throws {
    try await kind.withStore { store in
      var batch = RunStoreBatch()
      for n in 1...5 {
        batch.flowRuns.append(
          flowRun(
            uuid(n), flow: n % 2 == 0 ? "even" : "odd", started: Double(n),
            state: n == 5 ? "Running" : "Success", ended: n == 5 ? nil : Double(n) + 0.5))
      }
      // Two runs started at the same instant: the ID breaks the tie, and no page skips one.
      batch.flowRuns.append(flowRun(uuid(6), flow: "odd", started: 5, state: "Failed", ended: 6))
      try await store.write(batch)
      let fresh = instant(5)
      var seen: [UUID] = []
      var cursor: FlowRunCursor?
      repeat {
        let page = try await store.flowRuns(
          FlowRunQuery(limit: 2, after: cursor, staleBefore: fresh))
        seen += page.map(\.id)
        cursor = page.count == 2 ? FlowRunCursor(startedAt: page[1].startedAt, id: page[1].id) : nil
      } while cursor != nil
      #expect(seen == [uuid(6), uuid(5), uuid(4), uuid(3), uuid(2), uuid(1)])
      let even = try await store.flowRuns(FlowRunQuery(flowName: "even", staleBefore: fresh))
      #expect(even.map(\.id) == [uuid(4), uuid(2)])
      let recent = try await store.flowRuns(FlowRunQuery(since: instant(4), staleBefore: fresh))
      #expect(recent.map(\.id) == [uuid(6), uuid(5), uuid(4)])
      let failed = try await store.flowRuns(FlowRunQuery(state: "Failed", staleBefore: fresh))
      #expect(failed.map(\.id) == [uuid(6)])
      let running = try await store.flowRuns(FlowRunQuery(state: "Running", staleBefore: fresh))
      #expect(running.map(\.id) == [uuid(5)])
    }
  }

  @Test("a Running run with a stale heartbeat reads as Crashed", arguments: StoreKind.available)
  func staleHeartbeat(kind: StoreKind) async throws {
    try await kind.withStore { store in
      var batch = RunStoreBatch()
      batch.flowRuns = [flowRun(uuid(1), started: 0, heartbeat: 3)]
      try await store.write(batch)
      let later = instant(40)
      let crashed = try await store.flowRuns(FlowRunQuery(state: "Crashed", staleBefore: later))
      #expect(crashed.map(\.id) == [uuid(1)])
      #expect(crashed.first?.state == "Crashed")
      #expect(crashed.first?.message?.contains("flow runs resume") == true)
      #expect(try await store.flowRuns(FlowRunQuery(state: "Running", staleBefore: later)).isEmpty)
      let early = try await store.flowRuns(FlowRunQuery(staleBefore: instant(2)))
      #expect(early.first?.state == "Running")
    }
  }

  @Test(
    "engine events append in order; a taken sequence writes nothing", arguments: StoreKind.available
  )
  func events(kind: StoreKind) async throws {
    try await kind.withStore { store in
      let id = uuid(1)
      let events = (1...3).map {
        RunEventRecord(
          flowRunID: id, sequence: Int64($0), payload: Data([UInt8($0), 0, 255]), version: 1)
      }
      try await store.appendEvents(events)
      let clash = [
        RunEventRecord(flowRunID: id, sequence: 4, payload: Data([4]), version: 1),
        RunEventRecord(flowRunID: id, sequence: 3, payload: Data([9]), version: 1),
      ]
      let error = await #expect(throws: RunStoreError.self) { try await store.appendEvents(clash) }
      #expect(error?.code == .conflict)
      #expect(error?.message.contains("already recorded") == true)
      #expect(try await store.events(flowRunID: id, after: 0) == events)
      #expect(try await store.events(flowRunID: id, after: 2) == [events[2]])
      #expect(try await store.events(flowRunID: uuid(2), after: 0).isEmpty)
    }
  }

  @Test(
    "prune deletes finished runs older than the cutoff, with their records",
    arguments: StoreKind.available)
  func prune(kind: StoreKind) async throws {
    try await kind.withStore { store in
      var batch = RunStoreBatch()
      for n in 1...4 {
        batch.flowRuns.append(
          flowRun(
            uuid(n), started: Double(n), state: n == 4 ? "Running" : "Success",
            ended: n == 4 ? nil : Double(n) + 1))
        batch.transitions.append(
          TransitionRecord(
            flowRunID: uuid(n), sequence: 1, slug: nil, mapIndex: -1, from: "Pending",
            to: "Running",
            time: instant(Double(n)), message: nil))
        batch.logs.append(
          StoredLogRecord(
            flowRunID: uuid(n), sequence: 1, time: instant(Double(n)), level: .trace, message: "x",
            metadata: [:]))
      }
      try await store.write(batch)
      try await store.appendEvents([
        RunEventRecord(flowRunID: uuid(1), sequence: 1, payload: Data([1]), version: 1)
      ])
      #expect(try await store.prune(endedBefore: instant(100), limit: 1) == 1)
      #expect(try await store.flowRun(id: uuid(1)) == nil)
      #expect(try await store.transitions(flowRunID: uuid(1)).isEmpty)
      #expect(try await store.logs(flowRunID: uuid(1), after: 0, minimumLevel: .trace).isEmpty)
      #expect(try await store.events(flowRunID: uuid(1), after: 0).isEmpty)
      // Run 3 ended at 4: not before the cutoff 3.5; run 4 is still running.
      #expect(try await store.prune(endedBefore: instant(3.5), limit: 100) == 1)
      #expect(try await store.flowRun(id: uuid(2)) == nil)
      #expect(try await store.flowRun(id: uuid(3)) != nil)
      #expect(try await store.flowRun(id: uuid(4)) != nil)
      #expect(try await store.transitions(flowRunID: uuid(3)).count == 1)
    }
  }
}

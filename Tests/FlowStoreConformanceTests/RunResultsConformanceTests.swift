import FlowCore
import FlowStorePostgres
import Foundation
import Testing

/// Task outputs kept in the run database (durable execution), the same on every adapter:
/// stored by run and location, replaced, split into chunks past 1 MiB, fenced by the run's
/// lease when an agent writes them, and pruned with their run. Also the agent's flush of
/// several runs' records, which PostgreSQL writes as one prepared statement.
@Suite("Run results conformance", .timeLimit(.minutes(2)))
struct RunResultsConformanceTests {
  static func value(_ text: String, metadata: [String: String] = [:]) -> StoredResult {
    StoredResult(
      serializer: "json", typeName: "String", payload: Data(text.utf8), metadata: metadata)
  }

  /// `count` bytes that differ from chunk to chunk (a misordered chunk shows).
  static func bytes(_ count: Int) -> Data {
    Data((0..<count).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ $0 / runResultChunkSize) })
  }

  @Test(
    "outputs are stored by run and location, replaced, chunked past 1 MiB, pruned with the run",
    arguments: StoreKind.available)
  func storeAndRead(kind: StoreKind) async throws {
    try await DeploymentStoreConformanceTests().withDeployment(kind) { store, deployment in
      _ = try await DeploymentStoreConformanceTests().run(store, deployment, 1, at: 0)
      _ = try await DeploymentStoreConformanceTests().run(store, deployment, 2, at: 0)
      #expect(try await store.results(flowRunID: uuid(1)).isEmpty)
      let large = StoredResult(
        serializer: "data", typeName: "Data", payload: Self.bytes(2 * runResultChunkSize + 17))
      let empty = StoredResult(serializer: "string", typeName: "String", payload: Data())
      try await store.writeResults([
        RunResultRecord(
          flowRunID: uuid(1), location: "etl/1/load",
          result: Self.value("\"first\"", metadata: ["expires": "12.5"])),
        RunResultRecord(flowRunID: uuid(1), location: "etl/1/big", result: large),
        RunResultRecord(flowRunID: uuid(1), location: "etl/1/empty", result: empty),
        RunResultRecord(flowRunID: uuid(2), location: "etl/1/load", result: Self.value("2")),
      ])
      var stored = try await store.results(flowRunID: uuid(1))
      #expect(stored.map(\.location) == ["etl/1/big", "etl/1/empty", "etl/1/load"])
      #expect(stored.allSatisfy { $0.flowRunID == uuid(1) })
      #expect(stored[0].result == large, "a value of three chunks reads back whole, in order")
      #expect(stored[1].result == empty)
      #expect(stored[2].result == Self.value("\"first\"", metadata: ["expires": "12.5"]))
      #expect(try await store.results(flowRunID: uuid(2)).map(\.result) == [Self.value("2")])

      // Replaced by a smaller value: none of the old value's chunks remain.
      try await store.writeResults([
        RunResultRecord(flowRunID: uuid(1), location: "etl/1/big", result: Self.value("small"))
      ])
      stored = try await store.results(flowRunID: uuid(1))
      #expect(stored.first { $0.location == "etl/1/big" }?.result == Self.value("small"))
      #expect(stored.count == 3)

      // Pruned with its run; the other run's stay.
      let lease = try #require(
        try await DeploymentStoreConformanceTests().claim(store, at: 1, limit: 1).first)
      try await store.releaseLease(
        lease, outcome: .finished(state: "Success", message: nil), now: instant(2))
      #expect(try await store.prune(endedBefore: instant(100), limit: 10) == 1)
      #expect(try await store.results(flowRunID: uuid(1)).isEmpty)
      #expect(try await store.results(flowRunID: uuid(2)).count == 1)
    }
  }

  @Test(
    "an agent's outputs are written under its lease: refused with its records once it is stale",
    arguments: StoreKind.available)
  func fencedOutputs(kind: StoreKind) async throws {
    let conformance = DeploymentStoreConformanceTests()
    try await conformance.withDeployment(kind, crashRetries: 2) { store, deployment in
      _ = try await conformance.run(store, deployment, 1, at: 0)
      let first = try #require(try await conformance.claim(store, at: 1).first)
      let output = RunResultRecord(
        flowRunID: uuid(1), location: "etl/run/load", result: Self.value("\"mine\""))
      var results = try await store.write(
        [FencedWrite(lease: first, results: [output])], now: instant(2))
      #expect(results.count == 1 && results[0] == nil)
      #expect(try await store.results(flowRunID: uuid(1)) == [output])

      // The lease runs out and another agent takes the run over: the first agent's outputs
      // are refused with its records; the new holder reads what was stored and writes on.
      let second = try #require(try await conformance.claim(store, agent: "a2", at: 40).first)
      #expect(second.epoch == 2)
      let stale = RunResultRecord(
        flowRunID: uuid(1), location: "etl/run/load", result: Self.value("\"stale\""))
      var batch = RunStoreBatch()
      batch.flowRuns = [flowRun(uuid(1), started: 1, state: "Success", ended: 41)]
      results = try await store.write(
        [FencedWrite(lease: first, batch: batch, results: [stale])], now: instant(41))
      #expect(results.first??.code == .staleLease)
      #expect(try await store.results(flowRunID: uuid(1)) == [output])
      let next = RunResultRecord(
        flowRunID: uuid(1), location: "etl/run/next", result: Self.value("\"taken over\""))
      results = try await store.write(
        [
          FencedWrite(
            lease: second, batch: batch, release: .finished(state: "Success", message: nil),
            results: [next])
        ], now: instant(42))
      #expect(results.count == 1 && results[0] == nil)
      #expect(try await store.results(flowRunID: uuid(1)) == [output, next])
      #expect(try await store.deploymentRun(id: uuid(1))?.state == "Success")
    }
  }

  /// A run's records as its recorder writes them: its flow run (ended when `ended`), a task
  /// run, a transition, a log record and an engine event.
  static func records(_ id: UUID, state: String, ended: Double?) -> RunStoreBatch {
    var batch = RunStoreBatch()
    batch.flows = [DeploymentStoreConformanceTests.flow()]
    batch.flowRuns = [flowRun(id, started: 1, state: state, ended: ended)]
    batch.taskRuns = [
      TaskRunRecord(
        flowRunID: id, slug: "load", mapIndex: -1, taskRunID: uuid(900), state: "Success",
        message: "a \"quoted\", \\ {braced} message", attempts: 1, crashedAttempts: 0,
        startedAt: instant(1), endedAt: instant(2), resultLocation: nil, position: 0)
    ]
    batch.transitions = [
      TransitionRecord(
        flowRunID: id, sequence: 1, slug: "load", mapIndex: -1, from: "Running", to: "Success",
        time: instant(2), message: nil)
    ]
    batch.logs = [
      StoredLogRecord(
        flowRunID: id, sequence: 1, time: instant(2), level: StoredLogLevel(rank: 2),
        message: "loaded", metadata: ["flow": "etl", "task": "load", "user": "ada"])
    ]
    batch.events = [
      RunEventRecord(
        flowRunID: id, sequence: 1, payload: Data([0, 1, 0x5c, 0x22, 255]), version: 1)
    ]
    return batch
  }

  @Test(
    "a flush of distinct runs: each record written, the stale run refused alone, ends released",
    arguments: StoreKind.available)
  func flushOfDistinctRuns(kind: StoreKind) async throws {
    let conformance = DeploymentStoreConformanceTests()
    try await conformance.withDeployment(kind, crashRetries: 3) { store, deployment in
      for n in 1...4 { _ = try await conformance.run(store, deployment, n, at: 0) }
      let mine = try await conformance.claim(store, at: 1)
      #expect(mine.count == 4)
      // Run 2's lease runs out and another agent takes it over.
      let kept = try await store.renewLeases(
        [mine[0], mine[2], mine[3]], leaseDuration: .seconds(60), now: instant(20))
      let taken = try await store.claim(
        LeaseClaim(
          agentID: "a2", flows: [FlowKey(name: "etl", version: "v1")], limit: 10,
          leaseDuration: .seconds(30), now: instant(40)))
      #expect(taken.map(\.lease.runID) == [mine[1].runID])
      let results = try await store.write(
        [
          // Records only: the run goes on.
          FencedWrite(
            lease: kept.renewed[0], batch: Self.records(mine[0].runID, state: "Running", ended: nil)
          ),
          // Stale: nothing of it lands.
          FencedWrite(
            lease: mine[1], batch: Self.records(mine[1].runID, state: "Success", ended: 41),
            release: .finished(state: "Success", message: nil)),
          // The run's end with its records.
          FencedWrite(
            lease: kept.renewed[1], batch: Self.records(mine[2].runID, state: "Failed", ended: 41),
            release: .finished(state: "Failed", message: "boom")),
          // An end without records (the run could not start): its flow run is ended too.
          FencedWrite(
            lease: kept.renewed[2], release: .finished(state: "Failed", message: "no flow")),
        ], now: instant(41))
      #expect(results.count == 4)
      #expect(results[0] == nil && results[2] == nil && results[3] == nil)
      #expect(results[1]?.code == .staleLease && "\(results[1]!)".contains("epoch 2"))

      let first = mine[0].runID
      #expect(try await store.flowRun(id: first)?.state == "Running")
      let tasks = try await store.taskRuns(flowRunID: first)
      #expect(tasks.map(\.message) == ["a \"quoted\", \\ {braced} message"])
      #expect(try await store.transitions(flowRunID: first).map(\.to) == ["Success"])
      let logs = try await store.logs(flowRunID: first, after: 0, minimumLevel: .trace)
      #expect(logs.map(\.message) == ["loaded"] && logs.first?.metadata["user"] == "ada")
      #expect(
        try await store.events(flowRunID: first, after: 0).map(\.payload) == [
          Data([0, 1, 0x5c, 0x22, 255])
        ])
      #expect(try await store.deploymentRun(id: first)?.state == "Running")

      #expect(try await store.flowRun(id: mine[1].runID)?.state == "Running")
      #expect(try await store.transitions(flowRunID: mine[1].runID).isEmpty)
      #expect(try await store.deploymentRun(id: mine[1].runID)?.leaseAgent == "a2")

      let failed = try #require(try await store.deploymentRun(id: mine[2].runID))
      #expect(failed.state == "Failed" && failed.message == "boom" && failed.isFinished)
      #expect(try await store.flowRun(id: mine[2].runID)?.state == "Failed")
      #expect(same(try await store.flowRun(id: mine[2].runID)?.endedAt, instant(41)))
      let unstarted = try #require(try await store.deploymentRun(id: mine[3].runID))
      #expect(unstarted.state == "Failed" && unstarted.message == "no flow")
      let flowRun = try #require(try await store.flowRun(id: mine[3].runID))
      #expect(flowRun.state == "Failed" && flowRun.message == "no flow" && flowRun.endedAt != nil)
      for lease in [mine[2], mine[3]] {
        let history = try await store.leaseHistory(runID: lease.runID)
        #expect(history.count == 1 && same(history[0].releasedAt, instant(41)))
      }
      #expect(try await store.leaseHistory(runID: first).allSatisfy { $0.releasedAt == nil })
      // A later write of the ended run is refused: it holds no lease any more.
      let again = try await store.write(
        [
          FencedWrite(
            lease: kept.renewed[1], batch: Self.records(mine[2].runID, state: "Failed", ended: 41))
        ],
        now: instant(42))
      #expect(again.first??.code == .staleLease)
    }
  }

  @Test("a version-4 PostgreSQL database migrates to the current version, results included")
  func postgresMigration() async throws {
    guard StoreKind.postgresURL != nil else { return }
    try await withTemporaryPostgresDatabase { url in
      try await PostgresRunStore.withStore(url: url) { _ in }
      try await AgentRegistryConformanceTests.rawPostgres(
        url, "DROP TABLE run_results", "DROP TABLE run_event_packs", "DROP TABLE log_packs",
        "ALTER TABLE task_runs DROP COLUMN transitions",
        "ALTER TABLE deployments DROP COLUMN schedule_paused, DROP COLUMN schedule_resumed_at",
        "UPDATE flow_schema SET version = 4")
      let error = await #expect(throws: RunStoreError.self) {
        try await PostgresRunStore.withStore(url: url, migrating: false) { _ in }
      }
      #expect(error?.code == .needsMigration)
      try await PostgresRunStore.withStore(url: url) { store in
        #expect(try await store.schemaStatus().databaseVersion == RunStoreSchema.current)
        let record = RunResultRecord(
          flowRunID: uuid(7), location: "etl/7/load", result: Self.value("7"))
        try await store.writeResults([record])
        #expect(try await store.results(flowRunID: uuid(7)) == [record])
      }
    }
  }
}

import FlowCore
import FlowOrchestration
import FlowStorePostgres
import FlowTesting
import Foundation
import Testing

/// An agent's group commit on the in-memory store and a real PostgreSQL (FLOW_TEST_POSTGRES_URL;
/// its case is skipped without it): concurrent writes of several runs share transactions,
/// and a stale lease fences off only its own run's writes.
@Suite("Fenced write queue: group commit across an agent's runs", .timeLimit(.minutes(2)))
struct FencedWriteQueueTests {
  enum Kind: String, CustomStringConvertible, CaseIterable {
    case memory
    case postgres
    var description: String { rawValue }
    static var available: [Kind] { agentTestPostgresURL == nil ? [.memory] : allCases }
  }

  func withStore(_ kind: Kind, _ body: (any DeploymentStore) async throws -> Void) async throws {
    switch kind {
    case .memory:
      let store = MemoryRunStore()
      try await store.migrate()
      try await body(store)
    case .postgres:
      let url = try #require(agentTestPostgresURL)
      try await PostgresRunStore.withStore(url: url) { try await body($0) }
    }
  }

  @Test(
    "40 concurrent writes of 4 runs are all written, fewer transactions than writes on a database",
    arguments: Kind.available)
  func groupCommit(kind: Kind) async throws {
    try await withStore(kind) { store in
      let clock = SystemWallClock()
      let label = "queue-" + UUID().uuidString.prefix(8).lowercased()
      let flow = FlowRecord(
        name: label, version: "v1", graphJSON: "{}", parameterSchemaJSON: "{}")
      _ = try await store.createProject(ProjectRecord(name: "queue", createdAt: clock.now()))
      let deployment = try await store.registerDeployment(
        DeploymentRegistration(project: "queue", name: label, flow: flow, id: UUID()),
        now: clock.now())
      for n in 0..<5 {
        _ = try await store.createDeploymentRun(
          DeploymentRunRequest(
            runID: UUID(), deploymentID: deployment.id, scheduledAt: clock.now(),
            idempotencyKey: "\(n)", now: clock.now()))
      }
      let claimed = try await store.claim(
        LeaseClaim(
          agentID: "a1", flows: [FlowKey(name: label, version: "v1")], limit: 5,
          leaseDuration: .seconds(60), now: clock.now()))
      #expect(claimed.count == 5)
      // The fifth run is fenced: its lease is given back under it first.
      let stale = claimed[4].lease
      try await store.releaseLease(stale, outcome: .returned, now: clock.now())
      let queue = FencedWriteQueue(store: store, clock: clock)
      let results = await withTaskGroup(of: (UUID, RunStoreError?).self) { group in
        for claim in claimed {
          group.addTask {
            // One run's writes go one after another, as a recorder's do.
            var last: RunStoreError?
            for sequence in 1...10 {
              var batch = RunStoreBatch()
              batch.logs = [
                StoredLogRecord(
                  flowRunID: claim.lease.runID, sequence: Int64(sequence), time: clock.now(),
                  level: StoredLogLevel(rank: 2), message: "line \(sequence)", metadata: [:])
              ]
              if let error = await queue.submit(FencedWrite(lease: claim.lease, batch: batch)) {
                last = error
              }
            }
            return (claim.lease.runID, last)
          }
        }
        var all: [UUID: RunStoreError?] = [:]
        for await (id, error) in group { all[id] = error }
        return all
      }
      for claim in claimed.prefix(4) {
        #expect(results[claim.lease.runID] ?? nil == nil)
        let logs = try await store.logs(
          flowRunID: claim.lease.runID, after: 0, minimumLevel: .trace)
        #expect(logs.map(\.sequence) == Array(1...10))
      }
      #expect(results[stale.runID]??.code == .staleLease)
      #expect(
        try await store.logs(flowRunID: stale.runID, after: 0, minimumLevel: .trace).isEmpty)
      if kind == .postgres {
        #expect(queue.flushes < 50, "writes waiting together share one transaction")
      }
      #expect(queue.flushes <= 50)
    }
  }

  @Test(
    "a run's ending records wait for its lease's release and land with it in one transaction",
    arguments: Kind.available)
  func endingWithRelease(kind: Kind) async throws {
    try await withStore(kind) { store in
      let clock = SystemWallClock()
      let label = "ending-" + UUID().uuidString.prefix(8).lowercased()
      let flow = FlowRecord(name: label, version: "v1", graphJSON: "{}", parameterSchemaJSON: "{}")
      _ = try await store.createProject(ProjectRecord(name: "ending", createdAt: clock.now()))
      let deployment = try await store.registerDeployment(
        DeploymentRegistration(project: "ending", name: label, flow: flow, id: UUID()),
        now: clock.now())
      let id = try await store.createDeploymentRun(
        DeploymentRunRequest(
          runID: UUID(), deploymentID: deployment.id, scheduledAt: clock.now(),
          idempotencyKey: "1", now: clock.now())
      ).run.id
      let lease = try #require(
        try await store.claim(
          LeaseClaim(
            agentID: "a1", flows: [FlowKey(name: label, version: "v1")], limit: 1,
            leaseDuration: .seconds(60), now: clock.now())
        ).first?.lease)
      let queue = FencedWriteQueue(store: store, clock: clock)
      let ending = EndingRecords()
      let fenced = FencedRunStore(
        base: store, lease: lease, writes: queue, ending: ending, onFenced: { _ in })
      func record(state: String, ended: Bool, sequence: Int64) -> RunStoreBatch {
        var batch = RunStoreBatch()
        batch.flowRuns = [
          FlowRunRecord(
            id: id, flowName: label, flowVersion: "v1", parameters: [:], executor: "test",
            host: "h", processID: 1, command: [], scheduledAt: clock.now(),
            startedAt: clock.now(), endedAt: ended ? clock.now() : nil, state: state,
            message: nil, heartbeatAt: clock.now())
        ]
        batch.logs = [
          StoredLogRecord(
            flowRunID: id, sequence: sequence, time: clock.now(), level: StoredLogLevel(rank: 2),
            message: "line \(sequence)", metadata: [:])
        ]
        return batch
      }
      // A write that does not end the run goes at once.
      try await fenced.write(record(state: "Running", ended: false, sequence: 1))
      #expect(try await store.logs(flowRunID: id, after: 0, minimumLevel: .trace).count == 1)
      // The one that ends it, and any after it, wait.
      try await fenced.write(record(state: "Success", ended: true, sequence: 2))
      try await fenced.appendEvents([])
      #expect(try await store.flowRun(id: id)?.state == "Running")
      #expect(try await store.logs(flowRunID: id, after: 0, minimumLevel: .trace).count == 1)
      #expect(queue.flushes == 1)
      // The release takes them along: one transaction more.
      let error = await queue.submit(
        FencedWrite(
          lease: lease, batch: ending.take(), release: .finished(state: "Success", message: nil)))
      #expect(error == nil)
      #expect(queue.flushes == 2)
      #expect(try await store.flowRun(id: id)?.state == "Success")
      #expect(try await store.logs(flowRunID: id, after: 0, minimumLevel: .trace).count == 2)
      let run = try #require(try await store.deploymentRun(id: id))
      #expect(run.state == "Success" && run.isFinished && run.leaseAgent == nil)
      #expect(try await store.leaseHistory(runID: id).first?.releasedAt != nil)
      #expect(ending.take().isEmpty, "taken once")
    }
  }

  @Test(
    "on PostgreSQL leases go by the database's clock: a skewed agent clock neither shortens nor stretches them",
    .enabled(if: agentTestPostgresURL != nil))
  func databaseClock() async throws {
    try await withStore(.postgres) { store in
      let label = "clock-" + UUID().uuidString.prefix(8).lowercased()
      let flow = FlowRecord(
        name: label, version: "v1", graphJSON: "{}", parameterSchemaJSON: "{}")
      _ = try await store.createProject(ProjectRecord(name: "clock", createdAt: Date()))
      let deployment = try await store.registerDeployment(
        DeploymentRegistration(project: "clock", name: label, flow: flow, id: UUID()),
        now: Date())
      let run = try await store.createDeploymentRun(
        DeploymentRunRequest(
          runID: UUID(), deploymentID: deployment.id, scheduledAt: Date().addingTimeInterval(-1),
          idempotencyKey: "1", now: Date())
      ).run
      // An agent whose clock is an hour ahead: the lease still ends a second after the
      // server's now, not an hour and a second after its own.
      let claimed = try await store.claim(
        LeaseClaim(
          agentID: "ahead", flows: [FlowKey(name: label, version: "v1")], limit: 1,
          leaseDuration: .seconds(1), now: Date().addingTimeInterval(3600)))
      let lease = try #require(claimed.first?.lease)
      #expect(lease.runID == run.id)
      #expect(abs(lease.expiresAt.timeIntervalSinceNow) < 30, "\(lease.expiresAt)")
      // An agent whose clock is an hour behind cannot stretch it: once the server's second has
      // passed, its write is fenced and its renewal lost, whatever its own clock says.
      try await Task.sleep(for: .milliseconds(1_500))
      let behind = Date().addingTimeInterval(-3600)
      var batch = RunStoreBatch()
      batch.logs = [
        StoredLogRecord(
          flowRunID: run.id, sequence: 1, time: behind, level: StoredLogLevel(rank: 2),
          message: "late", metadata: [:])
      ]
      let results = try await store.write([FencedWrite(lease: lease, batch: batch)], now: behind)
      #expect(results.first??.code == .staleLease)
      #expect(try await store.logs(flowRunID: run.id, after: 0, minimumLevel: .trace).isEmpty)
      let renewal = try await store.renewLeases(
        [lease], leaseDuration: .seconds(30), now: behind)
      #expect(renewal.lost == [run.id])
    }
  }
}

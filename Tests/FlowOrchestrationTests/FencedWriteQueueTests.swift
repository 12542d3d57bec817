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
}

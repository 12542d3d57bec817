import FlowCore
import FlowExecutors
import FlowOrchestration
import FlowResults
import FlowTesting
import Foundation
import Synchronization
import Testing

/// Durable execution in the run database: a run held under a lease persists its outputs
/// through its fenced writes, in the transactions of its records; whoever takes the run over
/// reads them from the database and does not run those tasks again.
@Suite("Durable outputs in the run database")
struct DatabaseOutputsTests {
  /// Gives `first` once, then new IDs (a deployment run's flow run keeps the run's ID).
  final class FirstID: IDGenerator {
    private let first: Mutex<UUID?>
    init(_ first: UUID) { self.first = Mutex(first) }
    func next() -> UUID {
      first.withLock { first in
        defer { first = nil }
        return first
      } ?? UUID()
    }
  }

  @Test("outputs written under a lease land with its records; a takeover reuses them")
  func takeover() async throws {
    let store = MemoryRunStore()
    try await store.migrate()
    let ran = Mutex<[String]>([])
    let load = task("load") { () -> Int in
      ran.withLock { $0.append("load") }
      return 20
    }
    let double = task("double") { (n: Int) -> Int in
      ran.withLock { $0.append("double") }
      return n * 2
    }
    let flow = Flow("durable-db") { _ = double(load()) }
    let now = Date()
    _ = try await store.createProject(ProjectRecord(name: "p", createdAt: now))
    let deployment = try await store.registerDeployment(
      DeploymentRegistration(project: "p", name: "d", flow: flow.record, id: UUID()), now: now)
    let runID = try await store.createDeploymentRun(
      DeploymentRunRequest(
        runID: UUID(), deploymentID: deployment.id, scheduledAt: now, idempotencyKey: "k",
        now: now)
    ).run.id
    let key = FlowKey(name: flow.name, version: flow.record.version)
    func claim(_ agent: String, at time: Date) async throws -> RunLease {
      try #require(
        try await store.claimRuns(
          LeaseClaim(
            agentID: agent, flows: [key], limit: 1, leaseDuration: .seconds(30), now: time)
        ).first)
    }
    func run(_ lease: RunLease, stored: [RunResultRecord]) async throws -> FlowRunResult {
      let outputs = RunDatabaseResultStore(
        flowRunID: lease.runID, stored: stored, in: store.description)
      let clock = SystemWallClock()
      let fenced = FencedRunStore(
        base: store, lease: lease, writes: FencedWriteQueue(store: store, clock: clock),
        ending: nil, results: outputs
      ) { _ in }
      let fresh = lease.epoch == 1
      return try await flow.persistingOutputs(in: outputs).run(
        environment: RunEnvironment(ids: FirstID(fresh ? lease.runID : UUID())),
        resuming: fresh ? nil : lease.runID, recorder: RunRecorder(store: fenced))
    }

    let first = try await claim("a1", at: now)
    let done = try await run(first, stored: [])
    #expect(done.state.kind == .success && done.flowRunID == runID)
    #expect(ran.withLock { $0 } == ["load", "double"])
    let stored = try await store.results(flowRunID: runID)
    #expect(
      stored.map(\.location) == [
        "durable-db/\(runID.uuidString.lowercased())/double",
        "durable-db/\(runID.uuidString.lowercased())/load",
      ])
    #expect(stored.allSatisfy { $0.result.serializer == "json" })

    // The first agent is presumed dead; another takes the run over after its lease ran out:
    // it reads the outputs from the database and runs neither task again.
    let second = try await claim("a2", at: now.addingTimeInterval(60))
    #expect(second.epoch == 2)
    ran.withLock { $0.removeAll() }
    let resumed = try await run(second, stored: try await store.results(flowRunID: runID))
    #expect(resumed.state.kind == .success)
    #expect(ran.withLock { $0 }.isEmpty, "\(ran.withLock { $0 })")
    #expect(resumed.taskRun("load")?.state.kind == .cached)
    #expect(resumed.taskRun("double")?.state.kind == .cached)

    // The first agent's outputs are fenced off with its records now.
    let late = RunDatabaseResultStore(flowRunID: runID, in: store.description)
    try late.write(
      StoredResult(serializer: "json", typeName: "Int", payload: Data("1".utf8)),
      at: "durable-db/\(runID.uuidString.lowercased())/load")
    let refused = try await store.write(
      [FencedWrite(lease: first, results: late.takePending())], now: Date())
    #expect(refused.first??.code == .staleLease)
    #expect(try await store.results(flowRunID: runID) == stored)
  }

  @Test("a value is read back as written, queued once per location, and requeued on failure")
  func adapter() throws {
    let id = UUID()
    let kept = RunResultRecord(
      flowRunID: id, location: "f/r/load",
      result: StoredResult(serializer: "json", typeName: "Int", payload: Data("1".utf8)))
    let other = RunResultRecord(flowRunID: UUID(), location: "f/r/other", result: kept.result)
    let results = RunDatabaseResultStore(flowRunID: id, stored: [kept, other], in: "memory:x")
    #expect(results.description == "the run database (memory:x)")
    #expect(try results.read(at: "f/r/load") == kept.result)
    #expect(try results.read(at: "f/r/other") == nil, "another run's values are not this run's")
    #expect(results.takePending().isEmpty, "values stored before are not written again")
    let two = StoredResult(serializer: "json", typeName: "Int", payload: Data("2".utf8))
    let three = StoredResult(serializer: "json", typeName: "Int", payload: Data("3".utf8))
    try results.write(two, at: "f/r/a")
    try results.write(three, at: "f/r/b")
    try results.write(three, at: "f/r/a")
    #expect(try results.read(at: "f/r/a") == three)
    let taken = results.takePending()
    #expect(taken.map(\.location) == ["f/r/b", "f/r/a"])
    #expect(taken.map(\.result) == [three, three])
    try results.write(two, at: "f/r/b")
    results.restore(taken)
    #expect(
      results.takePending().map { "\($0.location)=\($0.result == two ? 2 : 3)" } == [
        "f/r/a=3", "f/r/b=2",
      ])
    #expect(throws: ResultStoreError.self) { try results.write(two, at: "../escape") }
  }
}

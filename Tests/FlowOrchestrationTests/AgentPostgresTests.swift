import FlowCore
import FlowExecutors
import FlowOrchestration
import FlowStorePostgres
import Foundation
import Logging
import ServiceLifecycle
import Testing

/// The PostgreSQL server the agent tests may use (`.ci/run` starts one and sets it).
let agentTestPostgresURL = ProcessInfo.processInfo.environment["FLOW_TEST_POSTGRES_URL"]

/// Agents in one process on a real PostgreSQL (FLOW_TEST_POSTGRES_URL; skipped without it),
/// sharing the store's connection pool: every run ends, none stays Running.
@Suite(
  "Agents sharing one PostgreSQL pool", .timeLimit(.minutes(2)),
  .enabled(if: agentTestPostgresURL != nil))
struct AgentPostgresTests {
  static let quiet = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }

  static let flow = Flow("pool-noop") {
    let noop = task("noop") { () -> Int in 1 }
    _ = noop()
  }

  @Test("4 agents of 8 runs each on one 8-connection pool run every queued run to Success")
  func sharedPool() async throws {
    let url = try #require(agentTestPostgresURL)
    try await PostgresRunStore.withStore(url: url) { store in
      let clock = SystemWallClock()
      let label = "pool-" + UUID().uuidString.prefix(8).lowercased()
      _ = try await store.createProject(ProjectRecord(name: "pool", createdAt: clock.now()))
      let deployment = try await store.registerDeployment(
        DeploymentRegistration(
          project: "pool", name: label, flow: Self.flow.record, labels: [label], id: UUID()),
        now: clock.now())
      let count = 200
      for n in 0..<count {
        _ = try await store.createDeploymentRun(
          DeploymentRunRequest(
            runID: UUID(), deploymentID: deployment.id, scheduledAt: clock.now(),
            idempotencyKey: "\(n)", now: clock.now()))
      }
      let agents = (0..<4).map { agent in
        AgentService(
          store: store, flows: [Self.flow],
          options: .init(
            agentID: "\(label)-\(agent)", limit: 8, leaseDuration: .seconds(30),
            poll: .milliseconds(5)),
          settings: .init(labels: [label], logger: Self.quiet))
      }
      let group = ServiceGroup(services: agents, logger: Self.quiet)
      var runs: [DeploymentRunRecord] = []
      try await withThrowingTaskGroup(of: Void.self) { tasks in
        tasks.addTask { try await group.run() }
        let deadline = clock.now().addingTimeInterval(60)
        repeat {
          try await clock.sleep(for: .milliseconds(100))
          runs = try await store.deploymentRuns(
            DeploymentRunQuery(deploymentID: deployment.id, limit: count))
        } while !runs.allSatisfy(\.isFinished) && clock.now() < deadline
        await group.triggerGracefulShutdown()
        try await tasks.waitForAll()
      }
      var states: [String: Int] = [:]
      for run in runs { states[run.state, default: 0] += 1 }
      // Before the agent sent one claim at a time, claims re-sent every poll queued up in the
      // pool ahead of the runs' writes, and the leases they brought back late were left to
      // lapse: runs stayed Running, then Crashed.
      #expect(states == ["Success": count], "the runs' states after 60 s: \(states)")
    }
  }
}

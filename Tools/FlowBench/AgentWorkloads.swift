import FlowCore
import FlowExecutors
import FlowOrchestration
import FlowStorePostgres
import Foundation
import Logging

/// No-op flow runs per second claimed, run and recorded by 4 agents (in this process, sharing
/// one connection pool) on PostgreSQL, from the agents' start to the last run's end as the
/// database recorded it, beside the same runs recorded one after another in this process
/// without agents.
func agentRunsWorkload(_ sizes: Sizes) async throws -> Figure {
  guard let url = benchPostgresURL else { throw BenchError(message: "no PostgreSQL URL") }
  let count = max(100, sizes.chain / 10)
  let flow = Flow("bench-noop") {
    let noop = task("noop") { () -> Int in 1 }
    _ = noop()
  }
  let quiet = Logger(label: "bench") { _ in SwiftLogNoOpLogHandler() }
  return try await PostgresRunStore.withStore(url: url) { store in
    let clock = SystemWallClock()
    let label = "bench-" + UUID().uuidString.prefix(8).lowercased()
    _ = try await store.createProject(ProjectRecord(name: "bench", createdAt: clock.now()))
    let deployment = try await store.registerDeployment(
      DeploymentRegistration(
        project: "bench", name: label, flow: flow.record, labels: [label], id: UUID()),
      now: clock.now())
    var ids: [UUID] = []
    for n in 0..<count {
      ids.append(
        try await store.createDeploymentRun(
          DeploymentRunRequest(
            runID: UUID(), deploymentID: deployment.id, scheduledAt: clock.now(),
            idempotencyKey: "\(n)", now: clock.now())
        ).run.id)
    }
    // Timed from here to the last run's end as the database recorded it (its clock is this
    // machine's): the check for unfinished runs below may then look only every 20 ms without
    // adding up to 20 ms to the time, and its queries take less from the agents.
    let start = clock.now()
    try await withThrowingTaskGroup(of: Void.self) { group in
      for agent in 0..<4 {
        let service = AgentService(
          store: store, flows: [flow],
          options: .init(
            agentID: "\(label)-\(agent)", limit: 8, leaseDuration: .seconds(30),
            poll: .milliseconds(5)),
          settings: .init(labels: [label], logger: quiet))
        group.addTask { try await service.run() }
      }
      // Looks for one unfinished run (not all 1,000 finished ones: reading and decoding
      // them every few milliseconds would cost the agents' CPU and database time).
      let unfinished = ["Scheduled", "Running", "Late", "Crashed"]
      while try await !store.deploymentRuns(
        DeploymentRunQuery(deploymentID: deployment.id, states: unfinished, limit: 1)
      ).isEmpty {
        try await clock.sleep(for: .milliseconds(20))
      }
      group.cancelAll()
    }
    let succeeded = try await store.deploymentRuns(
      DeploymentRunQuery(deploymentID: deployment.id, states: ["Success"], limit: count))
    guard succeeded.count == count, let end = succeeded.compactMap(\.endedAt).max() else {
      throw BenchError(message: "only \(succeeded.count) of \(count) agent runs ended Success")
    }
    let agents = end.timeIntervalSince(start)
    let timer = ContinuousClock()
    // The baseline: the same no-op runs, recorded into the same database one after another.
    let baselineStart = timer.now
    for _ in 0..<count {
      _ = try await flow.run(recorder: RunRecorder(store: store))
    }
    let baseline = seconds(timer.now - baselineStart)
    return Figure(value: Double(count) / agents, baseline: Double(count) / baseline)
  }
}

/// The agent rows (PostgreSQL only); without a server one line on standard error says so.
let agentWorkloads: [Workload] =
  benchPostgresURL == nil
  ? {
    FileHandle.standardError.write(
      Data(
        ("Skipped: postgres_records_per_s and agent_runs_per_s need PostgreSQL; set "
          + "FLOW_BENCH_POSTGRES_URL=postgres://USER@HOST:PORT/DB (`bash .ci/run` starts a "
          + "server and does)\n").utf8))
    return []
  }()
  : [
    Workload(
      key: "agent_runs_per_s", unit: "/s", target: .atLeast(1_000),
      baseline: "the same no-op runs recorded one after another, without agents",
      measure: agentRunsWorkload)
  ]

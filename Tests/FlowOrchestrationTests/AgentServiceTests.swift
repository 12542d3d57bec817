import FlowCore
import FlowExecutors
import FlowOrchestration
import FlowTesting
import Foundation
import Logging
import ServiceLifecycle
import Testing

/// The agent and scheduler services over the in-memory store, on the real clock with short
/// leases: runs are claimed, run, recorded and released; cancellation lands within one
/// heartbeat; a scheduled deployment gets one run per fire time.
@Suite("Agent and scheduler services", .timeLimit(.minutes(1)))
struct AgentServiceTests {
  static let quiet = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }

  static func flow() -> Flow {
    Flow("sleepy") {
      let seconds = Parameter("seconds", default: 0.0)
      let nap = task("nap") { (seconds: Double) async throws -> Double in
        try await SystemWallClock().sleep(for: .milliseconds(Int64(seconds * 1000)))
        return seconds
      }
      _ = nap(seconds)
    }
  }

  /// A store with the flow deployed, and the services running while `body` runs.
  /// `registeredAgo` seconds before now the deployment was registered; the services log to
  /// `logger`.
  func withAgent(
    schedule: DeploymentScheduleSpec? = nil, registeredAgo: Double = 0,
    logger: Logger = Self.quiet,
    _ body: (MemoryRunStore, DeploymentRecord) async throws -> Void
  ) async throws {
    let store = MemoryRunStore()
    try await store.migrate()
    let clock = SystemWallClock()
    _ = try await store.createProject(ProjectRecord(name: "p", createdAt: clock.now()))
    let flow = Self.flow()
    let deployment = try await store.registerDeployment(
      DeploymentRegistration(
        project: "p", name: "sleepy", flow: flow.record, schedule: schedule, id: UUID()),
      now: clock.now().addingTimeInterval(-registeredAgo))
    let agent = AgentService(
      store: store, flows: [flow],
      options: .init(
        agentID: "a1", limit: 2, leaseDuration: .seconds(5), heartbeat: .milliseconds(250),
        poll: .milliseconds(50), safetyMargin: .milliseconds(500)),
      settings: .init(recorderHeartbeat: .milliseconds(300), logger: logger))
    var services: [any Service] = [agent]
    if schedule != nil {
      services.append(
        DeploymentSchedulerService(
          store: store, options: .init(horizon: .seconds(2), tick: .milliseconds(200)),
          logger: logger))
    }
    let group = ServiceGroup(services: services, logger: Self.quiet)
    try await withThrowingTaskGroup(of: Void.self) { tasks in
      tasks.addTask { try await group.run() }
      do {
        try await body(store, deployment)
      } catch {
        await group.triggerGracefulShutdown()
        throw error
      }
      await group.triggerGracefulShutdown()
      try await tasks.waitForAll()
    }
  }

  func waitUntil(_ condition: () async throws -> Bool) async throws {
    for _ in 0..<200 {
      if try await condition() { return }
      try await SystemWallClock().sleep(for: .milliseconds(25))
    }
    Issue.record("timed out")
  }

  func create(_ store: MemoryRunStore, _ deployment: DeploymentRecord, seconds: Double) async throws
    -> UUID
  {
    try await store.createDeploymentRun(
      DeploymentRunRequest(
        runID: UUID(), deploymentID: deployment.id, scheduledAt: Date(),
        parameters: ["seconds": "\(seconds)"], idempotencyKey: UUID().uuidString, now: Date())
    ).run.id
  }

  @Test("a run is claimed, run, recorded under its ID and released with its final state")
  func runs() async throws {
    try await withAgent { store, deployment in
      let id = try await create(store, deployment, seconds: 0)
      try await waitUntil { try await store.deploymentRun(id: id)?.isFinished == true }
      let run = try #require(try await store.deploymentRun(id: id))
      #expect(run.state == "Success" && run.leaseEpoch == 1)
      let recorded = try #require(try await store.flowRun(id: id))
      #expect(recorded.state == "Success" && recorded.flowName == "sleepy")
      #expect(try await store.taskRuns(flowRunID: id).map(\.state) == ["Success"])
    }
  }

  @Test("an agent registers when it starts, heartbeats while idle, and marks itself stopped")
  func registers() async throws {
    var kept: MemoryRunStore?
    try await withAgent { store, _ in
      kept = store
      try await waitUntil { try await !store.registeredAgents().isEmpty }
      let first = try #require(try await store.registeredAgents().first)
      #expect(first.agentID == "a1" && first.limit == 2 && first.stoppedAt == nil)
      #expect(first.flows == [FlowKey(name: "sleepy", version: Self.flow().record.version)])
      #expect(first.host == SystemHost.name && first.processID == SystemHost.processID)
      // It beats at least every poll while it has free slots, every renewal when full.
      #expect(first.heartbeatInterval == .milliseconds(250))
      #expect(try await store.leaseHistory(runID: UUID()).isEmpty)
      try await waitUntil {
        try await store.registeredAgents().first.map { $0.lastHeartbeatAt > first.lastHeartbeatAt }
          ?? false
      }
    }
    let stopped = try await #require(kept).registeredAgents()
    #expect(stopped.count == 1 && stopped.first?.stoppedAt != nil)
  }

  @Test("cancellation requested in the store stops a held run within one heartbeat")
  func cancellation() async throws {
    try await withAgent { store, deployment in
      let id = try await create(store, deployment, seconds: 30)
      try await waitUntil { try await store.deploymentRun(id: id)?.state == "Running" }
      let asked = Date()
      _ = try await store.requestCancellation(runID: id, now: Date())
      try await waitUntil { try await store.deploymentRun(id: id)?.isFinished == true }
      let run = try #require(try await store.deploymentRun(id: id))
      #expect(run.state == "Cancelled")
      // One 250 ms heartbeat, and time for the run to wind down on a loaded machine.
      #expect(Date().timeIntervalSince(asked) < 3)
    }
  }

  @Test("the log names a skipped stretch of fire times by deployment, and each run an agent starts")
  func logsNameDeploymentsAndRuns() async throws {
    let logs = LogCapture()
    // Registered an hour ago with a fire time every minute: those older than the 300 s
    // catch-up window get no run; the recent ones do.
    try await withAgent(schedule: .interval(seconds: 60), registeredAgo: 3_600, logger: logs.logger)
    { store, deployment in
      try await waitUntil {
        try await store.deploymentRuns(DeploymentRunQuery(deploymentID: deployment.id))
          .contains { $0.isFinished }
      }
    }
    let warnings = logs.messages(at: .warning)
    #expect(
      warnings.contains {
        $0.hasPrefix("p/sleepy: no run for ")
          && $0.contains(" fire times from ")
          && $0.hasSuffix("older than the catch-up window (300 s) when the scheduler reached them")
      }, "\(warnings)")
    let started = logs.messages(at: .info).filter { $0.hasPrefix("running sleepy, run ") }
    #expect(!started.isEmpty && started.allSatisfy { $0.contains(" s after)") }, "\(started)")
  }

  @Test("a scheduled deployment gets one run per fire time, and they run")
  func scheduled() async throws {
    try await withAgent(schedule: .interval(seconds: 0.5)) { store, deployment in
      try await waitUntil {
        try await store.deploymentRuns(DeploymentRunQuery(states: ["Success"])).count >= 3
      }
      let runs = try await store.deploymentRuns(
        DeploymentRunQuery(deploymentID: deployment.id, limit: 100))
      let times = runs.map(\.scheduledAt)
      #expect(Set(times).count == times.count)
      #expect(runs.allSatisfy { $0.origin == .schedule })
    }
  }

  @Test("a paused schedule gets no runs; resumed, it runs from then on without catching up")
  func pausedSchedule() async throws {
    try await withAgent(schedule: .interval(seconds: 0.5)) { store, deployment in
      func runs() async throws -> [DeploymentRunRecord] {
        try await store.deploymentRuns(DeploymentRunQuery(deploymentID: deployment.id, limit: 500))
      }
      try await waitUntil { try await runs().contains { $0.state == "Success" } }
      let pausedAt = Date()
      let paused = try await store.setSchedulePaused(
        true, deploymentID: deployment.id, now: pausedAt)
      // The runs due within the 2 s horizon that had not started are gone.
      #expect(!paused.removedRuns.isEmpty)
      let kept = Set(try await runs().map(\.id))
      #expect(kept.isDisjoint(with: paused.removedRuns))
      // Several ticks and fire times later, the scheduler has created nothing.
      try await SystemWallClock().sleep(for: .milliseconds(1200))
      #expect(Set(try await runs().map(\.id)) == kept)
      let resumedAt = Date()
      _ = try await store.setSchedulePaused(false, deploymentID: deployment.id, now: resumedAt)
      try await waitUntil {
        try await runs().contains { !kept.contains($0.id) && $0.state == "Success" }
      }
      // The fire times of the pause were not caught up: every new run is due after the resume.
      let new = try await runs().filter { !kept.contains($0.id) }
      #expect(new.allSatisfy { $0.origin == .schedule && $0.scheduledAt >= resumedAt })
    }
  }
}

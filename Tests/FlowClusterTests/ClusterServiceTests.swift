import FlowCluster
import FlowClusterProtocol
import FlowCore
import FlowExecutors
import Logging
import ServiceLifecycle
import Testing

@Suite(.timeLimit(.minutes(1))) struct ClusterServiceTests {
  static let quiet = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })

  @Test("Services in one group: graceful shutdown drains the worker, then stops the scheduler")
  func gracefulShutdownDrainsThenStops() async throws {
    let scheduler = try await ClusterScheduler.start(
      .init(listen: ClusterAddress(host: "127.0.0.1", port: 0), token: "secret"))
    let worker = ClusterWorkerService(
      connect: scheduler.address, token: "secret", threads: 2, flows: [pointsFlow],
      name: "service-worker")
    // A group shuts its services down in reverse order: the worker first, then the scheduler.
    let group = ServiceGroup(
      configuration: .init(services: [scheduler, worker], logger: Self.quiet))
    let sequential = try await pointsFlow.run(parameters: ["count": 6])
    try await withThrowingTaskGroup(of: Void.self) { tasks in
      tasks.addTask { try await group.run() }
      try await scheduler.waitForWorkers(1, timeout: .seconds(30))
      let clustered = try await pointsFlow.run(
        parameters: ["count": 6], executor: .cluster(scheduler))
      #expect(clustered.taskStates == sequential.taskStates)
      await group.triggerGracefulShutdown()
      try await tasks.waitForAll()
    }
    let exit = try #require(worker.exit)
    #expect(exit.reason.code == .drained)
    #expect(!exit.failed)
  }

  @Test("a run on a scheduler that has shut down fails at once, naming the cause")
  func aStoppedSchedulerFailsRunsInsteadOfHanging() async throws {
    let scheduler = try await ClusterScheduler.start(
      .init(listen: ClusterAddress(host: "127.0.0.1", port: 0)))
    await scheduler.shutdown()
    await scheduler.shutdown()  // twice is harmless
    let late = try await pointsFlow.run(parameters: ["count": 2], executor: .cluster(scheduler))
    #expect(!late.state.isSuccessful)
    let failure = late.taskRuns.compactMap { $0.state.message }.joined(separator: "\n")
    #expect(failure.contains("has shut down"), "\(failure)")
    await #expect(throws: ClusterError.self) {
      try await scheduler.waitForWorkers(1, timeout: .seconds(1))
    }
  }
}

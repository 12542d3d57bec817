import FlowClusterCore
import FlowCore
import FlowState
import FlowTesting
import Foundation
import Testing

/// Throws the report's violations, with its JSON line and the end of its trace.
func requireOK(_ report: ClusterSimulation.Report) throws {
  guard report.violations.isEmpty else {
    throw SimulationError(
      .invariantViolated,
      report.violations.joined(separator: "\n") + "\n" + report.jsonLine + "\nlast events:\n"
        + report.traceTail.suffix(20).map(\.description).joined(separator: "\n"))
  }
}

/// A scheduler that reports every successful result twice (a double-commit bug).
struct StutteringScheduler: SimulatedClusterScheduler {
  var real: ClusterSchedulerStateMachine

  mutating func handle(
    _ event: ClusterSchedulerStateMachine.Event
  ) -> [ClusterSchedulerStateMachine.Action] {
    real.handle(event).flatMap { action -> [ClusterSchedulerStateMachine.Action] in
      if case .taskFinished(let result, _) = action, case .success = result.outcome {
        return [action, action]
      }
      return [action]
    }
  }
}

extension HeavySimulations {
  @Suite("Simulated cluster")
  struct SimulatedClusterTests {
    @Test("500 seeds of a 50-task flow on 4 workers with every fault on: every invariant holds")
    func fiftyTasksEveryFault() async throws {
      let started = ContinuousClock.now
      var states: [String: Int] = [:]
      var crashes = 0
      try await SimulationSeeds.run(0..<500) { seed in
        let report = await ClusterSimulation.run(seed: seed)
        try requireOK(report)
        states[report.flowState, default: 0] += 1
        crashes += report.counters.crashedAttempts
      }
      if SimulationSeeds.requestedSeed == nil {
        #expect(states.values.reduce(0, +) == 500)
        #expect(crashes > 0)  // the faults did hit running attempts
      }
      #expect(ContinuousClock.now - started < .seconds(120))
    }

    @Test("100 seeds of a layered 60-task DAG on 3 workers with every fault on")
    func layeredEveryFault() async throws {
      try await SimulationSeeds.run(0..<100) { seed in
        try requireOK(
          await ClusterSimulation.run(
            seed: seed, options: .init(workers: 3, flow: .layered(tasks: 60, failureRate: 0.1))))
      }
    }

    @Test("without faults the demo flow succeeds and every result is committed once")
    func noFaults() async throws {
      let report = await ClusterSimulation.run(seed: 1, options: .init(faults: .none))
      try requireOK(report)
      #expect(report.flowState == "Success" || report.flowState == "Failed")
      #expect(report.counters.crashes == 0 && report.counters.crashedAttempts == 0)
    }

    @Test("the same seed gives the same trace hash; another seed another")
    func determinism() async throws {
      let hash = try await SimulationSeeds.checkDeterminism(seed: 4242) {
        await ClusterSimulation.run(seed: $0).traceHash
      }
      #expect(await ClusterSimulation.run(seed: 4243).traceHash != hash)
    }

    @Test("retries back off as the policy says under message loss and worker crashes")
    func retriesWithBackoff() async throws {
      let policy = RetryPolicy(
        maxRetries: 6, delay: .seconds(1), backoff: .exponential(multiplier: 2),
        jitter: .proportional(0.1))
      let tasks = (0..<30).map {
        SimulatedTask(
          name: "t\($0)", retries: policy, duration: .distribution(.fixed(.milliseconds(200))),
          failureRate: 0.4)
      }
      var retried = 0
      try await SimulationSeeds.run(0..<40) { seed in
        let sim = Simulator(seed: seed)
        let cluster = SimulatedCluster(simulator: sim, configuration: .init(workers: 3))
        FaultInjector(
          simulator: sim, network: cluster.network,
          schedule: FaultSchedule(
            faults: FaultSet([.drop, .crash]), window: .seconds(60), meanGap: .seconds(2),
            dropRate: 0.02),
          targets: cluster.faultTargets
        ).start()
        cluster.startFlowRun(SimulatedFlow(name: "flaky", tasks: tasks))
        sim.schedule(after: .seconds(60)) {}
        sim.runSynchronously(until: .seconds(900))
        let violations = cluster.checkInvariants()
        guard violations.isEmpty else {
          throw SimulationError(.invariantViolated, violations.joined(separator: "\n"))
        }
        let run = cluster.runs[0]
        for task in tasks.indices where run.attempts[task] > 1 {
          retried += 1
          for retry in 1..<run.attempts[task] {
            // Attempt `retry` failed at endedAt[retry-1]; the next went in after the backoff.
            let gap = run.submittedAt[task][retry] - run.endedAt[task][retry - 1]
            let base = Duration.seconds(1) * Double(1 << (retry - 1))
            #expect(gap >= base * 0.9 && gap <= base * 1.1, "task \(task) retry \(retry): \(gap)")
          }
          let states = run.history[task]
          #expect(states.filter { $0 == .retrying }.count == run.attempts[task] - 1)
        }
      }
      #expect(retried > 100)
    }

    @Test("task bodies that sleep on the virtual clock run on the cluster under crashes")
    func sleepingBodies() async throws {
      let body = SimulatedTaskDuration.body { context in
        try await context.clock.sleep(
          for: .milliseconds(100 + 10 * context.task) * context.slowdown)
      }
      let flow = SimulatedFlow(
        name: "sleepy",
        tasks: (0..<20).map {
          SimulatedTask(
            name: "s\($0)", upstream: $0 < 5 ? [] : [$0 - 5], retries: RetryPolicy(maxRetries: 2),
            duration: body)
        })
      var hashes: [UInt64] = []
      for _ in 0..<2 {
        let report = await ClusterSimulation.run(
          seed: 9, options: .init(workers: 3, flow: flow, faults: FaultSet([.crash, .pause])))
        try requireOK(report)
        #expect(report.flowState == "Success")
        hashes.append(report.traceHash)
      }
      #expect(hashes[0] == hashes[1])
    }

    @Test("a scheduler that forgets a result is caught: the flow run never finishes")
    func forgetfulScheduler() async throws {
      let report = await ClusterSimulation.run(
        seed: 3, options: .init(faults: .none)
      ) { ForgetfulClusterScheduler(real: ClusterSchedulerStateMachine(configuration: $0), nth: 7) }
      #expect(report.invariants.contains("never reached a final state"))
      let failure = await #expect(throws: SimulationError.self) {
        try await SimulationSeeds.run(0..<5) { seed in
          try requireOK(
            await ClusterSimulation.run(seed: seed, options: .init()) {
              ForgetfulClusterScheduler(
                real: ClusterSchedulerStateMachine(configuration: $0), nth: 20)
            })
        }
      }
      #expect(failure?.message.contains("FLOW_SIM_SEED=0 swift test --filter") == true)
    }

    @Test("a scheduler that reports a result twice is caught")
    func stutteringScheduler() async {
      let report = await ClusterSimulation.run(seed: 3, options: .init(faults: .none)) {
        StutteringScheduler(real: ClusterSchedulerStateMachine(configuration: $0))
      }
      #expect(report.invariants.contains("finished twice"))
    }

    @Test("the JSON line has the fields flow simulate prints")
    func jsonLine() async throws {
      let report = await ClusterSimulation.run(
        seed: 5, options: .init(faults: .none).with(tasks: 10))
      let object =
        try JSONSerialization.jsonObject(with: Data(report.jsonLine.utf8)) as? [String: Any]
      #expect(object?["seed"] as? Int == 5)
      #expect(object?["invariants"] as? String == "ok")
      #expect((object?["trace_hash"] as? String)?.count == 16)
      #expect((object?["events"] as? Int ?? 0) > 0)
      #expect((object?["simulated_seconds"] as? Double ?? 0) > 0)
    }
  }
}

/// The CPU-heavy simulation suites, one at a time: each runs thousands of simulated seconds
/// synchronously, and running them side by side would take every thread of the cooperative
/// pool from the other tests (whose wall-time bounds would then fail).
@Suite(.serialized) enum HeavySimulations {}

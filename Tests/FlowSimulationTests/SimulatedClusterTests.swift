import FlowClusterProtocol
import FlowCore
import FlowExecutors
import FlowSimulation
import FlowState
import FlowTestKit
import Foundation
import Testing

/// Throws the report's violations, with its JSON line and the end of its trace.
func requireOK(_ report: ClusterSimulation.Report) throws {
  guard report.violations.isEmpty else {
    throw SimulationError(
      .invariantViolated,
      report.violations.map(\.description).joined(separator: "\n") + "\n" + report.jsonLine
        + "\nlast events:\n"
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
    @Test("250 seeds of a 50-task flow on 4 workers with every fault on: every invariant holds")
    func fiftyTasksEveryFault() async throws {
      let started = ContinuousClock.now
      var states: [String: Int] = [:]
      var crashes = 0
      try await SimulationSeeds.run(0..<250) { seed in
        let report = await ClusterSimulation.run(seed: seed)
        try requireOK(report)
        states[report.flowState, default: 0] += 1
        crashes += report.counters.crashedAttempts
      }
      if SimulationSeeds.requestedSeed == nil {
        #expect(states.values.reduce(0, +) == 250)
        #expect(crashes > 0)  // the faults did hit running attempts
      }
      #expect(ContinuousClock.now - started < .seconds(120))
    }

    @Test("50 seeds of a layered 60-task DAG on 3 workers with every fault on")
    func layeredEveryFault() async throws {
      try await SimulationSeeds.run(0..<50) { seed in
        try requireOK(
          await ClusterSimulation.run(
            seed: seed,
            options: .init(
              workers: 3, flow: .simulationLayered(tasks: 60),
              standIns: .init(failureRate: 0.1))))
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
      let flaky = task("t", retries: policy) { () -> Int in 0 }
      let flow = Flow("flaky") { for _ in 0..<30 { flaky() } }.withStandInBodies(
        .init(failureRate: 0.4))
      var retried = 0
      try await SimulationSeeds.run(0..<40) { seed in
        let report = await EngineSimulation.run(
          flow, seed: seed,
          options: .init(
            workers: 3, faults: FaultSet([.drop, .crash]), faultWindow: .seconds(60),
            meanFaultGap: .seconds(2), convergence: .seconds(840),
            taskDuration: .fixed(.milliseconds(200))))
        try requireOK(report)
        let result = try #require(report.result)
        #expect(result.taskRuns.count == 30)
        for run in result.taskRuns where run.attempts > 1 {
          retried += 1
          // The run's state records: each Retrying is followed, after the backoff, by Running.
          let states = result.logs.filter {
            $0.metadata["task_run_id"] == run.id.uuidString.lowercased()
              && $0.metadata["state"] != nil
          }
          var retries = 0
          for (index, record) in states.enumerated() where record.metadata["state"] == "Retrying" {
            retries += 1
            let next = try #require(
              states.dropFirst(index + 1).first { $0.metadata["state"] == "Running" },
              "\(run.label)")
            let gap = next.time.timeIntervalSince(record.time)
            let base = Double(1 << (retries - 1))
            #expect(gap >= base * 0.9 && gap <= base * 1.1, "\(run.label) retry \(retries): \(gap)")
          }
          #expect(retries == run.attempts - 1, "\(run.label)")
        }
      }
      #expect(retried > 100)
    }

    @Test("task bodies that sleep on the virtual clock run on the cluster under crashes")
    func sleepingBodies() async throws {
      let first = task("s", retries: RetryPolicy(maxRetries: 2)) { (index: Int) -> Int in
        try await TaskRunContext.current?.environment.clock.sleep(
          for: .milliseconds(100 + 10 * index))
        return index
      }
      let next = task("after", retries: RetryPolicy(maxRetries: 2)) {
        (previous: Int, index: Int) -> Int in
        try await TaskRunContext.current?.environment.clock.sleep(
          for: .milliseconds(100 + 10 * index))
        return previous + index
      }
      let flow = Flow("sleepy") {
        var refs: [Ref<Int>] = []
        for index in 0..<20 {
          refs.append(index < 5 ? first(.constant(index)) : next(refs[index - 5], .constant(index)))
        }
      }
      var hashes: [UInt64] = []
      for _ in 0..<2 {
        let report = await EngineSimulation.run(
          flow, seed: 9,
          options: .init(workers: 3, faults: FaultSet([.crash, .pause]), taskDuration: nil))
        try requireOK(report)
        #expect(report.simulation.flowState == "Success")
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

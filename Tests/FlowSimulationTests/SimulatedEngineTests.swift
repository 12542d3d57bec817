import FlowClusterProtocol
import FlowCore
import FlowExecutors
import FlowSimulation
import FlowState
import FlowTestKit
import Foundation
import Testing

/// Thrown by the first attempt of `square` for every third item, so that it retries.
struct FlakyItem: Error, CustomStringConvertible {
  let item: Int
  var description: String { "item \(item) is flaky on its first attempt" }
}

let engineItems = task("items") { (count: Int) -> [Int] in Array(1...count) }
let engineSquare = task("square", retries: RetryPolicy(maxRetries: 2, delay: .seconds(1))) {
  (item: Int) throws -> Int in
  let context = TaskRunContext.current
  if item % 3 == 0, context?.attempt == 1 { throw FlakyItem(item: item) }
  // Takes simulated time on a simulated worker (real time, briefly, elsewhere).
  try await context?.environment.clock.sleep(for: .milliseconds(item % 4 == 0 ? 20 : 5))
  return item * item
}
let engineTotal = task("total") { (values: [Int]) -> Int in
  TaskRunContext.current?.logger.info("summing", metadata: ["values.count": "\(values.count)"])
  return values.reduce(0, +)
}
let engineBroken = task("broken") { (total: Int) throws -> Int in
  throw FlakyItem(item: total)
}
let engineReport = task("report") { (total: Int) -> String in "total=\(total)" }
let engineCleanup = task("cleanup", trigger: .anyFailed) { () -> String in "cleaned up" }
let engineSkipped = task("skipped") { (total: Int) -> Int in
  guard total < 0 else { throw SkipTask("nothing negative") }
  return total
}

/// A flow with mapping, a retrying task, a failing task, a skip and a trigger
/// (`cleanup` runs because `broken` failed; `after-skip` is skipped with its upstream).
let engineFlow = Flow("engine-sim") {
  let count = Parameter("count", default: 12)
  let total = engineTotal(engineSquare.map(engineItems(count)))
  engineReport(total)
  let broken = engineBroken(total)
  engineCleanup().after(broken)
  engineReport(engineSkipped(total))
}

/// The outcome of every task run: label → state kind and result, as text.
func outcomes(_ result: FlowRunResult) -> [String: String] {
  Dictionary(
    result.taskRuns.map { run in
      (run.label, "\(run.state.kind)=\(run.state.result.map { "\($0)" } ?? "-")")
    }, uniquingKeysWith: { first, _ in first })
}

/// Throws the report's violations, with its JSON line.
func requireOK(_ report: EngineSimulation.Report) throws {
  guard report.violations.isEmpty else {
    throw SimulationError(
      .invariantViolated,
      report.violations.map(\.description).joined(separator: "\n") + "\n" + report.jsonLine
        + "\nlast events:\n"
        + report.simulation.traceTail.suffix(20).map(\.description).joined(separator: "\n"))
  }
}

/// Every fault, and workers lost often enough without failing an attempt for it.
let engineOptions = EngineSimulation.Options(
  workers: 3, capacity: 2, faults: .all,
  cluster: .init(scheduler: .init(allowedFailures: 1_000)))

extension HeavySimulations {
  @Suite("The real engine on the simulated cluster")
  struct SimulatedEngineTests {
    @Test("200 seeds with every fault on give the sequential executor's results")
    func sameResultsAsSequential() async throws {
      let sequential = try await engineFlow.run(
        parameters: ["count": 12],
        environment: RunEnvironment(
          clock: TestClock(autoAdvance: true), random: SeededRandomSource(seed: 1)))
      #expect(sequential.taskRun("broken")?.state.kind == .failed)
      #expect(sequential.taskRun("cleanup")?.state.kind == .success)
      let expected = outcomes(sequential)
      var crashedAttempts = 0
      var retried = 0
      try await SimulationSeeds.run(0..<200) { seed in
        let report = await engineFlow.runOnSimulatedCluster(
          seed: seed, parameters: ["count": 12], options: engineOptions)
        try requireOK(report)
        let result = try #require(report.result)
        #expect(result.state.kind == sequential.state.kind, "seed \(seed)")
        #expect(outcomes(result) == expected, "seed \(seed)")
        crashedAttempts += report.simulation.counters.crashedAttempts
        retried += result.mappedRuns("square").filter { $0.attempts == 2 }.count
      }
      if SimulationSeeds.requestedSeed == nil {
        #expect(crashedAttempts > 0)  // the faults did hit running attempts
        #expect(retried == 200 * 4)  // items 3, 6, 9, 12 retried once on every seed
      }
    }

    @Test("the same seed gives the same trace hash; another seed another")
    func determinism() async throws {
      let hash = try await SimulationSeeds.checkDeterminism(seed: 77) {
        await engineFlow.runOnSimulatedCluster(seed: $0, options: engineOptions).traceHash
      }
      #expect(
        await engineFlow.runOnSimulatedCluster(seed: 78, options: engineOptions).traceHash != hash)
    }

    @Test("without faults every attempt runs once and task logs come back from the workers")
    func noFaults() async throws {
      let report = await engineFlow.runOnSimulatedCluster(
        seed: 5, options: .init(faults: .none, taskDuration: .fixed(.milliseconds(50))))
      try requireOK(report)
      let result = try #require(report.result)
      #expect(report.simulation.counters.crashedAttempts == 0)
      #expect(
        result.taskRun("total")?.state.result as? Int == (1...12).map { $0 * $0 }.reduce(0, +))
      #expect(result.mappedRuns("square").map(\.attempts).reduce(0, +) == 16)
      // items, 16 square attempts, total, report, broken, cleanup, skipped: on the workers.
      #expect(report.simulation.counters.bodiesStarted == 22)
      let summing = result.logs.first { $0.message == "summing" }
      #expect(summing?.metadata["cluster.worker"]?.hasPrefix("worker-") == true)
      #expect(summing?.metadata["values.count"] == "12")
      #expect(report.simulation.simulatedSeconds > 0)
    }

    @Test("a scheduler that reports a result twice is caught")
    func stutteringScheduler() async {
      let report = await EngineSimulation.run(
        engineFlow, seed: 3, options: .init(faults: .none)
      ) { StutteringScheduler(real: ClusterSchedulerStateMachine(configuration: $0)) }
      #expect(report.invariants.contains("finished twice"))
    }

    @Test("a scheduler that forgets a result is caught, and the failing seed's rerun line printed")
    func forgetfulScheduler() async throws {
      let report = await EngineSimulation.run(
        engineFlow, seed: 3, options: .init(faults: .none, convergence: .seconds(60))
      ) { ForgetfulClusterScheduler(real: ClusterSchedulerStateMachine(configuration: $0), nth: 5) }
      #expect(report.invariants.contains("never reached a final state"))
      let failure = await #expect(throws: SimulationError.self) {
        try await SimulationSeeds.run(0..<3) { seed in
          try requireOK(
            await EngineSimulation.run(
              engineFlow, seed: seed, options: .init(faults: .none, convergence: .seconds(60))
            ) {
              ForgetfulClusterScheduler(
                real: ClusterSchedulerStateMachine(configuration: $0), nth: 5)
            })
        }
      }
      #expect(failure?.message.contains("FLOW_SIM_SEED=0 swift test --filter") == true)
    }

    @Test(
      "with allowedFailures 1 lost attempts fail as killedWorker and every invariant still holds")
    func killedWorker() async throws {
      var crashed = 0
      try await SimulationSeeds.run(0..<10) { seed in
        let report = await engineFlow.runOnSimulatedCluster(
          seed: seed,
          options: .init(
            workers: 2, faults: FaultSet([.crash]), meanFaultGap: .milliseconds(300),
            taskDuration: .fixed(.seconds(2)), cluster: .init(scheduler: .init(allowedFailures: 1))
          ))
        try requireOK(report)
        let result = try #require(report.result)
        crashed += result.taskRuns.map(\.crashedAttempts).reduce(0, +)
      }
      if SimulationSeeds.requestedSeed == nil { #expect(crashed > 0) }
    }
  }
}

import FlowCore
import FlowExecutors
import FlowSimulation
import FlowState
import FlowTestKit
import Foundation
import Testing

let branchLoad = task("branch-load") { (count: Int) throws -> [Int] in
  guard count > 0 else { throw SkipTask("nothing to load") }
  return Array(1...count)
}
let branchSum = task("branch-sum") { (values: [Int]) -> Int in values.reduce(0, +) }
let branchMax = task("branch-max") { (values: [Int]) -> Int in values.max() ?? 0 }
let branchFail = task("branch-fail") { (values: [Int]) throws -> Int in
  throw FlakyItem(item: values.count)
}
let branchReport = task("branch-report", trigger: .allFinished, skipOnUpstreamSkip: false) {
  (chosen: Outcome<Int>, failing: Outcome<Int>) -> String in
  "\(chosen.kind)=\(chosen.value.map(String.init) ?? "-") \(failing.kind)"
}

/// Branching by a parameter, a merge, and an outcome-taking report, on the simulated cluster.
let branchingFlow = Flow("branching-sim") {
  let mode = Parameter("mode", default: "sum")
  let values = branchLoad(Parameter("count", default: 5))
  let chosen = merge(
    when(mode, equals: "sum") { branchSum(values) },
    when(mode, equals: "max") { branchMax(values) })
  let failing = when(mode, equals: "max") { branchFail(values) }
  branchReport(chosen.outcome, failing.outcome)
}

extension HeavySimulations {
  @Suite("Branching and outcome inputs on the simulated cluster")
  struct BranchingSimulationTests {
    @Test("20 seeds with every fault on give the sequential executor's outcomes, per mode")
    func sameAsSequential() async throws {
      for parameters: [String: any Sendable] in [
        ["mode": "sum"], ["mode": "max"], ["mode": "sum", "count": 0],
      ] {
        let sequential = try await branchingFlow.run(
          parameters: parameters,
          environment: RunEnvironment(
            clock: TestClock(autoAdvance: true), random: SeededRandomSource(seed: 1)))
        let expected = outcomes(sequential)
        try await SimulationSeeds.run(0..<20) { seed in
          let report = await branchingFlow.runOnSimulatedCluster(
            seed: seed, parameters: parameters, options: engineOptions)
          try requireOK(report)
          #expect(report.simulation.counters.bodiesStarted >= 3, "seed \(seed)")
          let result = try #require(report.result)
          #expect(outcomes(result) == expected, "seed \(seed) \(parameters)")
          #expect(result.state.kind == sequential.state.kind, "seed \(seed)")
        }
      }
      let sum = try await branchingFlow.run(
        parameters: ["mode": "sum"],
        environment: RunEnvironment(
          clock: TestClock(autoAdvance: true), random: SeededRandomSource(seed: 1)))
      #expect(sum.taskRun("branch-report")?.state.result as? String == "Success=15 Skipped")
      #expect(sum.taskRun("branch-max")?.state.kind == .skipped)
      let max = try await branchingFlow.run(
        parameters: ["mode": "max"],
        environment: RunEnvironment(
          clock: TestClock(autoAdvance: true), random: SeededRandomSource(seed: 1)))
      #expect(max.taskRun("branch-report")?.state.result as? String == "Success=5 Failed")
    }
  }
}

import FlowCore
import FlowExecutors
import FlowSimulation
import FlowTestKit
import Foundation
import Testing

/// Loops `index % 6 + 1` times, passing the running sum on; at most 4 iterations.
let simLoop = task("sim-loop") { (index: Int) throws -> Int in
  let context = TaskRunContext.current
  let count = context?.loopCount ?? 1
  let sum = (context?.loopPayload(Int.self) ?? 0) + count
  if count < index % 6 + 1 { throw LoopAgain(sum) }
  return sum
}.looping(max: 4)
let simLoopPlan = task("sim-loop-plan") { (count: Int) -> [Int] in Array(0..<count) }

/// A mapped loop on the simulated cluster: payloads cross the simulated network as JSON.
let loopingFlow = Flow("looping-sim") {
  simLoop.map(simLoopPlan(Parameter("count", default: 8)))
}

/// Each task run's state, result and loop iterations, by label.
func loopOutcomes(_ result: FlowRunResult) -> [String: String] {
  outcomes(result).merging(
    result.taskRuns.map { ("\($0.label) iterations", "\($0.loopIterations)") }
  ) { first, _ in first }
}

extension HeavySimulations {
  @Suite("Loops on the simulated cluster")
  struct LoopSimulationTests {
    @Test("20 seeds with every fault on give the sequential executor's iterations and results")
    func sameAsSequential() async throws {
      let sequential = try await loopingFlow.run(
        environment: RunEnvironment(
          clock: TestClock(autoAdvance: true), random: SeededRandomSource(seed: 1)))
      let expected = loopOutcomes(sequential)
      // 0…7 ask for 1…6, 1, 2 iterations: 4 and 5 (5 and 6) are over the limit of 4.
      #expect(sequential.mappedRuns("sim-loop").map(\.loopIterations) == [1, 2, 3, 4, 4, 4, 1, 2])
      #expect(sequential.mappedRuns("sim-loop").count { $0.state.isFailed } == 2)
      try await SimulationSeeds.run(0..<20) { seed in
        let report = await loopingFlow.runOnSimulatedCluster(seed: seed, options: engineOptions)
        try requireOK(report)
        let result = try #require(report.result)
        #expect(loopOutcomes(result) == expected, "seed \(seed)")
        #expect(result.state.kind == sequential.state.kind, "seed \(seed)")
      }
    }
  }
}

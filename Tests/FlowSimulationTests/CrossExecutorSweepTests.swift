import FlowCore
import FlowExecutors
import FlowSimulation
import FlowState
import FlowTestKit
import Foundation
import Testing

/// Fails every attempt of the items divisible by `every`, and the first attempt of those one
/// above a multiple (which then retry): which items fail depends on the seed's parameters.
struct SweepFailure: Error, CustomStringConvertible {
  let item: Int
  var description: String { "item \(item) failed" }
}

let sweepItems = task("items") { (count: Int) -> [Int] in Array(1...count) }
let sweepWork = task("work", retries: RetryPolicy(maxRetries: 1, delay: .milliseconds(50))) {
  (item: Int, every: Int) throws -> Int in
  if item % every == 0 { throw SweepFailure(item: item) }
  if item % every == 1, TaskRunContext.current?.attempt == 1 { throw SweepFailure(item: item) }
  try await TaskRunContext.current?.environment.clock.sleep(for: .milliseconds(item % 3 + 1))
  return item * every
}
let sweepTotal = task("total", trigger: .allFinished) { () -> String in "done" }
let sweepSum = task("sum") { (values: [Int]) -> Int in values.reduce(0, +) }

/// A flow whose task states depend on its parameters: mapped work with retries and permanent
/// failures, a sum that is TriggerFailed when one failed, and an `allFinished` closer.
let sweepFlow = Flow("cross-executor-sweep") {
  let count = Parameter("count", default: 5)
  let every = Parameter("every", default: 3)
  let work = sweepWork.map(sweepItems(count), unmapped(every))
  let sum = sweepSum(work)
  sweepTotal().after(sum)
}

extension HeavySimulations {
  @Suite("One engine everywhere: the same flow on every executor")
  struct CrossExecutorSweepTests {
    @Test("40 seeds: sequential, concurrent and the faulty simulated cluster agree")
    func sweep() async throws {
      try await SimulationSeeds.run(0..<40) { seed in
        let parameters: [String: any Sendable] = [
          "count": Int(seed % 9) + 2, "every": Int(seed % 4) + 2,
        ]
        let environment = RunEnvironment.testing(seed: seed, clock: TestClock(autoAdvance: true))
        let sequential = try await sweepFlow.run(
          parameters: parameters, executor: .sequential, environment: environment)
        let concurrent = try await sweepFlow.run(
          parameters: parameters, executor: .concurrent(width: 3),
          environment: .testing(seed: seed, clock: TestClock(autoAdvance: true)))
        let report = await sweepFlow.runOnSimulatedCluster(
          seed: seed, parameters: parameters, options: engineOptions)
        try requireOK(report)
        let simulated = try #require(report.result, "seed \(seed): the simulated run did not end")
        let expected = outcomes(sequential)
        #expect(outcomes(concurrent) == expected, "seed \(seed)")
        #expect(outcomes(simulated) == expected, "seed \(seed)")
        #expect(concurrent.state.kind == sequential.state.kind, "seed \(seed)")
        #expect(simulated.state.kind == sequential.state.kind, "seed \(seed)")
      }
    }
  }
}

import FlowCore
import FlowExecutors
import FlowSimulation
import FlowState
import FlowTestKit
import Foundation
import Testing

let chainStart = task("start") { (count: Int) -> Int in count }
let chainStep = task("step") { (value: Int) throws -> Int in
  try await TaskRunContext.current?.environment.clock.sleep(for: .milliseconds(value % 3 + 1))
  return value + 1
}
let chainFlaky = task("flaky", retries: RetryPolicy(maxRetries: 2, delay: .milliseconds(50))) {
  (value: Int) throws -> Int in
  if TaskRunContext.current?.attempt == 1 { throw SweepFailure(item: value) }
  return value * 2
}
let chainBroken = task("broken") { (value: Int) throws -> Int in
  guard value % 4 != 0 else { throw SweepFailure(item: value) }
  return value
}
/// The task run ID its body saw, to compare with the one the engine recorded.
let chainIdentify = task("identify") { (value: Int) -> String in
  "\(value):\(TaskRunContext.current?.taskRunID.uuidString ?? "none")"
}

/// Chains that run ahead on a cluster (each task's only input is the one before it): a retry
/// in the middle, a failure (by parameter) whose followers never run, and a body that reports
/// the task run ID it saw.
let chainFlow = Flow("chain-ahead") {
  let count = Parameter("count", default: 3)
  var value = chainStart(count)
  for _ in 0..<4 { value = chainStep(value) }
  value = chainFlaky(value)
  for _ in 0..<4 { value = chainStep(value) }
  value = chainBroken(value)
  for _ in 0..<3 { value = chainStep(value) }
  chainIdentify(value)
}

extension HeavySimulations {
  @Suite("Chains started ahead on the simulated cluster")
  struct ChainAheadSimulationTests {
    @Test("40 seeds with every fault on: the states and outputs of the sequential executor")
    func chainsAgreeUnderFaults() async throws {
      try await SimulationSeeds.run(0..<40) { seed in
        let parameters: [String: any Sendable] = ["count": Int(seed % 5)]
        let sequential = try await chainFlow.run(
          parameters: parameters, executor: .sequential,
          environment: .testing(seed: seed, clock: TestClock(autoAdvance: true)))
        let report = await chainFlow.runOnSimulatedCluster(
          seed: seed, parameters: parameters, options: engineOptions)
        try requireOK(report)
        let simulated = try #require(report.result, "seed \(seed): the simulated run did not end")
        #expect(simulated.state.kind == sequential.state.kind, "seed \(seed)")
        // Outputs agree except the task run ID `identify` reports (each run has its own).
        var expected = outcomes(sequential)
        var got = outcomes(simulated)
        expected["identify"] = nil
        got["identify"] = nil
        #expect(got == expected, "seed \(seed)")
        // The body started ahead saw the task run ID the engine recorded.
        if let identify = simulated.taskRun("identify"), identify.state.kind == .success {
          let seen = try #require(identify.state.result as? String)
          #expect(seen.hasSuffix(identify.id.uuidString), "seed \(seed): \(seen)")
        }
      }
    }
  }
}

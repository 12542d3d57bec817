import FlowCore
import FlowExecutors
import FlowState
import FlowTesting
import Foundation
import Testing

/// Behaviours that used to differ from Prefect 1 (issue 13's list).
@Suite("Prefect 1 behaviours", .timeLimit(.minutes(1)))
struct PrefectBehaviourTests {
  @Test("a mapped call whose inputs are all unmapped runs the task once", arguments: bothExecutors)
  func allUnmappedRunsOnce(executor: FlowExecutor) async throws {
    let calls = Counter()
    let label = task("label") { (values: [Int], mark: String) -> String in
      calls.increment()
      return "\(mark)\(values.count)"
    }
    let (flow, labels) = Flow.building("all-unmapped") {
      label.map(unmapped([1, 2, 3]), unmapped("#"))
    }
    let result = try await flow.run(executor: executor, environment: testEnvironment())
    #expect(try result.result(of: labels) == ["#3"])
    #expect(try result.mappedRuns(of: labels).count == 1)
    #expect(calls.count == 1)
  }
}

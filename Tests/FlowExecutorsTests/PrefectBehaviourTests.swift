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

/// A retry's wait holds no slot, on `.sequential` too; each attempt starts at its time.
@Suite("Retry waits hold no slot", .timeLimit(.minutes(1)))
struct RetryWaitSlotTests {
  @Test(
    "while a retry waits, other ready tasks run; the retry starts exactly when due",
    arguments: bothExecutors)
  func othersRunDuringTheWait(executor: FlowExecutor) async throws {
    let order = Log<String>()
    let flaky = task("flaky", retries: RetryPolicy(maxRetries: 2, delay: .seconds(10))) {
      () throws -> Int in
      let attempt = TaskRunContext.current!.attempt
      order.append("flaky #\(attempt)")
      if attempt < 3 { throw Boom(code: attempt) }
      return 1
    }
    let slow = task("slow") { (name: String) async throws -> String in
      order.append(name)
      try await TaskRunContext.current!.environment.clock.sleep(for: .seconds(4))
      return name
    }
    let flow = Flow("waits") {
      flaky()
      slow("a")
      slow("b")
    }
    let clock = TestClock(now: testStart, autoAdvance: true)
    let result = try await flow.run(executor: executor, environment: testEnvironment(clock: clock))
    #expect(result.state.kind == .success)
    let run = try result.run("flaky")
    #expect(
      run.attemptStartTimes.map { $0.timeIntervalSince(testStart) } == [0, 10, 20])
    // The other tasks ran during the first wait (not after the retries).
    #expect(try result.run("slow").startedAt!.timeIntervalSince(testStart) < 10)
    #expect(try result.run("slow-2").startedAt!.timeIntervalSince(testStart) < 10)
    #expect(order.all.first == "flaky #1")
    #expect(order.all.last == "flaky #3")
  }
}

import FlowCore
import FlowExecutors
import FlowState
import FlowTesting
import Foundation
import Synchronization
import Testing

/// A latch that test code opens; waiting on it ignores cancellation, as a stuck body would.
final class Latch: Sendable {
  private let state = Mutex<(open: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

  func open() {
    let waiters = state.withLock { state in
      state.open = true
      defer { state.waiters = [] }
      return state.waiters
    }
    for waiter in waiters { waiter.resume() }
  }

  func wait() async {
    await withCheckedContinuation { continuation in
      let now = state.withLock { state in
        if state.open { return true }
        state.waiters.append(continuation)
        return false
      }
      if now { continuation.resume() }
    }
  }
}

/// Hard timeouts: a body that ignores cancellation is left behind at its deadline.
@Suite("Hard timeouts", .timeLimit(.minutes(1)))
struct HardTimeoutTests {
  @Test(
    "a body that ignores cancellation ends TimedOut at its deadline and the run goes on",
    arguments: bothExecutors)
  func stuckBodyIsLeftBehind(executor: FlowExecutor) async throws {
    let clock = TestClock(now: testStart)
    let stuckGate = Latch()
    let downstreamRan = Latch()
    let order = Log<String>()
    let stuck = task("stuck", timeout: .seconds(5)) { () -> Int in
      await stuckGate.wait()  // ignores cancellation
      order.append("stuck returned")
      return 1
    }
    let cleanup = task("cleanup", trigger: .allFinished) { () -> String in
      order.append("cleanup")
      downstreamRan.open()
      return "cleaned"
    }
    let (flow, refs) = Flow.building("hard") {
      let value = stuck()
      return (value, cleanup().after(value))
    }
    async let running = flow.run(executor: executor, environment: testEnvironment(clock: clock))
    await clock.waitForSleepers(1)  // the deadline (the body waits on the latch, not the clock)
    await clock.advance(by: .seconds(5))
    // The run moved on while the body is still stuck: the downstream task ran.
    await downstreamRan.wait()
    #expect(order.all == ["cleanup"])
    stuckGate.open()  // now the abandoned body returns; its result is discarded
    let result = try await running

    let run = try result.taskRun(of: refs.0)
    #expect(run.state.kind == .timedOut)
    #expect(run.finishedAt == testStart.addingTimeInterval(5))
    #expect((run.state.error as? TaskTimeoutError)?.timeout == .seconds(5))
    #expect(throws: ResultAccessError.self) { try result.result(of: refs.0) }
    #expect(try result.result(of: refs.1) == "cleaned")
    #expect(order.all == ["cleanup", "stuck returned"])
    let late = try #require(
      result.logs.first { $0.message.contains("after its timeout") }, "\(result.logs)")
    #expect(late.level == .warning)
    #expect(
      late.message
        == "Attempt 1 of task 'stuck' returned at 2027-01-15T08:00:05Z, after its timeout of "
        + "5.0 seconds had ended it TimedOut; its outcome was discarded.")
  }

  @Test("a stuck attempt is retried at its time while the abandoned body still waits")
  func stuckAttemptRetried() async throws {
    // Driven by hand: with a timeout the body and its deadline are two children, so a clock
    // that jumps to each sleeper's deadline at once would race attempt 2's deadline against
    // its body.
    let clock = TestClock(now: testStart)
    let gate = Latch()
    let flaky = task(
      "flaky", retries: RetryPolicy(maxRetries: 1, delay: .seconds(10)),
      timeout: .seconds(5)
    ) { () -> Int in
      // Attempt 1 is stuck until attempt 2 runs: the retry did not wait for it.
      if TaskRunContext.current!.attempt == 1 { await gate.wait() } else { gate.open() }
      return 2
    }
    let (flow, value) = Flow.building("retry-hard") { flaky() }
    async let running = flow.run(environment: testEnvironment(clock: clock))
    await clock.waitForSleepers(1)  // attempt 1's deadline
    await clock.advance(by: .seconds(5))
    await clock.waitForSleepers(1)  // the retry's timer
    await clock.advance(by: .seconds(10))
    let result = try await running
    #expect(try result.result(of: value) == 2)
    let run = try result.taskRun(of: value)
    #expect(run.attemptStartTimes == [testStart, testStart.addingTimeInterval(15)])
  }
}

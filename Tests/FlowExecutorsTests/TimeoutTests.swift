import FlowCore
import FlowExecutors
import FlowState
import FlowTesting
import Foundation
import Synchronization
import Testing

@Suite("Task timeouts on the TestClock", .timeLimit(.minutes(1)))
struct TimeoutTests {
  /// Sleeps on the run's clock for `seconds`, counting the sleeps that were cancelled.
  private static func sleepOnRunClock(_ seconds: Int64, cancelled: Counter) async throws {
    do {
      try await TaskRunContext.current!.environment.clock.sleep(for: .seconds(seconds))
    } catch {
      cancelled.increment()
      throw error
    }
  }

  @Test(
    "a body that outlives its timeout ends TimedOut at start + timeout", arguments: bothExecutors)
  func timesOut(executor: FlowExecutor) async throws {
    let clock = TestClock(now: testStart)
    let cancelled = Counter()
    let downstreamCalls = Counter()
    let slow = task("slow", timeout: .seconds(5)) { () async throws -> Int in
      try await Self.sleepOnRunClock(100, cancelled: cancelled)
      return 1
    }
    let next = task("next") { (x: Int) -> Int in
      downstreamCalls.increment()
      return x
    }
    let flow = Flow("timeout") { next(slow()) }
    async let running = flow.run(executor: executor, environment: testEnvironment(clock: clock))
    // The body's sleep and the timeout's sleep.
    await clock.waitForSleepers(2)
    #expect(clock.nextDeadline == testStart.addingTimeInterval(5))
    await clock.advance(by: .seconds(5))
    let result = try await running

    let run = try result.run("slow")
    #expect(run.state.kind == .timedOut)
    let error = try #require(run.state.error as? TaskTimeoutError)
    #expect(error.task == "slow")
    #expect(error.timeout == .seconds(5))
    #expect(run.startedAt == testStart)
    #expect(run.finishedAt == testStart.addingTimeInterval(5))
    #expect(run.attempts == 1)
    // The body was cancelled, not left sleeping.
    #expect(cancelled.count == 1)
    #expect(clock.sleeperCount == 0)
    #expect(result.kind("next") == .triggerFailed)
    #expect(downstreamCalls.count == 0)
    #expect(result.state.kind == .failed)
  }

  @Test(
    "a body that finishes in time succeeds and leaves no timer behind", arguments: bothExecutors)
  func finishesInTime(executor: FlowExecutor) async throws {
    let clock = TestClock(now: testStart)
    let cancelled = Counter()
    let quick = task("quick", timeout: .seconds(5)) { () async throws -> Int in
      try await Self.sleepOnRunClock(3, cancelled: cancelled)
      return 7
    }
    var value: Ref<Int>!
    let flow = Flow("in-time") { value = quick() }
    async let running = flow.run(executor: executor, environment: testEnvironment(clock: clock))
    await clock.waitForSleepers(2)
    await clock.advance(by: .seconds(3))
    let result = try await running
    #expect(try result.result(of: value) == 7)
    #expect(try result.run("quick").finishedAt == testStart.addingTimeInterval(3))
    #expect(cancelled.count == 0)
    #expect(clock.sleeperCount == 0)
    #expect(clock.now() == testStart.addingTimeInterval(3))
  }

  @Test(
    "a timeout is retried: times out once, then succeeds on attempt 2", arguments: bothExecutors)
  func timeoutThenSuccess(executor: FlowExecutor) async throws {
    let clock = TestClock(now: testStart)
    let cancelled = Counter()
    let calls = Counter()
    let flaky = task("flaky", retries: RetryPolicy(maxRetries: 2), timeout: .seconds(5)) {
      () async throws -> String in
      if calls.increment() == 1 { try await Self.sleepOnRunClock(100, cancelled: cancelled) }
      return "done"
    }
    var value: Ref<String>!
    let flow = Flow("retry-timeout") { value = flaky() }
    async let running = flow.run(executor: executor, environment: testEnvironment(clock: clock))
    await clock.waitForSleepers(2)
    await clock.advance(by: .seconds(5))
    let result = try await running
    let run = try result.run("flaky")
    #expect(run.state.kind == .success)
    #expect(run.attempts == 2)
    #expect(run.attemptStartTimes == [testStart, testStart.addingTimeInterval(5)])
    #expect(try result.result(of: value) == "done")
    #expect(cancelled.count == 1)
    #expect(result.state.kind == .success)
  }

  @Test("retryIf also decides whether a timeout is retried")
  func retryIfAppliesToTimeouts() async throws {
    let clock = TestClock(now: testStart)
    let cancelled = Counter()
    let calls = Counter()
    let picky = task(
      "picky", retries: RetryPolicy(maxRetries: 3, retryIf: .errors(TransientError.self)),
      timeout: .seconds(5)
    ) { () async throws -> Int in
      calls.increment()
      try await Self.sleepOnRunClock(100, cancelled: cancelled)
      return 1
    }
    let flow = Flow("picky-timeout") { picky() }
    async let running = flow.run(environment: testEnvironment(clock: clock))
    await clock.waitForSleepers(2)
    await clock.advance(by: .seconds(5))
    let result = try await running
    let run = try result.run("picky")
    #expect(run.state.kind == .timedOut)
    #expect(run.attempts == 1)
    #expect(calls.count == 1)
  }

  @Test("timed-out attempts count toward maxRetries", arguments: bothExecutors)
  func timeoutsUseUpRetries(executor: FlowExecutor) async throws {
    let clock = TestClock(now: testStart)
    let cancelled = Counter()
    let calls = Counter()
    let stuck = task("stuck", retries: RetryPolicy(maxRetries: 1), timeout: .seconds(5)) {
      () async throws -> Int in
      calls.increment()
      try await Self.sleepOnRunClock(100, cancelled: cancelled)
      return 1
    }
    let flow = Flow("stuck") { stuck() }
    async let running = flow.run(executor: executor, environment: testEnvironment(clock: clock))
    await clock.waitForSleepers(2)
    await clock.advance(by: .seconds(5))
    await clock.waitForSleepers(2)
    await clock.advance(by: .seconds(5))
    let result = try await running
    let run = try result.run("stuck")
    #expect(run.state.kind == .timedOut)
    #expect(run.state.error is TaskTimeoutError)
    #expect(run.attempts == 2)
    #expect(calls.count == 2)
    #expect(cancelled.count == 2)
    #expect(run.attemptStartTimes == [testStart, testStart.addingTimeInterval(5)])
    #expect(run.finishedAt == testStart.addingTimeInterval(10))
    #expect(result.state.kind == .failed)
  }
}

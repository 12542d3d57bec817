import FlowCore
import FlowExecutors
import FlowState
import FlowTesting
import Foundation
import Synchronization
import Testing

@Suite("Cancelling a flow run", .timeLimit(.minutes(1)))
struct CancellationTests {
  /// A task that sleeps 100 s on the run's clock and counts its starts.
  private static func sleeper(_ name: String, _ starts: Counter) -> TaskDefinition<Int> {
    task(name) { () async throws -> Int in
      starts.increment()
      try await TaskRunContext.current!.environment.clock.sleep(for: .seconds(100))
      return 1
    }
  }

  @Test("sequential: the running task and the tasks not yet started end Cancelled")
  func sequentialCancel() async throws {
    let clock = TestClock(now: testStart)
    let starts = Counter()
    let flow = Flow("cancel") {
      Self.sleeper("first", starts)()
      Self.sleeper("second", starts)()
    }
    let running = Task { try await flow.run(environment: testEnvironment(clock: clock)) }
    await clock.waitForSleepers(1)
    running.cancel()
    let result = try await running.value
    #expect(starts.count == 1)
    let first = try result.run("first")
    #expect(first.state.kind == .cancelled)
    #expect(first.attempts == 1)
    let second = try result.run("second")
    #expect(second.state.kind == .cancelled)
    #expect(second.attempts == 0)
    #expect(result.state.kind == .cancelled)
    #expect(clock.sleeperCount == 0)
  }

  @Test("concurrent: tasks in flight and tasks waiting for a slot end Cancelled")
  func concurrentCancel() async throws {
    let clock = TestClock(now: testStart)
    let starts = Counter()
    let flow = Flow("cancel") {
      Self.sleeper("a", starts)()
      Self.sleeper("b", starts)()
      Self.sleeper("c", starts)()
    }
    let running = Task {
      try await flow.run(
        executor: .concurrent(width: 2), environment: testEnvironment(clock: clock))
    }
    await clock.waitForSleepers(2)
    running.cancel()
    let result = try await running.value
    #expect(starts.count == 2)
    #expect(result.taskRuns.map(\.state.kind) == [.cancelled, .cancelled, .cancelled])
    #expect(try result.run("c").attempts == 0)
    #expect(result.state.kind == .cancelled)
  }

  @Test(
    "tasks downstream of a cancelled task end Cancelled, not TriggerFailed",
    arguments: bothExecutors)
  func cancelledChain(executor: FlowExecutor) async throws {
    let clock = TestClock(now: testStart)
    let starts = Counter()
    let calls = Counter()
    let next = task("next") { (x: Int) -> Int in
      calls.increment()
      return x
    }
    let squares = task("squares") { (x: Int) -> Int in
      calls.increment()
      return x * x
    }
    let flow = Flow("chain") {
      let first = Self.sleeper("slow", starts)()
      next(next(first))
      squares.map(.constant([1, 2])).after(first)
    }
    let running = Task {
      try await flow.run(executor: executor, environment: testEnvironment(clock: clock))
    }
    await clock.waitForSleepers(1)
    running.cancel()
    let result = try await running.value
    #expect(calls.count == 0)
    #expect(result.kind("slow") == .cancelled)
    #expect(result.kind("next") == .cancelled)
    #expect(result.kind("next-2") == .cancelled)
    #expect(result.kind("squares") == .cancelled)
    #expect(try result.run("next").attempts == 0)
    #expect(result.state.kind == .cancelled)
  }

  @Test("a run cancelled before it starts runs nothing and ends Cancelled")
  func cancelledBeforeStart() async throws {
    let calls = Counter()
    let first = task("first") { () -> Int in calls.increment() }
    let second = task("second") { (x: Int) -> Int in
      calls.increment()
      return x
    }
    let flow = Flow("pre-cancelled") { second(first()) }
    let running = Task { () async throws -> FlowRunResult in
      withUnsafeCurrentTask { $0?.cancel() }
      return try await flow.run(environment: testEnvironment())
    }
    let result = try await running.value
    #expect(calls.count == 0)
    #expect(result.kind("first") == .cancelled)
    #expect(result.kind("second") == .cancelled)
    #expect(result.state.kind == .cancelled)
  }

  @Test("mapped children that have not started end Cancelled")
  func mappedCancel() async throws {
    let clock = TestClock(now: testStart)
    let starts = Counter()
    let slow = task("slow") { (x: Int) async throws -> Int in
      starts.increment()
      try await TaskRunContext.current!.environment.clock.sleep(for: .seconds(100))
      return x
    }
    let flow = Flow("cancel-map") { slow.map(.constant([1, 2, 3])) }
    let running = Task { try await flow.run(environment: testEnvironment(clock: clock)) }
    await clock.waitForSleepers(1)
    running.cancel()
    let result = try await running.value
    #expect(starts.count == 1)
    #expect(result.mappedRuns("slow").map(\.state.kind) == [.cancelled, .cancelled, .cancelled])
    #expect(result.state.kind == .cancelled)
  }

  @Test(
    "cancelling a body guarded by a timeout ends Cancelled, not TimedOut", arguments: bothExecutors)
  func cancelDuringTimeout(executor: FlowExecutor) async throws {
    let clock = TestClock(now: testStart)
    let slow = task("slow", timeout: .seconds(5)) { () async throws -> Int in
      try await TaskRunContext.current!.environment.clock.sleep(for: .seconds(100))
      return 1
    }
    let flow = Flow("cancel-timeout") { slow() }
    let running = Task {
      try await flow.run(executor: executor, environment: testEnvironment(clock: clock))
    }
    await clock.waitForSleepers(2)
    running.cancel()
    let result = try await running.value
    let run = try result.run("slow")
    #expect(run.state.kind == .cancelled)
    #expect(!(run.state.error is TaskTimeoutError))
    #expect(clock.now() == testStart)
    #expect(result.state.kind == .cancelled)
  }

  @Test("cancelling while a retry waits on the clock cancels the task")
  func cancelDuringRetryWait() async throws {
    let clock = TestClock(now: testStart)
    let calls = Counter()
    let flaky = task("flaky", retries: RetryPolicy(maxRetries: 3, delay: .seconds(60))) {
      () throws -> Int in
      calls.increment()
      throw TransientError()
    }
    let flow = Flow("cancel-retry") { flaky() }
    let running = Task { try await flow.run(environment: testEnvironment(clock: clock)) }
    await clock.waitForSleepers(1)
    running.cancel()
    let result = try await running.value
    #expect(calls.count == 1)
    #expect(result.kind("flaky") == .cancelled)
    #expect(result.state.kind == .cancelled)
  }
}

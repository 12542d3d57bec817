import FlowCore
import FlowExecutors
import FlowState
import FlowTesting
import Foundation
import Synchronization
import Testing

@Suite("Retry policies", .timeLimit(.minutes(1)))
struct RetryTests {
  @Test("retries run out: Failed after maxRetries + 1 attempts", arguments: bothExecutors)
  func retriesExhausted(executor: FlowExecutor) async throws {
    let calls = Counter()
    let hopeless = task("hopeless", retries: RetryPolicy(maxRetries: 2)) { () throws -> Int in
      throw Boom(code: calls.increment())
    }
    let flow = Flow("exhausted") { hopeless() }
    let result = try await flow.run(executor: executor, environment: testEnvironment())
    let run = try result.run("hopeless")
    #expect(run.state.kind == .failed)
    #expect(run.attempts == 3)
    #expect(run.attemptStartTimes.count == 3)
    #expect(calls.count == 3)
    // The final state carries the last attempt's error.
    #expect(run.state.error as? Boom == Boom(code: 3))
    #expect(result.state.kind == .failed)
  }

  @Test("retryIf .errors(...) does not retry other errors")
  func retryIfRefusesOtherErrors() async throws {
    let calls = Counter()
    let picky = task(
      "picky", retries: RetryPolicy(maxRetries: 5, retryIf: .errors(TransientError.self))
    ) { () throws -> Int in
      calls.increment()
      throw PermanentError()
    }
    let flow = Flow("picky") { picky() }
    let result = try await flow.run(environment: testEnvironment())
    let run = try result.run("picky")
    #expect(run.state.kind == .failed)
    #expect(run.attempts == 1)
    #expect(calls.count == 1)
    #expect(run.state.error is PermanentError)
  }

  @Test("retryIf .errors(...) retries the listed errors")
  func retryIfAcceptsListedErrors() async throws {
    let calls = Counter()
    let picky = task(
      "picky",
      retries: RetryPolicy(maxRetries: 5, retryIf: .errors(Boom.self, TransientError.self))
    ) { () throws -> Int in
      switch calls.increment() {
      case 1: throw TransientError()
      case 2: throw Boom()
      case 3: throw PermanentError()
      default: return 0
      }
    }
    let flow = Flow("picky") { picky() }
    let result = try await flow.run(environment: testEnvironment())
    let run = try result.run("picky")
    // Two listed errors are retried; the third, unlisted one ends the run.
    #expect(run.attempts == 3)
    #expect(run.state.kind == .failed)
    #expect(run.state.error is PermanentError)
  }

  @Test("a constant delay spaces attempts exactly on the TestClock", arguments: bothExecutors)
  func constantDelayTimestamps(executor: FlowExecutor) async throws {
    let clock = TestClock(now: testStart)
    let calls = Counter()
    let flaky = task("flaky", retries: RetryPolicy(maxRetries: 3, delay: .seconds(30))) {
      () throws -> String in
      let attempt = calls.increment()
      if attempt < 3 { throw TransientError() }
      return "done"
    }
    let flow = Flow("constant") { flaky() }
    async let running = flow.run(executor: executor, environment: testEnvironment(clock: clock))
    await clock.waitForSleepers(1)
    #expect(clock.nextDeadline == testStart.addingTimeInterval(30))
    #expect(calls.count == 1)
    await clock.advance(by: .seconds(30))
    await clock.waitForSleepers(1)
    #expect(clock.nextDeadline == testStart.addingTimeInterval(60))
    #expect(calls.count == 2)
    await clock.advance(by: .seconds(30))
    let result = try await running
    let run = try result.run("flaky")
    #expect(run.state.kind == .success)
    #expect(run.attempts == 3)
    #expect(
      run.attemptStartTimes == [
        testStart, testStart.addingTimeInterval(30), testStart.addingTimeInterval(60),
      ])
    #expect(run.finishedAt == testStart.addingTimeInterval(60))
    #expect(run.duration == .seconds(60))
    #expect(result.finishedAt == testStart.addingTimeInterval(60))
  }

  @Test("retry waits of concurrent tasks overlap instead of queueing")
  func concurrentRetryWaits() async throws {
    let clock = TestClock(now: testStart)
    let calls = Mutex<[String: Int]>([:])
    func flaky(_ name: String, delay: Int64) -> TaskDefinition<Int> {
      task(name, retries: RetryPolicy(maxRetries: 1, delay: .seconds(delay))) { () throws -> Int in
        let attempt = calls.withLock { counts in
          counts[name, default: 0] += 1
          return counts[name]!
        }
        if attempt == 1 { throw TransientError() }
        return attempt
      }
    }
    let flow = Flow("overlap") {
      flaky("slow", delay: 60)()
      flaky("fast", delay: 30)()
    }
    async let running = flow.run(
      executor: .concurrent(width: 2), environment: testEnvironment(clock: clock))
    // Both wait for their retry at once.
    await clock.waitForSleepers(2)
    await clock.advance(by: .seconds(60))
    let result = try await running
    #expect(
      try result.run("fast").attemptStartTimes == [testStart, testStart.addingTimeInterval(30)])
    #expect(
      try result.run("slow").attemptStartTimes == [testStart, testStart.addingTimeInterval(60)])
    #expect(result.state.kind == .success)
  }

  @Test("jitter is repeatable for a seed and differs between seeds")
  func seededJitter() async throws {
    func attemptTimes(seed: UInt64) async throws -> [Date] {
      let jittery = task(
        "jittery",
        retries: RetryPolicy(maxRetries: 4, delay: .seconds(10), jitter: .upTo(.seconds(10)))
      ) { () throws -> Int in throw TransientError() }
      let flow = Flow("jitter") { jittery() }
      let clock = TestClock(now: testStart, autoAdvance: true)
      let result = try await flow.run(environment: testEnvironment(seed: seed, clock: clock))
      return try result.run("jittery").attemptStartTimes
    }
    let first = try await attemptTimes(seed: 42)
    let again = try await attemptTimes(seed: 42)
    let other = try await attemptTimes(seed: 43)
    #expect(first.count == 5)
    #expect(first == again)
    #expect(first != other)
    // Every gap is the delay plus up to ten seconds of jitter.
    for times in [first, other] {
      for (earlier, later) in zip(times, times.dropFirst()) {
        let gap = later.timeIntervalSince(earlier)
        #expect(gap >= 10 && gap <= 20)
      }
    }
  }

  @Test("the body sees its attempt number in TaskRunContext", arguments: bothExecutors)
  func attemptInContext(executor: FlowExecutor) async throws {
    let seen = Log<Int>()
    let counting = task("counting", retries: RetryPolicy(maxRetries: 3)) { () throws -> Int in
      let attempt = TaskRunContext.current?.attempt ?? -1
      seen.append(attempt)
      if attempt < 3 { throw TransientError() }
      return attempt
    }
    var counted: Ref<Int>!
    let flow = Flow("attempts") { counted = counting() }
    let result = try await flow.run(executor: executor, environment: testEnvironment())
    #expect(seen.all == [1, 2, 3])
    #expect(try result.result(of: counted) == 3)
    #expect(try result.run("counting").attempts == 3)
  }
}

import FlowCore
import FlowExecutors
import FlowState
import FlowTesting
import Foundation
import Synchronization
import Testing

struct Flaky: Error {}

@Suite("Retries on the TestClock", .timeLimit(.minutes(2)))
struct RetryBackoffTests {
  @Test("fails twice, succeeds on the third attempt, with exponential backoff of 10 minutes")
  func exponentialBackoffTimestamps() async throws {
    let start = Date(timeIntervalSince1970: 1_800_000_000)
    let clock = TestClock(now: start)
    let calls = Mutex(0)
    let flaky = task(
      "flaky",
      retries: RetryPolicy(maxRetries: 3, delay: .seconds(600), backoff: .exponential())
    ) { () throws -> String in
      let attempt = calls.withLock {
        $0 += 1
        return $0
      }
      if attempt < 3 { throw Flaky() }
      return "ok on attempt \(attempt)"
    }
    let flow = Flow("retry") { flaky() }
    async let running = flow.run(environment: .testing(seed: 1, clock: clock))
    await clock.waitForSleepers(1)
    #expect(clock.nextDeadline == start.addingTimeInterval(600))
    await clock.advance(by: .seconds(600))
    await clock.waitForSleepers(1)
    #expect(clock.nextDeadline == start.addingTimeInterval(600 + 1200))
    await clock.advance(by: .seconds(1200))
    let result = try await running
    let run = try #require(result.taskRun("flaky"))
    #expect(run.state.kind == .success)
    #expect(run.attempts == 3)
    #expect(
      run.attemptStartTimes == [
        start, start.addingTimeInterval(600), start.addingTimeInterval(1800),
      ])
    #expect(result.state.kind == .success)
    // 30 virtual minutes pass in milliseconds: a retry that slept on the wall clock would run
    // into the suite's time limit.
  }
}

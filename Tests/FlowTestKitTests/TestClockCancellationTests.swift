import FlowTestKit
import Foundation
import Testing

@Suite("TestClock cancellation", .timeLimit(.minutes(1)))
struct TestClockCancellationTests {
  @Test func cancellingASleeperThrowsAndUnregistersIt() async {
    let clock = TestClock(now: clockStart)
    let sleeper = Task { try await clock.sleep(for: .seconds(60)) }
    await clock.waitForSleepers(1)
    sleeper.cancel()
    let result = await sleeper.result
    #expect(throws: CancellationError.self) { try result.get() }
    #expect(clock.sleeperCount == 0)
    #expect(clock.nextDeadline == nil)
    #expect(clock.now() == clockStart)
    #expect(await clock.advanceToNextDeadline() == false)
  }

  @Test("a cancelled waitForSleepers returns, so a test's time limit cannot hang the run")
  func cancellingAWaiterForSleepersReturns() async {
    let clock = TestClock(now: clockStart)
    let waiter = Task { await clock.waitForSleepers(1) }  // nobody ever sleeps
    waiter.cancel()
    await waiter.value
    let late = Task {
      withUnsafeCurrentTask { $0?.cancel() }
      await clock.waitForSleepers(1)  // cancelled before it waits
    }
    await late.value
    #expect(clock.sleeperCount == 0)
  }

  @Test func aTaskCancelledBeforeItSleepsThrowsAtOnce() async {
    let clock = TestClock(now: clockStart)
    let sleeper = Task {
      withUnsafeCurrentTask { $0?.cancel() }
      try await clock.sleep(for: .seconds(60))
    }
    let result = await sleeper.result
    #expect(throws: CancellationError.self) { try result.get() }
    #expect(clock.sleeperCount == 0)
    #expect(clock.now() == clockStart)
  }

  @Test func aCancelledTaskSleepingUntilThePastStillThrows() async {
    let clock = TestClock(now: clockStart)
    let sleeper = Task {
      withUnsafeCurrentTask { $0?.cancel() }
      try await clock.sleep(until: at(-1))
    }
    let result = await sleeper.result
    #expect(throws: CancellationError.self) { try result.get() }
  }

  @Test func cancellingOneSleeperLeavesTheOthers() async throws {
    let clock = TestClock(now: clockStart)
    let early = Task { try await clock.sleep(until: at(10)) }
    await clock.waitForSleepers(1)
    let late = Task {
      try await clock.sleep(until: at(20))
      return clock.now()
    }
    await clock.waitForSleepers(2)

    early.cancel()
    let earlyResult = await early.result
    #expect(throws: CancellationError.self) { try earlyResult.get() }
    #expect(clock.sleeperCount == 1)
    #expect(clock.nextDeadline == at(20))  // the cancelled sleeper no longer counts

    #expect(await clock.advanceToNextDeadline())
    #expect(try await late.value == at(20))
    #expect(clock.sleeperCount == 0)
  }

  @Test func advancingPastACancelledSleeperDoesNotStopAtIt() async throws {
    let clock = TestClock(now: clockStart)
    let cancelled = Task { try await clock.sleep(until: at(10)) }
    await clock.waitForSleepers(1)
    cancelled.cancel()
    _ = await cancelled.result
    await clock.advance(to: at(5))
    #expect(clock.now() == at(5))
    await clock.advance(to: at(50))
    #expect(clock.now() == at(50))
    #expect(clock.sleeperCount == 0)
  }

  @Test func cancellingATaskGroupReleasesEverySleeper() async throws {
    let clock = TestClock(now: clockStart)
    let outcomes = await withTaskGroup(of: Bool.self) { group in
      for offset in [10.0, 20, 30] {
        group.addTask {
          do {
            try await clock.sleep(until: at(offset))
            return false
          } catch {
            return error is CancellationError
          }
        }
      }
      await clock.waitForSleepers(3)
      group.cancelAll()
      var outcomes: [Bool] = []
      for await outcome in group { outcomes.append(outcome) }
      return outcomes
    }
    #expect(outcomes == [true, true, true])
    #expect(clock.sleeperCount == 0)
    #expect(clock.now() == clockStart)
  }
}

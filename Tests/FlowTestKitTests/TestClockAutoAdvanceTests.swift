import FlowTestKit
import Foundation
import Testing

@Suite("TestClock, auto-advance mode", .timeLimit(.minutes(1)))
struct TestClockAutoAdvanceTests {
  @Test func sleepReturnsAtOnceAndMovesTheClock() async throws {
    let clock = TestClock(now: clockStart, autoAdvance: true)
    #expect(clock.autoAdvance)
    try await clock.sleep(for: .seconds(5))
    #expect(clock.now() == at(5))
    #expect(clock.sleeperCount == 0)
  }

  @Test func sleepsAccumulate() async throws {
    let clock = TestClock(now: clockStart, autoAdvance: true)
    for _ in 0..<10 {
      try await clock.sleep(for: .seconds(60))
    }
    #expect(clock.now() == at(600))
  }

  @Test func sleepUntilMovesToTheDeadline() async throws {
    let clock = TestClock(now: clockStart, autoAdvance: true)
    try await clock.sleep(until: at(3_600))
    #expect(clock.now() == at(3_600))
  }

  @Test func sleepingUntilThePastDoesNotMoveTheClockBack() async throws {
    let clock = TestClock(now: clockStart, autoAdvance: true)
    try await clock.sleep(for: .seconds(10))
    try await clock.sleep(until: at(2))
    #expect(clock.now() == at(10))
  }

  @Test func aCancelledTaskThrows() async {
    let clock = TestClock(now: clockStart, autoAdvance: true)
    let sleeper = Task {
      withUnsafeCurrentTask { $0?.cancel() }
      try await clock.sleep(for: .seconds(1))
    }
    let result = await sleeper.result
    #expect(throws: CancellationError.self) { try result.get() }
  }

  @Test func advanceStillWorks() async {
    let clock = TestClock(now: clockStart, autoAdvance: true)
    await clock.advance(by: .seconds(30))
    #expect(clock.now() == at(30))
    #expect(await clock.advanceToNextDeadline() == false)
  }
}

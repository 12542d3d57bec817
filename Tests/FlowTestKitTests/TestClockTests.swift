import FlowCore
import FlowTestKit
import Foundation
import Testing

@Suite("TestClock, manual mode", .timeLimit(.minutes(1)))
struct TestClockTests {
  @Test func nowStaysPutUntilAdvanced() async throws {
    let clock = TestClock(now: clockStart)
    #expect(!clock.autoAdvance)
    #expect(clock.now() == clockStart)
    try await Task.sleep(for: .milliseconds(20))  // real time passes, virtual time does not
    #expect(clock.now() == clockStart)
    await clock.advance(by: .seconds(90))
    #expect(clock.now() == at(90))
    await clock.advance(by: .milliseconds(1_500))
    #expect(clock.now() == at(91.5))
    await clock.advance(to: at(3_600))
    #expect(clock.now() == at(3_600))
  }

  @Test func wakeNextDeadlineWakesOnlyTheEarliestWithoutWaiting() async throws {
    let clock = TestClock(now: clockStart)
    #expect(clock.wakeNextDeadline() == false)
    let early = Task {
      try await clock.sleep(until: at(60))
      return clock.now()
    }
    let tie = Task {
      try await clock.sleep(until: at(60))
      return clock.now()
    }
    let late = Task { try await clock.sleep(until: at(120)) }
    await clock.waitForSleepers(3)
    #expect(clock.wakeNextDeadline())
    #expect(clock.now() == at(60))
    #expect(try await early.value == at(60))
    #expect(try await tie.value == at(60))
    #expect(clock.sleeperCount == 1 && clock.nextDeadline == at(120))
    late.cancel()
  }

  @Test func aDefaultClockReadsAFixedInstant() {
    let clock = TestClock()
    let first = clock.now()
    #expect(clock.now() == first)
    #expect(TestClock().now() == first)
  }

  @Test func noSleepersAtFirst() async {
    let clock = TestClock(now: clockStart)
    #expect(clock.sleeperCount == 0)
    #expect(clock.nextDeadline == nil)
    #expect(await clock.advanceToNextDeadline() == false)
    #expect(clock.now() == clockStart)
    await clock.waitForSleepers(0)  // already satisfied: must not suspend forever
  }

  @Test func sleepingUntilAPastOrPresentInstantReturnsAtOnce() async throws {
    let clock = TestClock(now: clockStart)
    try await clock.sleep(until: at(-60))
    try await clock.sleep(until: clockStart)
    try await clock.sleep(for: .zero)
    #expect(clock.sleeperCount == 0)
    #expect(clock.now() == clockStart)
  }

  @Test func aSleeperWaitsUntilItsDeadline() async throws {
    let clock = TestClock(now: clockStart)
    let sleeper = Task {
      try await clock.sleep(until: at(60))
      return clock.now()
    }
    await clock.waitForSleepers(1)
    #expect(clock.sleeperCount == 1)
    #expect(clock.nextDeadline == at(60))

    await clock.advance(to: at(59))
    #expect(clock.sleeperCount == 1)
    #expect(clock.now() == at(59))
    #expect(clock.nextDeadline == at(60))

    await clock.advance(by: .seconds(1))
    #expect(try await sleeper.value == at(60))
    #expect(clock.sleeperCount == 0)
    #expect(clock.nextDeadline == nil)
  }

  @Test func sleepForIsMeasuredFromNow() async throws {
    let clock = TestClock(now: clockStart)
    await clock.advance(by: .seconds(100))
    let sleeper = Task { try await clock.sleep(for: .seconds(30)) }
    await clock.waitForSleepers(1)
    #expect(clock.nextDeadline == at(130))
    #expect(await clock.advanceToNextDeadline())
    try await sleeper.value
    #expect(clock.now() == at(130))
  }

  @Test func sleepersWakeOneByOneInDeadlineOrder() async throws {
    let clock = TestClock(now: clockStart)
    let (wakes, reporter) = AsyncStream.makeStream(of: Wake.self)
    let deadlines: [(String, TimeInterval)] = [("c", 30), ("a", 10), ("d", 40), ("b", 20)]
    let order = try await withThrowingTaskGroup(of: Void.self) { group in
      for (label, offset) in deadlines {
        group.addTask {
          try await clock.sleep(until: at(offset))
          reporter.yield(Wake(label: label, now: clock.now()))
        }
      }
      await clock.waitForSleepers(deadlines.count)
      #expect(clock.sleeperCount == 4)
      #expect(clock.nextDeadline == at(10))

      var iterator = wakes.makeAsyncIterator()
      var order: [Wake] = []
      for remaining in (0..<deadlines.count).reversed() {
        #expect(await clock.advanceToNextDeadline())
        let wake = await iterator.next()
        order.append(try #require(wake))
        #expect(clock.sleeperCount == remaining)
      }
      try await group.waitForAll()
      return order
    }
    #expect(order.map(\.label) == ["a", "b", "c", "d"])
    // Each sleeper reads its own deadline as it wakes.
    #expect(order.map(\.now) == [at(10), at(20), at(30), at(40)])
    #expect(await clock.advanceToNextDeadline() == false)
    #expect(clock.now() == at(40))
  }

  @Test func advancingWakesOnlyTheSleepersThatFallDue() async throws {
    let clock = TestClock(now: clockStart)
    try await withThrowingTaskGroup(of: Void.self) { group in
      for offset in [10.0, 20, 30] {
        group.addTask { try await clock.sleep(until: at(offset)) }
      }
      await clock.waitForSleepers(3)

      await clock.advance(to: at(25))
      #expect(clock.sleeperCount == 1)
      #expect(clock.nextDeadline == at(30))
      #expect(clock.now() == at(25))

      await clock.advance(to: at(30))  // due exactly at the instant: wakes
      #expect(clock.sleeperCount == 0)
      #expect(clock.nextDeadline == nil)
      try await group.waitForAll()
    }
    #expect(clock.now() == at(30))
  }

  @Test func oneAdvanceWakesEverySleeperDueOnTheWay() async throws {
    let clock = TestClock(now: clockStart)
    let deadlines: [TimeInterval] = [50, 10, 40, 20, 30]
    let wakes = try await withThrowingTaskGroup(of: (TimeInterval, Date).self) { group in
      for offset in deadlines {
        group.addTask {
          try await clock.sleep(until: at(offset))
          return (offset, clock.now())
        }
      }
      await clock.waitForSleepers(deadlines.count)
      await clock.advance(by: .seconds(100))
      #expect(clock.sleeperCount == 0)
      var wakes: [(TimeInterval, Date)] = []
      for try await wake in group { wakes.append(wake) }
      return wakes
    }
    #expect(wakes.count == deadlines.count)
    for (offset, now) in wakes {
      // No sleeper wakes before its deadline, nor after the instant advanced to.
      #expect(now >= at(offset))
      #expect(now <= at(100))
    }
    #expect(clock.now() == at(100))
  }

  @Test func advanceToNextDeadlineWakesAllSleepersDueThen() async throws {
    let clock = TestClock(now: clockStart)
    try await withThrowingTaskGroup(of: Void.self) { group in
      for offset in [15.0, 15, 45] {
        group.addTask { try await clock.sleep(until: at(offset)) }
      }
      await clock.waitForSleepers(3)
      #expect(await clock.advanceToNextDeadline())
      #expect(clock.now() == at(15))
      #expect(clock.sleeperCount == 1)
      #expect(clock.nextDeadline == at(45))
      #expect(await clock.advanceToNextDeadline())
      #expect(clock.now() == at(45))
      #expect(clock.sleeperCount == 0)
      try await group.waitForAll()
    }
  }

  @Test func aWokenTaskThatSleepsAgainWakesAtItsNewDeadline() async throws {
    let clock = TestClock(now: clockStart)
    let (wakes, reporter) = AsyncStream.makeStream(of: Wake.self)
    let sleeper = Task {
      try await clock.sleep(until: at(10))
      reporter.yield(Wake(label: "first", now: clock.now()))
      try await clock.sleep(until: at(15))
      return clock.now()
    }
    var iterator = wakes.makeAsyncIterator()
    await clock.waitForSleepers(1)
    await clock.advance(to: at(10))
    let first = await iterator.next()
    #expect(first == Wake(label: "first", now: at(10)))

    await clock.waitForSleepers(1)
    #expect(clock.nextDeadline == at(15))
    await clock.advance(to: at(20))
    #expect(try await sleeper.value == at(15))
    #expect(clock.now() == at(20))
  }

  @Test func waitForSleepersReturnsOnceEnoughTasksSleep() async throws {
    let clock = TestClock(now: clockStart)
    try await withThrowingTaskGroup(of: Void.self) { group in
      for offset in [5.0, 6, 7] {
        group.addTask { try await clock.sleep(until: at(offset)) }
      }
      await clock.waitForSleepers(2)
      #expect(clock.sleeperCount >= 2)
      await clock.waitForSleepers(3)
      #expect(clock.sleeperCount == 3)
      await clock.waitForSleepers(1)  // fewer than are sleeping: returns at once
      await clock.advance(by: .seconds(10))
      try await group.waitForAll()
    }
    #expect(clock.sleeperCount == 0)
  }

  @Test func severalWaitersForSleepersAreAllReleased() async throws {
    let clock = TestClock(now: clockStart)
    async let firstWaiter: Void = clock.waitForSleepers(1)
    async let secondWaiter: Void = clock.waitForSleepers(2)
    let sleepers = (0..<2).map { _ in Task { try await clock.sleep(for: .seconds(1)) } }
    _ = await (firstWaiter, secondWaiter)
    #expect(clock.sleeperCount == 2)
    await clock.advance(by: .seconds(1))
    for sleeper in sleepers { try await sleeper.value }
  }

  @Test func theClockServesAsAWallClock() async throws {
    let clock: any WallClock = TestClock(now: clockStart, autoAdvance: true)
    #expect(clock.now() == clockStart)
    try await clock.sleep(for: .seconds(2))
    #expect(clock.now() == at(2))
  }
}

import FlowCore
import FlowSimulation
import FlowTestKit
import Foundation
import Testing

@Suite("Simulator kernel")
struct SimulatorTests {
  @Test("events fire in time order and time jumps to the next event")
  func timeOrder() {
    let sim = Simulator(seed: 1)
    var fired: [(String, Duration)] = []
    sim.schedule(after: .seconds(30 * 86_400)) { fired.append(("month", sim.now)) }
    sim.schedule(after: .seconds(2)) { fired.append(("two", sim.now)) }
    sim.schedule(after: .milliseconds(5)) {
      fired.append(("five-ms", sim.now))
      sim.schedule(after: .seconds(1)) { fired.append(("nested", sim.now)) }
    }
    let stop = sim.runSynchronously()
    #expect(stop == .idle)
    #expect(fired.map(\.0) == ["five-ms", "nested", "two", "month"])
    #expect(
      fired.map(\.1) == [.milliseconds(5), .milliseconds(1005), .seconds(2), .seconds(2_592_000)])
    #expect(sim.eventsProcessed == 4)
    #expect(sim.clock.now() == sim.date)
  }

  @Test("simultaneous events are ordered by the seed, the same way every time")
  func tieBreak() {
    func order(_ seed: UInt64) -> [Int] {
      let sim = Simulator(seed: seed)
      var fired: [Int] = []
      for index in 0..<8 { sim.schedule(after: .seconds(1)) { fired.append(index) } }
      sim.runSynchronously()
      return fired
    }
    #expect(order(7) == order(7))
    let orders = Set((0..<20).map { order(UInt64($0)) })
    #expect(orders.count > 10)
  }

  @Test("a time limit stops before later events; a later run continues")
  func limits() {
    let sim = Simulator(seed: 3)
    var count = 0
    for second in 1...10 { sim.schedule(after: .seconds(second)) { count += 1 } }
    #expect(sim.runSynchronously(until: .seconds(4)) == .timeLimit)
    #expect(count == 4)
    #expect(sim.now == .seconds(4))
    #expect(sim.runSynchronously(maxEvents: 2) == .eventLimit)
    #expect(count == 6)
    #expect(sim.runSynchronously() == .idle)
    #expect(count == 10)
  }

  @Test("a cancelled event never fires and is not counted")
  func cancel() {
    let sim = Simulator(seed: 3)
    var fired = false
    let event = sim.schedule(after: .seconds(1)) { fired = true }
    sim.schedule(after: .milliseconds(1)) { sim.cancel(event) }
    sim.runSynchronously()
    #expect(!fired)
    #expect(sim.eventsProcessed == 1)
  }

  @Test("the trace hash is the same for one seed and differs between seeds")
  func traceHash() async throws {
    func hash(_ seed: UInt64) -> UInt64 {
      let sim = Simulator(seed: seed)
      var random = sim.randomStream("work")
      for index in 0..<50 {
        sim.schedule(after: .milliseconds(random.int(below: 100)), value: UInt64(index)) {}
      }
      sim.runSynchronously()
      return sim.trace.hash
    }
    let first = try await SimulationSeeds.checkDeterminism(seed: 11) { hash($0) }
    #expect(first == hash(11))
    #expect(hash(11) != hash(12))
  }

  @Test("the trace keeps the most recent entries and counts all of them")
  func traceRetention() {
    let sim = Simulator(seed: 1, traceRetention: 3)
    for index in 1...5 { sim.schedule(after: .seconds(index), value: UInt64(index)) {} }
    sim.runSynchronously()
    #expect(sim.trace.count == 5)
    #expect(sim.trace.entries.map(\.value) == [3, 4, 5])
    #expect(sim.trace.entries.last?.description == "5s sim.timer v=5")
  }

  @Test("derived random streams are independent and repeatable")
  func streams() {
    let sim = Simulator(seed: 99)
    var a = sim.randomStream("a")
    var a2 = sim.randomStream("a")
    var b = sim.randomStream("b")
    let first = (0..<4).map { _ in a.next() }
    #expect(first == (0..<4).map { _ in a2.next() })
    #expect(first != (0..<4).map { _ in b.next() })
    #expect(sim.randomSource("a").seed == sim.randomStream("a").seed)
  }
}

@Suite("Simulation async bodies")
struct SimulationAsyncTests {
  @Test("spawned bodies sleep on the virtual clock and finish at their virtual times")
  func sleepingBodies() async {
    let sim = Simulator(seed: 5)
    let clock = sim.clock
    var finished: [(Int, Duration)] = []
    for index in 1...3 {
      sim.schedule(after: .seconds(index)) {
        sim.spawn(value: UInt64(index)) {
          try await clock.sleep(for: .seconds(10 * index))
          try await clock.sleep(for: .seconds(1))
          return index
        } completion: { result in
          if case .success(let value) = result { finished.append((value, sim.now)) }
        }
      }
    }
    let started = ContinuousClock.now
    let stop = await sim.run()
    #expect(stop == .idle)
    #expect(finished.map(\.0) == [1, 2, 3])
    #expect(finished.map(\.1) == [.seconds(12), .seconds(23), .seconds(34)])
    #expect(ContinuousClock.now - started < .seconds(5))
  }

  @Test("the interleaving of runnable bodies is decided by the seed")
  func interleaving() async {
    func order(_ seed: UInt64) async -> [Int] {
      let sim = Simulator(seed: seed)
      var done: [Int] = []
      sim.schedule(after: .zero) {
        for index in 0..<6 {
          sim.spawn { () async -> Int in
            await Task.yield()
            return index
          } completion: {
            done.append((try? $0.get()) ?? -1)
          }
        }
      }
      await sim.run()
      return done
    }
    let first = await order(1)
    #expect(first.sorted() == Array(0..<6))
    #expect(await order(1) == first)
    var distinct: Set<[Int]> = []
    for seed in 0..<12 { distinct.insert(await order(UInt64(seed))) }
    #expect(distinct.count > 3)
  }

  @Test("a cancelled spawn's sleep throws CancellationError at once")
  func cancelSpawn() async {
    let sim = Simulator(seed: 2)
    let clock = sim.clock
    var outcome: String?
    sim.schedule(after: .zero) {
      let spawn = sim.spawn {
        try await clock.sleep(for: .seconds(3600))
        return 1
      } completion: { result in
        outcome =
          (try? result.get()).map { "value \($0) at \(sim.now)" } ?? "cancelled at \(sim.now)"
      }
      sim.schedule(after: .seconds(5)) { sim.cancelSpawn(spawn) }
    }
    await sim.run()
    #expect(outcome == "cancelled at 5.0 seconds")
    #expect(sim.runningSpawns == 0)
  }

  @Test("bodies still sleeping when the time limit comes are cancelled")
  func shutdown() async {
    let sim = Simulator(seed: 2)
    let clock = sim.clock
    var cancelled = 0
    sim.schedule(after: .zero) {
      for _ in 0..<4 {
        sim.spawn {
          try await clock.sleep(for: .seconds(100))
        } completion: {
          if case .failure(let error) = $0, error is CancellationError { cancelled += 1 }
        }
      }
    }
    #expect(await sim.run(until: .seconds(10)) == .timeLimit)
    #expect(cancelled == 4)
  }
}

import Testing

@testable import FlowClusterProtocol

extension ClusterSchedulerStateMachine {
  /// Reports `task` finished on worker `id` after running `nanoseconds` on the worker's clock.
  mutating func succeed(_ task: ClusterTaskID, on id: UInt64, ran nanoseconds: UInt64) -> [Action] {
    handle(
      .messagesReceived(
        ConnectionID(id),
        [
          .results([
            ClusterTaskResult(taskID: task, outcome: .success([]), runNanoseconds: nanoseconds)
          ])
        ]))
  }

  /// Runs one attempt of `task` on a fresh single worker `id` and reports it took `nanoseconds`
  /// (how a test teaches the scheduler a task's run time).
  mutating func observe(_ task: String, ran nanoseconds: [UInt64], id: ClusterTaskID) {
    for (offset, sample) in nanoseconds.enumerated() {
      let taskID = id + ClusterTaskID(offset)
      let actions = handle(.submit([submission(taskID, task: task)]))
      let worker = actions.compactMap { action -> UInt64? in
        guard case .send(let connection, let messages) = action,
          messages.contains(where: { if case .assign = $0 { true } else { false } })
        else { return nil }
        return connection.rawValue
      }.first
      _ = succeed(taskID, on: worker ?? 0, ran: sample)
    }
  }
}

@Suite("scheduler: the assignment window adapts to how long tasks run")
struct AdaptiveWindowTests {
  struct Row: Sendable, CustomStringConvertible {
    let observed: [UInt64]
    let shortTaskWindow: Int
    let window: Int
    var description: String { "\(observed.count) runs of \(observed.last ?? 0) ns → \(window)" }
  }

  static let microsecond: UInt64 = 1_000
  static let millisecond: UInt64 = 1_000_000

  // prefetchPerThread 1 (the base window is 2), a latency bound of 2 ms.
  static let rows: [Row] = [
    Row(observed: [], shortTaskWindow: 32, window: 2),  // never seen: not known to be short
    Row(observed: [1 * microsecond], shortTaskWindow: 32, window: 32),  // capped by the window
    Row(observed: [100 * microsecond], shortTaskWindow: 32, window: 20),  // 2 ms / 100 µs
    Row(observed: [400 * microsecond], shortTaskWindow: 32, window: 5),
    Row(observed: [1 * millisecond], shortTaskWindow: 32, window: 2),  // 2 ms / 1 ms: the base
    Row(observed: [1_000 * millisecond], shortTaskWindow: 32, window: 2),
    Row(observed: [1 * microsecond], shortTaskWindow: 0, window: 2),  // off
    Row(observed: [1 * microsecond], shortTaskWindow: 8, window: 8),
    // A task that becomes slow is noticed: 16 short runs, then 16 of 10 ms.
    Row(
      observed: Array(repeating: 1 * microsecond, count: 16)
        + Array(repeating: 10 * millisecond, count: 16), shortTaskWindow: 32, window: 2),
  ]

  @Test(arguments: rows)
  func windowFromTheMeanRunTime(row: Row) {
    var scheduler = Scheduler(
      configuration: .init(
        prefetchPerThread: 1, shortTaskWindow: row.shortTaskWindow,
        batchLatencyBound: .milliseconds(2)))
    scheduler.join(9, capacity: 1)
    scheduler.observe("t", ran: row.observed, id: 1000)
    #expect(scheduler.window(flow: "f", task: "t") == row.window)
    #expect(scheduler.window(flow: "f", task: "other") == 2)
  }

  @Test func shortTasksGoManyPerFrame() {
    var scheduler = Scheduler(configuration: .init(prefetchPerThread: 1, shortTaskWindow: 32))
    scheduler.join(1, capacity: 1)
    scheduler.join(2, capacity: 1)
    scheduler.observe("short", ran: [2 * Self.microsecond], id: 1000)
    let actions = scheduler.handle(.submit((1...100).map { submission($0, task: "short") }))
    // One frame per worker, each with the whole window (32), alternating.
    #expect(actions.count == 2)
    #expect(assigned(actions, to: c1).count == 32)
    #expect(assigned(actions, to: c2).count == 32)
    #expect(scheduler.queuedCount == 36)
  }

  @Test(arguments: [false, true])
  func longTasksSpreadAcrossWorkers(observedLong: Bool) {
    var scheduler = Scheduler(configuration: .init(prefetchPerThread: 1))
    scheduler.join(1, capacity: 1)
    scheduler.join(2, capacity: 1)
    if observedLong { scheduler.observe("long", ran: [50 * Self.millisecond], id: 1000) }
    let actions = scheduler.handle(.submit((1...6).map { submission($0, task: "long") }))
    // Two each (one running, one prefetched); the rest wait for room.
    #expect(assigned(actions, to: c1) == [1, 3])
    #expect(assigned(actions, to: c2) == [2, 4])
    #expect(scheduler.queuedCount == 2)
  }

  @Test func aLongTaskWaitsBehindShortOnesOnlyUntilAWorkerHasRoomAndGoesFirst() {
    var scheduler = Scheduler(configuration: .init(prefetchPerThread: 1))
    scheduler.join(1, capacity: 1)
    scheduler.observe("short", ran: [2 * Self.microsecond], id: 1000)
    scheduler.observe("long", ran: [50 * Self.millisecond], id: 2000)
    var actions = scheduler.handle(.submit((1...32).map { submission($0, task: "short") }))
    #expect(assigned(actions, to: c1).count == 32)
    // The worker holds 32: no room for a long task (its window is 2), nor for short ones
    // submitted after it (they do not overtake it).
    actions = scheduler.handle(
      .submit([submission(100, task: "long")] + (101...104).map { submission($0, task: "short") }))
    #expect(assigned(actions, to: c1).isEmpty)
    // Nothing moves until the worker holds less than 2; then the long task goes first.
    for id in ClusterTaskID(1)...30 {
      #expect(assigned(scheduler.succeed(id, on: 1, ran: 2 * Self.microsecond), to: c1).isEmpty)
    }
    actions = scheduler.succeed(31, on: 1, ran: 2 * Self.microsecond)
    #expect(assigned(actions, to: c1) == [100, 101, 102, 103, 104])
  }

  @Test func aRunWithMixedDurationsFinishesNoSlower() {
    // 2 workers of 1 thread, 50 µs per hop; 400 tasks of 5 µs with 12 of 20 ms among them.
    let adaptive = MixedRun.makespan(shortTaskWindow: 32)
    let fixed = MixedRun.makespan(shortTaskWindow: 0)
    #expect(adaptive.done == 412 && fixed.done == 412)
    #expect(adaptive.nanoseconds <= fixed.nanoseconds, "adaptive \(adaptive), fixed \(fixed)")
    // And long tasks ran on both workers.
    #expect(adaptive.longPerWorker.count == 2, "\(adaptive.longPerWorker)")
  }
}

/// A timeline of one run through the pure scheduler: workers run their assignments in order,
/// every message takes `hop` to arrive, run times are the tasks' durations.
enum MixedRun {
  static let hop: UInt64 = 50_000
  static let short: UInt64 = 5_000
  static let long: UInt64 = 20_000_000

  struct Outcome: CustomStringConvertible {
    var nanoseconds: UInt64 = 0
    var done = 0
    var longPerWorker: [UInt64: Int] = [:]
    var description: String { "\(nanoseconds / 1000) µs for \(done) tasks" }
  }

  enum Arrival {
    case assign(worker: UInt64, [ClusterAssignment])
    case result(worker: UInt64, ClusterTaskID, ran: UInt64)
    case ran(worker: UInt64)
  }

  static func makespan(shortTaskWindow: Int) -> Outcome {
    var scheduler = Scheduler(
      configuration: .init(prefetchPerThread: 1, shortTaskWindow: shortTaskWindow))
    scheduler.join(1, capacity: 1)
    scheduler.join(2, capacity: 1)
    var outcome = Outcome()
    // (time, sequence) ordered arrivals.
    var pending: [(time: UInt64, sequence: Int, arrival: Arrival)] = []
    var sequence = 0
    func at(_ time: UInt64, _ arrival: Arrival) {
      sequence += 1
      pending.append((time, sequence, arrival))
    }
    func send(_ actions: [Scheduler.Action], now: UInt64) {
      for action in actions {
        guard case .send(let id, let messages) = action else { continue }
        for case .assign(let list) in messages {
          at(now + hop, .assign(worker: id.rawValue, list))
        }
      }
    }
    var queues: [UInt64: [ClusterAssignment]] = [1: [], 2: []]
    var busy: [UInt64: Bool] = [1: false, 2: false]
    func startNext(_ worker: UInt64, now: UInt64) {
      guard !busy[worker]!, let next = queues[worker]!.first else { return }
      queues[worker]!.removeFirst()
      busy[worker] = true
      let ran = next.task == "long" ? long : short
      if next.task == "long" { outcome.longPerWorker[worker, default: 0] += 1 }
      at(now + ran, .ran(worker: worker))
      at(now + ran + hop, .result(worker: worker, next.taskID, ran: ran))
    }
    // Long tasks at fixed places among the short ones.
    let tasks = (1...412).map { id in
      submission(ClusterTaskID(id), task: id % 34 == 0 ? "long" : "short")
    }
    send(scheduler.handle(.submit(tasks)), now: 0)
    while !pending.isEmpty {
      let index = pending.indices.min {
        (pending[$0].time, pending[$0].sequence) < (pending[$1].time, pending[$1].sequence)
      }!
      let (now, _, arrival) = pending.remove(at: index)
      switch arrival {
      case .assign(let worker, let list):
        queues[worker]!.append(contentsOf: list)
        startNext(worker, now: now)
      case .ran(let worker):
        busy[worker] = false
        startNext(worker, now: now)
      case .result(let worker, let id, let ran):
        outcome.done += 1
        outcome.nanoseconds = now
        send(scheduler.succeed(id, on: worker, ran: ran), now: now)
      }
    }
    return outcome
  }
}

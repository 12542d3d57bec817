import FlowCore
import Foundation
import Synchronization

/// The one reader of the store behind every live stream of a server process: the streams of
/// N open tabs on one run (or one run-list filter) share one set of store reads per poll
/// interval. Whichever stream asks first after the interval reads the store; the streams that
/// ask while it reads wait for its answer; the streams that ask within the interval get the
/// answer it read. A run's recent transitions and log records are kept, so that each stream
/// takes what it has not sent yet from memory; a stream further behind reads its backlog from
/// the store itself.
final class LiveHub: Sendable {
  /// What the hub last read of one run.
  struct RunSnapshot: Sendable {
    /// The run as stored (not yet reported: a reader turns a stale Running into Crashed).
    var run: FlowRunRecord?
    /// Every transition with a sequence above ``transitionsFrom``, in order.
    var transitions: [TransitionRecord] = []
    /// Every log record with a sequence above ``logsFrom``, in order.
    var logs: [StoredLogRecord] = []
    var transitionsFrom: Int64
    var logsFrom: Int64
    /// The last transition and log sequence read.
    var lastTransition: Int64
    var lastLog: Int64
    /// The last read found fewer records than a page: nothing more is waiting in the store.
    var caughtUp = false

    init(from position: RunStream.Position) {
      transitionsFrom = position.transitions
      logsFrom = position.logs
      lastTransition = position.transitions
      lastLog = position.logs
    }

    /// Up to `limit` kept transitions after `sequence`, or nil when the hub does not hold them
    /// all (the stream must read them from the store).
    func transitions(after sequence: Int64, limit: Int) -> [TransitionRecord]? {
      guard sequence >= transitionsFrom else { return nil }
      let start = Self.firstIndex(transitions, after: sequence, \.sequence)
      return Array(transitions[start...].prefix(limit))
    }

    /// Up to `limit` kept log records after `sequence`, or nil (see ``transitions(after:limit:)``).
    func logs(after sequence: Int64, limit: Int) -> [StoredLogRecord]? {
      guard sequence >= logsFrom else { return nil }
      let start = Self.firstIndex(logs, after: sequence, \.sequence)
      return Array(logs[start...].prefix(limit))
    }

    static func firstIndex<T>(_ records: [T], after sequence: Int64, _ key: KeyPath<T, Int64>)
      -> Int
    {
      var low = 0
      var high = records.count
      while low < high {
        let middle = (low + high) / 2
        if records[middle][keyPath: key] <= sequence { low = middle + 1 } else { high = middle }
      }
      return low
    }
  }

  /// Which first page of the run list a stream watches.
  struct RunListKey: Hashable, Sendable {
    var flowName: String?
    var state: String?
    var limit: Int
  }

  /// Records read per poll and kind at most.
  static let pageSize = 500
  /// Transitions and log records kept per run.
  static let kept = 5000

  let runs: SharedPoll<UUID, RunSnapshot>
  let lists: SharedPoll<RunListKey, [FlowRunRecord]>
  /// How many times the hub read the store (for `/metrics` and the tests).
  let reads = Atomic<Int>(0)

  init(clock: any WallClock, interval: Duration) {
    runs = SharedPoll(clock: clock, interval: interval)
    lists = SharedPoll(clock: clock, interval: interval)
  }

  /// The latest snapshot of run `id` (starting, for a run nobody watched yet, at `position`).
  func run(_ id: UUID, from position: RunStream.Position, store: any RunStoreBrowsing)
    async throws -> RunSnapshot
  {
    try await runs.value(for: id) { previous in
      reads.add(1, ordering: .relaxed)
      var snapshot = previous ?? RunSnapshot(from: position)
      let lastTransition = snapshot.lastTransition
      let lastLog = snapshot.lastLog
      async let record = store.flowRun(id: id)
      async let transitions = store.transitions(
        flowRunID: id, after: lastTransition, limit: Self.pageSize)
      async let logs = store.logs(
        flowRunID: id, after: lastLog, minimumLevel: .trace, limit: Self.pageSize)
      snapshot.run = try await record
      let newTransitions = try await transitions
      let newLogs = try await logs
      snapshot.transitions += newTransitions
      snapshot.logs += newLogs
      if let last = newTransitions.last { snapshot.lastTransition = last.sequence }
      if let last = newLogs.last { snapshot.lastLog = last.sequence }
      if snapshot.transitions.count > Self.kept {
        snapshot.transitions.removeFirst(snapshot.transitions.count - Self.kept)
        snapshot.transitionsFrom = snapshot.transitions[0].sequence - 1
      }
      if snapshot.logs.count > Self.kept {
        snapshot.logs.removeFirst(snapshot.logs.count - Self.kept)
        snapshot.logsFrom = snapshot.logs[0].sequence - 1
      }
      snapshot.caughtUp = newTransitions.count < Self.pageSize && newLogs.count < Self.pageSize
      return (snapshot, snapshot.caughtUp)
    }
  }

  /// The latest first page of the run list for `key`.
  func runList(
    _ key: RunListKey, staleBefore: @escaping @Sendable () -> Date, store: any RunStoreBrowsing
  ) async throws -> [FlowRunRecord] {
    try await lists.value(for: key) { _ in
      reads.add(1, ordering: .relaxed)
      let page = try await store.flowRuns(
        FlowRunQuery(
          flowName: key.flowName, state: key.state, limit: key.limit, staleBefore: staleBefore()))
      return (page, true)
    }
  }
}

/// Values read for many waiters by one of them: at most one read per key in flight, and a
/// value read less than `interval` ago is handed out again without reading.
final class SharedPoll<Key: Hashable & Sendable, Value: Sendable>: Sendable {
  private struct Slot {
    var value: Value?
    var readAt = Date.distantPast
    var reusable = false
    var reading = false
    var waiters: [CheckedContinuation<Value?, Never>] = []
    var usedAt = Date.distantPast
  }

  private enum Decision {
    case cached(Value)
    case wait
    case read(Value?)
  }

  private let slots = Mutex<[Key: Slot]>([:])
  let clock: any WallClock
  let interval: TimeInterval
  /// A key nobody asked for in this long is forgotten.
  static var idle: TimeInterval { 60 }

  init(clock: any WallClock, interval: Duration) {
    self.clock = clock
    self.interval = interval.timeInterval
  }

  /// How many keys are held.
  var count: Int { slots.withLock { $0.count } }

  /// The value for `key`: the one read within the interval, the one being read, or a new one
  /// that `read` makes from the previous value (and says whether it may be handed out again).
  func value(for key: Key, read: (Value?) async throws -> (Value, reusable: Bool))
    async throws -> Value
  {
    while true {
      let now = clock.now()
      let decision = slots.withLock { slots -> Decision in
        var slot = slots[key] ?? Slot()
        defer { slots[key] = slot }
        slot.usedAt = now
        if slot.reading { return .wait }
        if let value = slot.value, slot.reusable, now.timeIntervalSince(slot.readAt) < interval {
          return .cached(value)
        }
        slot.reading = true
        return .read(slot.value)
      }
      switch decision {
      case .cached(let value):
        return value
      case .wait:
        let value: Value? = await withCheckedContinuation { continuation in
          let waiting = slots.withLock { slots -> Bool in
            guard slots[key]?.reading == true else { return false }
            slots[key]?.waiters.append(continuation)
            return true
          }
          if !waiting { continuation.resume(returning: nil) }
        }
        if let value { return value }
        try Task.checkCancellation()
      case .read(let previous):
        let outcome: Result<(Value, reusable: Bool), any Error>
        do {
          outcome = .success(try await read(previous))
        } catch {
          outcome = .failure(error)
        }
        let readAt = clock.now()
        let waiters = slots.withLock { slots -> [CheckedContinuation<Value?, Never>] in
          guard var slot = slots[key] else { return [] }
          let waiters = slot.waiters
          slot.waiters = []
          slot.reading = false
          if case .success(let (value, reusable)) = outcome {
            slot.value = value
            slot.reusable = reusable
            slot.readAt = readAt
          }
          slots[key] = slot
          slots = slots.filter {
            $0.value.reading || readAt.timeIntervalSince($0.value.usedAt) < Self.idle
          }
          return waiters
        }
        switch outcome {
        case .success(let (value, _)):
          for waiter in waiters { waiter.resume(returning: value) }
          return value
        case .failure(let error):
          // The waiters try again: one of them reads next.
          for waiter in waiters { waiter.resume(returning: nil) }
          throw error
        }
      }
    }
  }
}

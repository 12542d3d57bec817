import FlowClusterProtocol
import Foundation
import Synchronization

/// A worker's started attempts waiting for a slot, and its finished results waiting for the
/// event loop, under one lock shared by the event loop and the slot runners.
///
/// A runner holds one of the worker's slots for the worker's life and runs attempts one after
/// another; with none waiting it parks, and the event loop hands it the next attempt directly
/// (one wake-up, not one through the task loop and another for a new child task). Results go
/// to the event loop in one hand-over for all that finished meanwhile.
///
/// A conditional start (an assignment with ``ClusterAssignment/after``) waits beside the attempt
/// it runs after; when that attempt succeeds, the runner that ran it runs the follower next, on
/// its output, without a hand-over (a chain runs back to back); when it does not succeed, the
/// follower and what runs after it are dropped (the worker's machine reports them not run).
final class WorkerAttemptQueue: Sendable {
  /// An attempt to run, with what its body needs.
  struct Entry: Sendable {
    var assignment: ClusterAssignment
    let run: ClusterRunContext?
    let parameters: [String: any Sendable]
    let load: Double?
    /// The task's name (nil: unknown): attempts of one name run alike, whatever their slugs.
    var taskName: String? = nil
    /// The registered task (nil: unknown), looked up once when the assignment arrived.
    var registered: ClusterTaskRegistry.Registered? = nil

    /// What tells attempts that are expected to run alike: the task's name, else its slug.
    var kind: String { taskName ?? assignment.task }
  }

  /// What a runner gets: the attempt, and how many attempts run with it (it included).
  typealias Handed = (entry: Entry, running: Int)

  private struct State {
    var waiting: [Entry] = []
    var head = 0
    var freeSlots: [Int]
    var parked: [CheckedContinuation<Handed?, Never>] = []
    var busy = 0
    var closed = false
    var results: [ClusterTaskResult] = []
    var handOverPending = false
    /// When the first result held back for the next hand-over finished.
    var firstHeld = Date.distantPast
    /// Conditional starts, by the attempt they run after.
    var armed: [ClusterTaskID: Entry] = [:]
    /// Conditional starts dropped since the last hand-over of results (their upstream did not
    /// succeed, or was cancelled): what arrives to run after them is dropped too.
    var discarded: Set<ClusterTaskID> = []

    /// Puts `entry` to run after its upstream; when the upstream already finished (its result
    /// waits for the hand-over), it runs first in line or is dropped at once.
    mutating func arm(_ entry: Entry, after upstream: ClusterTaskID) {
      if discarded.contains(upstream) {
        discarded.insert(entry.assignment.taskID)
        return
      }
      guard let result = results.last(where: { $0.taskID == upstream }) else {
        armed[upstream] = entry
        return
      }
      guard case .success(let output) = result.outcome else {
        discarded.insert(entry.assignment.taskID)
        return
      }
      var released = entry
      released.assignment.inputs = [output]
      waiting.insert(released, at: head)
    }

    /// The follower of `result`'s attempt, ready to run on its output, if it succeeded; drops
    /// the followers of an attempt that did not.
    mutating func follower(of result: ClusterTaskResult) -> Entry? {
      guard !armed.isEmpty, let next = armed.removeValue(forKey: result.taskID) else {
        return nil
      }
      guard case .success(let output) = result.outcome, !closed else {
        dropChain(after: next)
        return nil
      }
      var released = next
      released.assignment.inputs = [output]
      return released
    }

    /// Drops `entry` (a conditional start that will not run) and what runs after it.
    mutating func dropChain(after entry: Entry) {
      var id = entry.assignment.taskID
      discarded.insert(id)
      while let next = armed.removeValue(forKey: id) {
        id = next.assignment.taskID
        discarded.insert(id)
      }
    }

    mutating func take() -> Entry? {
      guard head < waiting.count else { return nil }
      let entry = waiting[head]
      head += 1
      ClusterQueueCompaction.dropTaken(&waiting, head: &head)
      return entry
    }
  }

  private let state: Mutex<State>

  /// A queue for a worker with `threads` slots.
  init(threads: Int) {
    state = Mutex(State(freeSlots: Array((0..<max(threads, 1)).reversed())))
  }

  /// Queues `entries`, handing them to parked runners first; returns the slots on which new
  /// runners must start (while attempts wait and slots are free).
  func add(_ entries: [Entry]) -> [Int] {
    var wakes: [(CheckedContinuation<Handed?, Never>, Handed)] = []
    let slots = state.withLock { state -> [Int] in
      guard !state.closed else { return [] }
      for entry in entries {
        if let upstream = entry.assignment.after {
          state.arm(entry, after: upstream)
        } else {
          state.waiting.append(entry)
        }
      }
      while !state.parked.isEmpty, let entry = state.take() {
        let runner = state.parked.removeLast()
        state.busy += 1
        wakes.append((runner, (entry, state.busy)))
      }
      var slots: [Int] = []
      while state.head + slots.count < state.waiting.count, let slot = state.freeSlots.popLast() {
        slots.append(slot)
      }
      return slots
    }
    for (runner, handed) in wakes { runner.resume(returning: handed) }
    return slots
  }

  /// The next attempt for a runner whose previous one (if any) ended; waits for one. Nil once
  /// the queue is closed: the runner ends. A runner that parks while results are held back
  /// calls `handOver` (the caller's way to wake the event loop for them) first.
  func next(finishedOne: Bool, handOver: (@Sendable () -> Void)? = nil) async -> Handed? {
    await withTaskCancellationHandler {
      await withCheckedContinuation { (continuation: CheckedContinuation<Handed?, Never>) in
        var handsOver = false
        let handed = state.withLock { state -> Handed?? in
          if finishedOne { state.busy -= 1 }
          guard !state.closed else { return .some(nil) }
          if let entry = state.take() {
            state.busy += 1
            return .some((entry, state.busy))
          }
          if !state.results.isEmpty, !state.handOverPending {
            state.handOverPending = true
            handsOver = true
          }
          state.parked.append(continuation)
          return nil
        }
        if handsOver { handOver?() }
        if let handed { continuation.resume(returning: handed) }
      }
    } onCancel: {
      close()
    }
  }

  /// Ends every runner: parked ones at once, busy ones when their body returns.
  func close() {
    let parked = state.withLock { state in
      state.closed = true
      state.armed.removeAll()
      defer { state.parked.removeAll() }
      return state.parked
    }
    for runner in parked { runner.resume(returning: nil) }
  }

  /// Drops waiting attempts that were cancelled before they ran, and the conditional starts
  /// that run after a cancelled attempt (or are cancelled themselves), with their followers.
  func drop(_ ids: [ClusterTaskID]) {
    let dropped = Set(ids)
    state.withLock { state in
      let kept = state.waiting[state.head...].filter { !dropped.contains($0.assignment.taskID) }
      state.waiting = Array(kept)
      state.head = 0
      guard !state.armed.isEmpty else { return }
      let ended = state.armed.filter {
        dropped.contains($0.key) || dropped.contains($0.value.assignment.taskID)
      }
      for (upstream, entry) in ended.sorted(by: { $0.key < $1.key })
      where state.armed[upstream] != nil {
        state.armed[upstream] = nil
        state.dropChain(after: entry)
      }
    }
  }

  /// Adds a finished attempt's result; true when the caller must schedule a hand-over to the
  /// event loop (none is pending). A follower of the attempt goes first in line.
  func finished(_ result: ClusterTaskResult) -> Bool {
    let (handOver, next) = finish(result)
    if let next {
      state.withLock { state in state.waiting.insert(next, at: state.head) }
    }
    return handOver
  }

  /// How a runner's finished attempt ran, for holding its result back (see
  /// ``finish(_:ran:)``).
  struct Ran: Sendable {
    /// The attempt.
    let assignment: ClusterAssignment
    /// How long its body ran, in seconds.
    let seconds: Double
    /// When it ended, on the worker's clock.
    let ended: Date
    /// The task's name (nil: unknown; its slug stands in).
    var taskName: String? = nil

    /// What tells attempts that are expected to run alike (see ``Entry/kind``).
    var kind: String { taskName ?? assignment.task }
  }

  /// The most results held back for one hand-over.
  static let holdBatch = 64
  /// The longest the first held result waits for the hand-over, in seconds.
  static let holdDelay = 0.000_5
  /// A body shorter than this (seconds) is short: the next attempt of its task is expected to
  /// end soon, so results may wait for it.
  static let shortBody = 0.000_05

  /// Adds a finished attempt's result: whether the caller must schedule a hand-over to the
  /// event loop (none is pending), and the conditional start that runs next on the caller's
  /// slot (the attempt succeeded and one runs after it), with the attempt's output as input.
  ///
  /// With `ran`, results of short bodies are held back for one hand-over while the next
  /// attempt in line is of the same task, by name (so expected short too): a runner of short bodies
  /// wakes the event loop once per ``holdBatch`` results, and a held result waits at most
  /// ``holdDelay`` plus one short body. A runner that finds nothing more to run hands over
  /// what is held before it parks.
  func finish(_ result: ClusterTaskResult, ran: Ran? = nil) -> (handOver: Bool, next: Entry?) {
    state.withLock { state in
      state.results.append(result)
      let next = state.follower(of: result)
      guard !state.handOverPending else { return (false, next) }
      if let ran {
        if state.results.count == 1 { state.firstHeld = ran.ended }
        let upcoming = next ?? (state.head < state.waiting.count ? state.waiting[state.head] : nil)
        if let upcoming, ran.seconds < Self.shortBody, state.results.count < Self.holdBatch,
          ran.ended.timeIntervalSince(state.firstHeld) < Self.holdDelay,
          upcoming.kind == ran.kind,
          upcoming.assignment.flow == ran.assignment.flow
        {
          return (false, next)
        }
      }
      state.handOverPending = true
      return (true, next)
    }
  }

  /// Takes the results finished since the last hand-over (on the event loop).
  func takeResults() -> [ClusterTaskResult] {
    state.withLock { state in
      state.handOverPending = false
      state.discarded.removeAll()
      let results = state.results
      state.results.removeAll(keepingCapacity: true)
      return results
    }
  }
}

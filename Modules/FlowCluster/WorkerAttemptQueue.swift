import FlowClusterProtocol
import Synchronization

/// A worker's started attempts waiting for a slot, and its finished results waiting for the
/// event loop, under one lock shared by the event loop and the slot runners.
///
/// A runner holds one of the worker's slots for the worker's life and runs attempts one after
/// another; with none waiting it parks, and the event loop hands it the next attempt directly
/// (one wake-up, not one through the task loop and another for a new child task). Results go
/// to the event loop in one hand-over for all that finished meanwhile.
final class WorkerAttemptQueue: Sendable {
  /// An attempt to run, with what its body needs.
  struct Entry: Sendable {
    let assignment: ClusterAssignment
    let run: ClusterRunContext?
    let parameters: [String: any Sendable]
    let load: Double?
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

    mutating func take() -> Entry? {
      guard head < waiting.count else { return nil }
      let entry = waiting[head]
      head += 1
      if head == waiting.count {
        waiting.removeAll(keepingCapacity: true)
        head = 0
      }
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
      state.waiting.append(contentsOf: entries)
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
  /// the queue is closed: the runner ends.
  func next(finishedOne: Bool) async -> Handed? {
    await withTaskCancellationHandler {
      await withCheckedContinuation { (continuation: CheckedContinuation<Handed?, Never>) in
        let handed = state.withLock { state -> Handed?? in
          if finishedOne { state.busy -= 1 }
          guard !state.closed else { return .some(nil) }
          if let entry = state.take() {
            state.busy += 1
            return .some((entry, state.busy))
          }
          state.parked.append(continuation)
          return nil
        }
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
      defer { state.parked.removeAll() }
      return state.parked
    }
    for runner in parked { runner.resume(returning: nil) }
  }

  /// Drops waiting attempts that were cancelled before they ran.
  func drop(_ ids: [ClusterTaskID]) {
    let dropped = Set(ids)
    state.withLock { state in
      let kept = state.waiting[state.head...].filter { !dropped.contains($0.assignment.taskID) }
      state.waiting = Array(kept)
      state.head = 0
    }
  }

  /// Adds a finished attempt's result; true when the caller must schedule a hand-over to the
  /// event loop (none is pending).
  func finished(_ result: ClusterTaskResult) -> Bool {
    state.withLock { state in
      state.results.append(result)
      guard !state.handOverPending else { return false }
      state.handOverPending = true
      return true
    }
  }

  /// Takes the results finished since the last hand-over (on the event loop).
  func takeResults() -> [ClusterTaskResult] {
    state.withLock { state in
      state.handOverPending = false
      let results = state.results
      state.results.removeAll(keepingCapacity: true)
      return results
    }
  }
}

import FlowClusterProtocol
import Synchronization

/// A worker's started attempts waiting for a slot, and its finished results waiting for the
/// event loop, under one lock shared by the task loop, the slot runners and the event loop.
///
/// A runner holds one of the worker's slots and runs attempts one after another until none
/// waits, so short bodies run back to back without a wake-up each; results go to the event
/// loop in one hand-over for all that finished meanwhile.
final class WorkerAttemptQueue: Sendable {
  /// An attempt to run, with what its body needs.
  struct Entry: Sendable {
    let assignment: ClusterAssignment
    let run: ClusterRunContext?
    let parameters: [String: any Sendable]
    let load: Double?
  }

  private struct State {
    var waiting: [Entry] = []
    var head = 0
    var freeSlots: [Int]
    var runners = 0
    var results: [ClusterTaskResult] = []
    var handOverPending = false
  }

  private let state: Mutex<State>

  /// A queue for a worker with `threads` slots.
  init(threads: Int) {
    state = Mutex(State(freeSlots: Array((0..<max(threads, 1)).reversed())))
  }

  /// Queues `entries`; returns the slots on which new runners must start (one per free slot,
  /// while attempts wait).
  func add(_ entries: [Entry]) -> [Int] {
    state.withLock { state in
      state.waiting.append(contentsOf: entries)
      var slots: [Int] = []
      while state.head + slots.count < state.waiting.count, let slot = state.freeSlots.popLast() {
        slots.append(slot)
      }
      state.runners += slots.count
      return slots
    }
  }

  /// The next attempt for a runner, with how many runners run; nil when none waits: the
  /// runner ends and `slot` is free.
  func next(slot: Int) -> (entry: Entry, running: Int)? {
    state.withLock { state in
      guard state.head < state.waiting.count else {
        state.freeSlots.append(slot)
        state.runners -= 1
        state.waiting.removeAll(keepingCapacity: true)
        state.head = 0
        return nil
      }
      let entry = state.waiting[state.head]
      state.head += 1
      return (entry, state.runners)
    }
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

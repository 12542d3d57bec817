import FlowCore
import FlowScheduling
import Foundation
import Synchronization
import Testing

/// A zone by IANA name (the names used here all exist).
func zone(_ identifier: String) -> TimeZone {
  TimeZone(identifier: identifier)!
}

/// The instant written as ISO-8601 with an offset, e.g. `2025-03-30T03:00:00+02:00`.
func instant(_ text: String) -> Date {
  try! ISO8601OffsetFormat(timeZone: .gmt).date(from: text)
}

/// The next `count` fire times of `schedule` after `start`, as ISO-8601 in `timeZone`.
func fireTimes(
  _ schedule: some Schedule, after start: String, count: Int, in timeZone: TimeZone
) -> [String] {
  let format = ISO8601OffsetFormat(timeZone: timeZone)
  return schedule.events(after: instant(start), count: count).map { format.string(from: $0.date) }
}

/// Records a schedule runner's events and lets a test wait until some have happened.
final class EventLog: Sendable {
  private struct State {
    var events: [ScheduleRunnerEvent] = []
    var counts: [String: Int] = [:]
    var countWaiters:
      [(id: Int, kind: String, count: Int, continuation: CheckedContinuation<Void, Never>)] = []
    var waiters:
      [(
        id: Int, condition: @Sendable ([ScheduleRunnerEvent]) -> Bool,
        continuation: CheckedContinuation<Void, Never>
      )] = []
    var nextID = 0
    var cancelledEarly: Set<Int> = []
  }

  private let state = Mutex(State())

  /// Every event so far, in order.
  var events: [ScheduleRunnerEvent] { state.withLock { $0.events } }

  /// The kinds of the events so far, in order.
  var kinds: [String] { events.map(\.kind.name) }

  /// The events of `kind` so far, in order.
  func events(_ kind: ScheduleRunnerEvent.Kind) -> [ScheduleRunnerEvent] {
    events.filter { $0.kind == kind }
  }

  /// Records `event` and wakes the waiters it satisfies.
  func record(_ event: ScheduleRunnerEvent) {
    let ready = state.withLock { state in
      state.events.append(event)
      let count = state.counts[event.kind.name, default: 0] + 1
      state.counts[event.kind.name] = count
      var ready: [CheckedContinuation<Void, Never>] = []
      state.countWaiters.removeAll { waiter in
        guard waiter.kind == event.kind.name && waiter.count <= count else { return false }
        ready.append(waiter.continuation)
        return true
      }
      if !state.waiters.isEmpty {
        let events = state.events
        ready += state.waiters.filter { $0.condition(events) }.map(\.continuation)
        state.waiters.removeAll { $0.condition(events) }
      }
      return ready
    }
    for waiter in ready { waiter.resume() }
  }

  /// Suspends until at least `count` events of `kind` have been recorded (or the task is
  /// cancelled, so that a test's time limit ends the test instead of hanging the run).
  func waitFor(_ count: Int, _ kind: ScheduleRunnerEvent.Kind) async {
    await wait(
      ready: { $0.counts[kind.name, default: 0] >= count },
      register: { state, id, continuation in
        state.countWaiters.append((id, kind.name, count, continuation))
      })
  }

  /// Suspends until `condition` holds for the events recorded (or the task is cancelled).
  func waitUntil(_ condition: @escaping @Sendable ([ScheduleRunnerEvent]) -> Bool) async {
    await wait(
      ready: { condition($0.events) },
      register: { state, id, continuation in state.waiters.append((id, condition, continuation)) })
  }

  private func wait(
    ready: (State) -> Bool,
    register: (inout State, Int, CheckedContinuation<Void, Never>) -> Void
  ) async {
    let id = state.withLock { state in
      defer { state.nextID += 1 }
      return state.nextID
    }
    await withTaskCancellationHandler {
      await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
        let now = state.withLock { state in
          if ready(state) || state.cancelledEarly.remove(id) != nil { return true }
          register(&state, id, continuation)
          return false
        }
        if now { continuation.resume() }
      }
    } onCancel: {
      let continuation = state.withLock { state -> CheckedContinuation<Void, Never>? in
        if let index = state.countWaiters.firstIndex(where: { $0.id == id }) {
          return state.countWaiters.remove(at: index).continuation
        }
        if let index = state.waiters.firstIndex(where: { $0.id == id }) {
          return state.waiters.remove(at: index).continuation
        }
        state.cancelledEarly.insert(id)
        return nil
      }
      continuation?.resume()
    }
  }
}

/// Gates that scheduled runs wait on, one per run number, so that a test decides when each
/// run ends; a waiting run ends early when its task is cancelled.
final class Gates: Sendable {
  private struct State {
    var opened: Set<Int> = []
    var waiting: [Int: CheckedContinuation<Void, Never>] = [:]
    var cancelledEarly: Set<Int> = []
  }

  private let state = Mutex(State())

  /// Lets run `number` end (now, or as soon as it waits).
  func open(_ number: Int) {
    let waiter = state.withLock { state in
      state.opened.insert(number)
      return state.waiting.removeValue(forKey: number)
    }
    waiter?.resume()
  }

  /// Suspends run `number` until its gate opens (true) or its task is cancelled (false).
  func wait(_ number: Int) async -> Bool {
    await withTaskCancellationHandler {
      await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
        let now = state.withLock { state in
          if state.opened.contains(number) || state.cancelledEarly.remove(number) != nil {
            return true
          }
          state.waiting[number] = continuation
          return false
        }
        if now { continuation.resume() }
      }
      return !Task.isCancelled
    } onCancel: {
      let waiter = state.withLock { state in
        guard let waiter = state.waiting.removeValue(forKey: number) else {
          state.cancelledEarly.insert(number)
          return nil as CheckedContinuation<Void, Never>?
        }
        return waiter
      }
      waiter?.resume()
    }
  }
}

/// A thread-safe list that run closures append to.
final class Recorder<Value: Sendable>: Sendable {
  private let values = Mutex<[Value]>([])

  /// Appends `value`.
  func append(_ value: Value) { values.withLock { $0.append(value) } }

  /// Everything appended, in order.
  var all: [Value] { values.withLock { $0 } }
}

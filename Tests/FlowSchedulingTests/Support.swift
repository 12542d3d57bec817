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
    var waiters:
      [(condition: @Sendable ([ScheduleRunnerEvent]) -> Bool, CheckedContinuation<Void, Never>)] =
        []
  }

  private let state = Mutex(State())

  /// Every event so far, in order.
  var events: [ScheduleRunnerEvent] { state.withLock { $0.events } }

  /// The kinds of the events so far, in order.
  var kinds: [String] { events.map(\.kind.name) }

  /// Records `event` and wakes the waiters it satisfies.
  func record(_ event: ScheduleRunnerEvent) {
    let ready = state.withLock { state in
      state.events.append(event)
      let events = state.events
      let ready = state.waiters.filter { $0.condition(events) }.map(\.1)
      state.waiters.removeAll { $0.condition(events) }
      return ready
    }
    for waiter in ready { waiter.resume() }
  }

  /// Suspends until at least `count` events of `kind` have been recorded.
  func waitFor(_ count: Int, _ kind: ScheduleRunnerEvent.Kind) async {
    await waitUntil { events in events.filter { $0.kind == kind }.count >= count }
  }

  /// Suspends until `condition` holds for the events recorded.
  func waitUntil(_ condition: @escaping @Sendable ([ScheduleRunnerEvent]) -> Bool) async {
    await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
      let ready = state.withLock { state in
        if condition(state.events) { return true }
        state.waiters.append((condition, continuation))
        return false
      }
      if ready { continuation.resume() }
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

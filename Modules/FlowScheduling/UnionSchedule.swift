import FlowCore
import Foundation

/// Several schedules merged into one (Prefect 1's `Schedule(clocks: [...])`).
///
/// When members fire at the same instant the flow runs once, with the event of the first of
/// them in `members` order (and so with its parameters).
/// ```swift
/// let schedule = UnionSchedule([
///   try CronSchedule("0 9 * * MON-FRI").withParameters(["mode": "full"]),
///   try CronSchedule("0 12 * * SAT").withParameters(["mode": "light"]),
/// ])
/// ```
public struct UnionSchedule: Schedule, CustomStringConvertible {
  /// The schedules merged, in priority order for simultaneous events.
  public let members: [any Schedule]

  /// The union of `members`.
  public init(_ members: [any Schedule]) {
    self.members = members
  }

  /// The earliest of the members' next events.
  public func nextEvent(after instant: Date) -> ScheduleEvent? {
    var best: ScheduleEvent?
    for member in members {
      guard let event = member.nextEvent(after: instant) else { continue }
      if let current = best, current.date <= event.date { continue }
      best = event
    }
    return best
  }

  /// `union of [a, b]`.
  public var description: String {
    "union of [" + members.map { String(describing: $0) }.joined(separator: ", ") + "]"
  }
}

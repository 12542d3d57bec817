import Foundation

/// The schedule port: when a flow should run next.
///
/// Interval, cron and date schedules, filters and unions implement it in FlowScheduling.
public protocol Schedule: Sendable {
  /// The first fire time strictly after `instant`, or nil when the schedule has ended.
  func nextEvent(after instant: Date) -> ScheduleEvent?
}

/// One fire time of a schedule, with the parameter values that run should use.
public struct ScheduleEvent: Sendable {
  /// When the run is due.
  public let date: Date
  /// Parameter defaults carried by the schedule that fired (Prefect 1 clock parameters); a
  /// run's explicit parameters win over them.
  public let parameters: [String: any Sendable]

  /// Creates an event.
  public init(date: Date, parameters: [String: any Sendable] = [:]) {
    self.date = date
    self.parameters = parameters
  }
}

extension Schedule {
  /// The next `count` fire times after `instant` (fewer when the schedule ends).
  public func events(after instant: Date, count: Int) -> [ScheduleEvent] {
    var events: [ScheduleEvent] = []
    var cursor = instant
    while events.count < count, let event = nextEvent(after: cursor) {
      events.append(event)
      cursor = event.date
    }
    return events
  }
}

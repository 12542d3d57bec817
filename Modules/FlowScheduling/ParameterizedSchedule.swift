import FlowCore
import Foundation

/// A schedule whose events carry parameter defaults (Prefect 1's clock `parameter_defaults`).
public struct ParameterizedSchedule: Schedule, CustomStringConvertible {
  /// The schedule whose fire times are used.
  public let base: any Schedule
  /// The parameters every event carries; they win over the base's for the same names.
  public let parameters: [String: any Sendable]

  /// `base` with `parameters` on each event.
  public init(_ base: any Schedule, parameters: [String: any Sendable]) {
    self.base = base
    self.parameters = parameters
  }

  /// The base's next event, with the parameters merged in.
  public func nextEvent(after instant: Date) -> ScheduleEvent? {
    guard let event = base.nextEvent(after: instant) else { return nil }
    return ScheduleEvent(
      date: event.date, parameters: event.parameters.merging(parameters) { _, new in new })
  }

  /// `<base> with parameters a, b`.
  public var description: String {
    "\(base) with parameters \(parameters.keys.sorted().joined(separator: ", "))"
  }
}

extension ParameterizedSchedule: ZonedSchedule {
  /// The base's zone, or UTC.
  public var timeZone: TimeZone { base.defaultTimeZone }
}

extension Schedule {
  /// This schedule with `parameters` as the parameter defaults of every run it starts.
  public func withParameters(_ parameters: [String: any Sendable]) -> ParameterizedSchedule {
    ParameterizedSchedule(self, parameters: parameters)
  }
}

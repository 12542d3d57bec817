import FlowCore
import Foundation

extension Schedule where Self == IntervalSchedule {
  /// A schedule every `interval` (see ``IntervalSchedule``), e.g. `.every(.seconds(60))`.
  public static func every(
    _ interval: Duration, from start: Date? = nil, until end: Date? = nil,
    timeZone: TimeZone = .gmt
  ) -> IntervalSchedule {
    IntervalSchedule(start: start, interval: interval, end: end, timeZone: timeZone)
  }
}

extension Schedule where Self == CronSchedule {
  /// A cron schedule (see ``CronSchedule``), e.g. `try .cron("0 9 * * MON-FRI")`.
  public static func cron(
    _ expression: String, timeZone: TimeZone = .gmt, start: Date? = nil, end: Date? = nil
  ) throws(CronExpressionError) -> CronSchedule {
    try CronSchedule(expression, timeZone: timeZone, start: start, end: end)
  }
}

extension Schedule where Self == DateSchedule {
  /// A schedule firing at each of `dates`.
  public static func dates(_ dates: [Date]) -> DateSchedule {
    DateSchedule(dates)
  }
}

extension Schedule where Self == UnionSchedule {
  /// The union of `members`.
  public static func union(_ members: [any Schedule]) -> UnionSchedule {
    UnionSchedule(members)
  }
}

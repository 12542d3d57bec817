import FlowCore
import Foundation

/// A schedule that fires when a cron expression matches, in a time zone.
///
/// Fire times are strictly after the instant asked about, never before `start` and never after
/// `end`. Changes of UTC offset are handled as Debian cron (and cronsim 2.8) do: see
/// ``CronExpression/usesWallClock``.
/// ```swift
/// let schedule = try CronSchedule("30 2 * * *", timeZone: TimeZone(identifier: "Europe/Berlin")!)
/// // 2025-03-30 has no 02:30 in Berlin: that day it fires at 03:00 (+02:00)
/// ```
public struct CronSchedule: Schedule, CustomStringConvertible {
  /// The parsed expression.
  public let expression: CronExpression
  /// The zone whose wall clock the expression reads.
  public let timeZone: TimeZone
  /// No fire time before this instant.
  public let start: Date?
  /// No fire time after this instant.
  public let end: Date?
  private let zone: ZoneOffsetTable

  /// A schedule for `expression` in `timeZone` (UTC by default), between `start` and `end`.
  public init(
    _ expression: CronExpression, timeZone: TimeZone = .gmt, start: Date? = nil, end: Date? = nil
  ) {
    self.expression = expression
    self.timeZone = timeZone
    self.start = start
    self.end = end
    zone = ZoneOffsetTable(timeZone: timeZone)
  }

  /// Parses `expression` (5 fields, or 6 with seconds first); throws a
  /// ``CronExpressionError`` naming the field, the bad token and the valid range.
  public init(
    _ expression: String, timeZone: TimeZone = .gmt, start: Date? = nil, end: Date? = nil
  ) throws(CronExpressionError) {
    self.init(try CronExpression(expression), timeZone: timeZone, start: start, end: end)
  }

  /// The first fire time strictly after `instant` (and not before `start`), or nil when the
  /// schedule has ended or the expression matches nothing within 50 years.
  public func nextEvent(after instant: Date) -> ScheduleEvent? {
    var after = instant.timeIntervalSince1970
    if let start, start.timeIntervalSince1970 > after {
      after = start.timeIntervalSince1970.rounded(.up) - 1  // a fire time at `start` counts
    }
    guard after.isFinite, abs(after) < 2.5e11 else { return nil }
    let floor = Int64(after.rounded(.down))
    var search = CronSearch(expression: expression, zone: ZoneCursor(zone))
    guard let next = search.next(after: floor) else { return nil }
    let date = Date(timeIntervalSince1970: TimeInterval(next))
    if let end, date > end { return nil }
    return ScheduleEvent(date: date)
  }

  /// The expression and the zone, e.g. `0 9 * * MON-FRI (Europe/Berlin)`.
  public var description: String { "\(expression.text) (\(timeZone.identifier))" }
}

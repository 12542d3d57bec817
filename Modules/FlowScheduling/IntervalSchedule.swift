import FlowCore
import Foundation

/// A schedule that fires every `interval`, aligned to `start` (Prefect's `IntervalClock`).
///
/// Fire times are `start + k * interval` for k = 0, 1, 2… strictly after the instant asked
/// about and not after `end`. An interval under 24 hours (or any interval that is not a whole
/// number of days) steps in elapsed time, so `every(.seconds(3600))` fires every hour across a
/// change to summer time. An interval of whole days keeps the wall-clock time of `start` in
/// `timeZone` instead: a daily schedule at 09:00 stays at 09:00 after the change. When that
/// wall-clock time is skipped by the change it fires that day as much later as the gap is long
/// (02:30 becomes 03:30); when it occurs twice it fires at the first occurrence.
///
/// Without a `start`, fire times are aligned to midnight of 2019-01-01 in `timeZone` (Prefect 1
/// anchors on 2019-01-01 too) and have no lower bound.
/// ```swift
/// let hourly = IntervalSchedule(interval: .seconds(3600))
/// let daily = IntervalSchedule(start: nineAM, interval: .seconds(86_400), timeZone: berlin)
/// ```
public struct IntervalSchedule: ZonedSchedule, CustomStringConvertible {
  /// The first fire time, if the schedule has one.
  public let start: Date?
  /// The time between fire times.
  public let interval: Duration
  /// No fire time after this instant.
  public let end: Date?
  /// The zone whose wall clock whole-day intervals keep.
  public let timeZone: TimeZone
  private let zone: ZoneOffsetTable
  private let seconds: Double
  /// The number of days of a whole-day interval, else nil.
  private let days: Int64?

  /// A schedule every `interval` (which must be positive) from `start` until `end`.
  public init(start: Date? = nil, interval: Duration, end: Date? = nil, timeZone: TimeZone = .gmt) {
    let seconds = interval.timeInterval
    precondition(seconds > 0, "an interval schedule needs a positive interval, got \(interval)")
    self.start = start
    self.interval = interval
    self.end = end
    self.timeZone = timeZone
    self.seconds = seconds
    zone = ZoneOffsetTable(timeZone: timeZone)
    let (whole, fraction) = interval.components
    days = fraction == 0 && whole % 86_400 == 0 ? whole / 86_400 : nil
  }

  /// The first fire time strictly after `instant`, or nil after `end`.
  public func nextEvent(after instant: Date) -> ScheduleEvent? {
    let after = instant.timeIntervalSince1970
    guard after.isFinite else { return nil }
    var cursor = ZoneCursor(zone)
    let anchor = start?.timeIntervalSince1970 ?? defaultAnchor(&cursor)
    let next: Double
    if let days {
      next = nextWholeDay(after: after, anchor: anchor, days: days, cursor: &cursor)
    } else {
      let lowest = start == nil ? -Double.infinity : 0
      var k = max(((after - anchor) / seconds).rounded(.down) + 1, lowest)
      while k > lowest && anchor + (k - 1) * seconds > after { k -= 1 }  // rounding errors
      while anchor + k * seconds <= after { k += 1 }
      next = anchor + k * seconds
    }
    if let end, next > end.timeIntervalSince1970 { return nil }
    return ScheduleEvent(date: Date(timeIntervalSince1970: next))
  }

  /// The instant fire times are counted from: `start`, or midnight of 2019-01-01 in the zone.
  public var anchor: Date {
    if let start { return start }
    var cursor = ZoneCursor(zone)
    return Date(timeIntervalSince1970: defaultAnchor(&cursor))
  }

  /// Whether fire times keep a wall-clock time in the zone (a whole-day interval).
  public var isWallClock: Bool { days != nil }

  /// Midnight of 2019-01-01 on the zone's wall clock.
  private func defaultAnchor(_ cursor: inout ZoneCursor) -> Double {
    let local = CivilCalendar.dayNumber(year: 2019, month: 1, day: 1) * CivilCalendar.secondsPerDay
    return Double(cursor.resolve(local).fold0)
  }

  /// The first `anchor`-day + k * `days` at the anchor's wall-clock time that is after `after`.
  private func nextWholeDay(after: Double, anchor: Double, days: Int64, cursor: inout ZoneCursor)
    -> Double
  {
    let anchorSecond = Int64(anchor.rounded(.down))
    let fraction = anchor - Double(anchorSecond)
    let anchorLocal = anchorSecond + cursor.offset(at: anchorSecond)
    let anchorDay = CivilCalendar.floorDiv(anchorLocal, CivilCalendar.secondsPerDay)
    let timeOfDay = anchorLocal - anchorDay * CivilCalendar.secondsPerDay
    let afterSecond = Int64(after.rounded(.down))
    let afterDay = CivilCalendar.floorDiv(
      afterSecond + cursor.offset(at: afterSecond), CivilCalendar.secondsPerDay)
    var k = CivilCalendar.floorDiv(afterDay - anchorDay, days) - 1
    if start != nil { k = max(k, 0) }
    while true {
      let local = (anchorDay + k * days) * CivilCalendar.secondsPerDay + timeOfDay
      let candidate = Double(cursor.resolve(local).fold0) + fraction
      if candidate > after { return candidate }
      k += 1
    }
  }

  /// `every <interval> from <start> (<zone>)`.
  public var description: String {
    "every \(interval)" + (start.map { " from \($0)" } ?? "") + " (\(timeZone.identifier))"
  }
}

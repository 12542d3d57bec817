/// A test on a fire time seen on a zone's wall clock (Prefect 1's schedule filters); combine
/// them with `&&`, `||` and `!`.
///
/// ```swift
/// let filter: ScheduleFilter = .isWeekday && .between(TimeOfDay(hour: 9), TimeOfDay(hour: 17))
/// let schedule = IntervalSchedule(interval: .seconds(1800), timeZone: berlin).filter(filter)
/// ```
public struct ScheduleFilter: Sendable {
  private let predicate: @Sendable (LocalDateTime) -> Bool

  /// A filter that keeps the fire times for which `predicate` is true.
  public init(_ predicate: @escaping @Sendable (LocalDateTime) -> Bool) {
    self.predicate = predicate
  }

  /// True when the filter keeps `time`.
  public func matches(_ time: LocalDateTime) -> Bool { predicate(time) }

  /// Keeps fire times on any of `days`.
  public static func onWeekdays(_ days: Set<Weekday>) -> ScheduleFilter {
    ScheduleFilter { days.contains($0.weekday) }
  }

  /// Keeps fire times on any of `days`.
  public static func onWeekdays(_ days: Weekday...) -> ScheduleFilter {
    onWeekdays(Set(days))
  }

  /// Keeps fire times whose time of day is from `start` through `end`, both included; when
  /// `start` is after `end` the range wraps past midnight (22:00 to 06:00).
  public static func between(_ start: TimeOfDay, _ end: TimeOfDay) -> ScheduleFilter {
    ScheduleFilter { time in
      start <= end
        ? (start <= time.time && time.time <= end) : (start <= time.time || time.time <= end)
    }
  }

  /// Keeps fire times on any of `dates`.
  public static func onDates(_ dates: Set<LocalDate>) -> ScheduleFilter {
    ScheduleFilter { dates.contains($0.date) }
  }

  /// Keeps fire times on `month`/`day` of any year.
  public static func onDate(month: Int, day: Int) -> ScheduleFilter {
    ScheduleFilter { $0.date.month == month && $0.date.day == day }
  }

  /// Keeps fire times at exactly `time` of day (to the second).
  public static func atTime(_ time: TimeOfDay) -> ScheduleFilter {
    ScheduleFilter { $0.time == time }
  }

  /// Keeps Monday through Friday.
  public static let isWeekday = ScheduleFilter { $0.weekday.isWeekday }

  /// Keeps Saturday and Sunday.
  public static let isWeekend = ScheduleFilter { !$0.weekday.isWeekday }

  /// Keeps the last day of each month.
  public static let isMonthEnd = ScheduleFilter { $0.isLastDayOfMonth }

  /// Keeps the first day of each month.
  public static let isMonthStart = ScheduleFilter { $0.date.day == 1 }

  /// Keeps what both filters keep.
  public static func && (lhs: ScheduleFilter, rhs: ScheduleFilter) -> ScheduleFilter {
    ScheduleFilter { lhs.matches($0) && rhs.matches($0) }
  }

  /// Keeps what either filter keeps.
  public static func || (lhs: ScheduleFilter, rhs: ScheduleFilter) -> ScheduleFilter {
    ScheduleFilter { lhs.matches($0) || rhs.matches($0) }
  }

  /// Keeps what `filter` rejects.
  public static prefix func ! (filter: ScheduleFilter) -> ScheduleFilter {
    ScheduleFilter { !filter.matches($0) }
  }

  /// Keeps what every one of `filters` keeps (everything when empty).
  public static func allOf(_ filters: [ScheduleFilter]) -> ScheduleFilter {
    ScheduleFilter { time in filters.allSatisfy { $0.matches(time) } }
  }

  /// Keeps what any of `filters` keeps (nothing when empty).
  public static func anyOf(_ filters: [ScheduleFilter]) -> ScheduleFilter {
    ScheduleFilter { time in filters.contains { $0.matches(time) } }
  }
}

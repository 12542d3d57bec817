import Foundation

/// A day of the week.
public enum Weekday: Int, Sendable, Hashable, CaseIterable, Comparable, CustomStringConvertible {
  /// Sunday (0, as in cron).
  case sunday = 0
  /// Monday.
  case monday
  /// Tuesday.
  case tuesday
  /// Wednesday.
  case wednesday
  /// Thursday.
  case thursday
  /// Friday.
  case friday
  /// Saturday.
  case saturday

  /// True for Monday through Friday.
  public var isWeekday: Bool { self != .saturday && self != .sunday }

  /// The English name, e.g. `Monday`.
  public var description: String {
    ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"][rawValue]
  }

  /// Orders Sunday first, as cron numbers the days.
  public static func < (lhs: Weekday, rhs: Weekday) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// A wall-clock time of day.
public struct TimeOfDay: Sendable, Hashable, Comparable, CustomStringConvertible {
  /// The hour, 0-23.
  public let hour: Int
  /// The minute, 0-59.
  public let minute: Int
  /// The second, 0-59.
  public let second: Int

  /// A time of day; the parts must be in range.
  public init(hour: Int, minute: Int = 0, second: Int = 0) {
    precondition((0..<24).contains(hour), "hour \(hour) is outside 0-23")
    precondition((0..<60).contains(minute), "minute \(minute) is outside 0-59")
    precondition((0..<60).contains(second), "second \(second) is outside 0-59")
    self.hour = hour
    self.minute = minute
    self.second = second
  }

  /// Seconds since midnight.
  public var secondsSinceMidnight: Int { hour * 3600 + minute * 60 + second }

  /// `HH:MM:SS`.
  public var description: String {
    func two(_ value: Int) -> String { value < 10 ? "0\(value)" : "\(value)" }
    return "\(two(hour)):\(two(minute)):\(two(second))"
  }

  /// Orders by seconds since midnight.
  public static func < (lhs: TimeOfDay, rhs: TimeOfDay) -> Bool {
    lhs.secondsSinceMidnight < rhs.secondsSinceMidnight
  }
}

/// A calendar date (proleptic Gregorian), without a time or a zone.
public struct LocalDate: Sendable, Hashable, Comparable, CustomStringConvertible {
  /// The year.
  public let year: Int
  /// The month, 1-12.
  public let month: Int
  /// The day of the month, 1-31.
  public let day: Int

  /// A date; the month and the day must exist.
  public init(year: Int, month: Int, day: Int) {
    precondition((1...12).contains(month), "month \(month) is outside 1-12")
    precondition(
      (1...CivilCalendar.daysInMonth(year: Int64(year), month: month)).contains(day),
      "\(year)-\(month) has no day \(day)")
    self.year = year
    self.month = month
    self.day = day
  }

  /// `YYYY-MM-DD`.
  public var description: String {
    let y = String(year)
    let m = month < 10 ? "0\(month)" : "\(month)"
    let d = day < 10 ? "0\(day)" : "\(day)"
    return "\(String(repeating: "0", count: max(0, 4 - y.count)))\(y)-\(m)-\(d)"
  }

  /// Orders chronologically.
  public static func < (lhs: LocalDate, rhs: LocalDate) -> Bool {
    (lhs.year, lhs.month, lhs.day) < (rhs.year, rhs.month, rhs.day)
  }
}

/// An instant seen on the wall clock of a time zone: what filters look at.
public struct LocalDateTime: Sendable, Hashable, CustomStringConvertible {
  /// The instant.
  public let instant: Date
  /// The calendar date in the zone.
  public let date: LocalDate
  /// The wall-clock time in the zone (fractions of a second dropped).
  public let time: TimeOfDay
  /// The day of the week in the zone.
  public let weekday: Weekday
  /// The zone's offset from UTC at the instant, in seconds.
  public let utcOffset: Int

  /// `instant` on the wall clock of `timeZone`.
  public init(_ instant: Date, timeZone: TimeZone) {
    let table = ZoneOffsetTable(timeZone: timeZone)
    var cursor = ZoneCursor(table)
    self.init(instant, cursor: &cursor)
  }

  package init(_ instant: Date, cursor: inout ZoneCursor) {
    let utc = Int64(instant.timeIntervalSince1970.rounded(.down))
    let offset = cursor.offset(at: utc)
    let local = utc + offset
    let day = CivilCalendar.floorDiv(local, CivilCalendar.secondsPerDay)
    let second = Int(CivilCalendar.floorMod(local, CivilCalendar.secondsPerDay))
    let civil = CivilCalendar.date(dayNumber: day)
    self.instant = instant
    date = LocalDate(year: Int(civil.year), month: civil.month, day: civil.day)
    time = TimeOfDay(hour: second / 3600, minute: second / 60 % 60, second: second % 60)
    weekday = Weekday(rawValue: CivilCalendar.weekday(dayNumber: day))!
    utcOffset = Int(offset)
  }

  /// True on the last day of the month.
  public var isLastDayOfMonth: Bool {
    date.day == CivilCalendar.daysInMonth(year: Int64(date.year), month: date.month)
  }

  /// `YYYY-MM-DD HH:MM:SS (Weekday)`.
  public var description: String { "\(date) \(time) (\(weekday))" }
}

/// A parsed cron expression: 5 fields (`minute hour day-of-month month day-of-week`) or 6 with
/// seconds first, with the grammar and the semantics of Debian cron as cronsim 2.8 implements
/// them.
///
/// Each field takes `*`, numbers, names (`JAN`-`DEC`, `SUN`-`SAT`, any case), ranges (`1-5`),
/// steps (`*/5`, `1-30/2`, `5/15`) and comma lists. The day-of-month field also takes `L` (the
/// last day) and `LW` (the last weekday); the day-of-week field takes `5L` (the last Friday)
/// and `MON#2` (the second Monday); 0 and 7 are both Sunday. When both day fields are
/// restricted a day matching either fires; when either starts with `*`, both must match.
/// ```swift
/// let weekdays = try CronExpression("0 9 * * MON-FRI")
/// print(weekdays.explanation)  // At 09:00, Monday through Friday
/// ```
public struct CronExpression: Sendable, Hashable, CustomStringConvertible {
  /// The expression as given.
  public let text: String
  /// True when the expression has a seconds field (6 fields).
  public let hasSeconds: Bool
  /// The six fields' text, upper-cased (`"0"` for the seconds of a 5-field expression).
  package let fieldTexts: [String]
  /// The items of each of the six fields.
  package let items: [[CronItem]]
  /// The fields compiled to bit sets.
  package let matcher: CronMatcher

  /// Parses `text`; throws a ``CronExpressionError`` naming the field, the token and the valid
  /// range when it is malformed.
  public init(_ text: String) throws(CronExpressionError) {
    let parser = CronParser(expression: text)
    var fields = text.uppercased().split(whereSeparator: \.isWhitespace)
    guard fields.count == 5 || fields.count == 6 else {
      throw parser.fail(
        .fieldCount, nil, text,
        "expected 5 fields (minute hour day-of-month month day-of-week) or 6 (seconds first), "
          + "got \(fields.count) in '\(text)'")
    }
    hasSeconds = fields.count == 6
    if !hasSeconds { fields.insert("0", at: 0) }
    var items: [[CronItem]] = []
    for (field, fieldText) in zip(CronField.all, fields) {
      items.append(try parser.items(fieldText, field: field))
    }
    let dayAnd = fields[3].hasPrefix("*") || fields[5].hasPrefix("*")
    let matcher = CronMatcher(items: items, dayAnd: dayAnd)
    if dayAnd, let shortest = matcher.smallestPlainDay, !matcher.lastDay,
      !matcher.lastWeekdayOfMonth, shortest > 29
    {
      var longest = 0
      for month in 1...12 where matcher.months & (1 << month) != 0 {
        longest = max(longest, CivilCalendar.daysInMonth(year: 2000, month: month))
      }
      if shortest > longest {
        throw parser.fail(
          .impossibleDay, .dayOfMonth, fields[3],
          "\(shortest) never comes: the allowed months have at most \(longest) days")
      }
    }
    self.text = text
    self.fieldTexts = fields.map(String.init)
    self.items = items
    self.matcher = matcher
  }

  /// True when fire times follow local wall-clock time rather than elapsed time: 5-field
  /// expressions whose minute and hour fields do not start with `*` (Debian cron's rule for
  /// fixed-time jobs). Such a job whose local time is skipped by a change to summer time runs
  /// at the first minute after the gap; one whose local time repeats runs once, the first time.
  public var usesWallClock: Bool {
    !hasSeconds && !fieldTexts[1].hasPrefix("*") && !fieldTexts[2].hasPrefix("*")
  }

  /// The expression as given.
  public var description: String { text }

  /// Two expressions are equal when they were written the same way.
  public static func == (lhs: CronExpression, rhs: CronExpression) -> Bool {
    lhs.text == rhs.text
  }

  /// Hashes the text.
  public func hash(into hasher: inout Hasher) { hasher.combine(text) }
}

/// The fields of a cron expression as bit sets, and the day rule.
package struct CronMatcher: Sendable, Hashable {
  package var seconds: UInt64 = 0
  package var minutes: UInt64 = 0
  package var hours: UInt64 = 0
  /// Bits 1-31.
  package var days: UInt64 = 0
  /// Bits 1-12.
  package var months: UInt64 = 0
  /// Bits 0-6, Sunday first (7 is folded onto 0).
  package var weekdays: UInt64 = 0
  /// `5L`: bit 5 set.
  package var lastWeekdays: UInt64 = 0
  /// `MON#2`: bit `1 * 8 + 2` set.
  package var nthWeekdays: UInt64 = 0
  package var lastDay = false
  package var lastWeekdayOfMonth = false
  /// Both day fields must match (one of them starts with `*`); otherwise either may.
  package var dayAnd: Bool
  /// The only second allowed, when exactly one is.
  package var singleSecond: Int?
  /// The only minute allowed, when exactly one is.
  package var singleMinute: Int?
  /// The smallest plain day-of-month number.
  package var smallestPlainDay: Int?

  init(items: [[CronItem]], dayAnd: Bool) {
    self.dayAnd = dayAnd
    seconds = Self.bits(items[0], CronField.second)
    minutes = Self.bits(items[1], CronField.minute)
    hours = Self.bits(items[2], CronField.hour)
    days = Self.bits(items[3], CronField.dayOfMonth)
    months = Self.bits(items[4], CronField.month)
    let weekdayBits = Self.bits(items[5], CronField.dayOfWeek)
    weekdays = (weekdayBits & 0x7F) | (weekdayBits >> 7 & 1)
    for item in items[3] {
      if item == .lastDayOfMonth { lastDay = true }
      if item == .lastWeekdayOfMonth { lastWeekdayOfMonth = true }
    }
    for item in items[5] {
      if case .lastWeekday(let day) = item { lastWeekdays |= 1 << (day % 7) }
      if case .nthWeekday(let day, let nth) = item { nthWeekdays |= 1 << ((day % 7) * 8 + nth) }
    }
    singleSecond = seconds.nonzeroBitCount == 1 ? seconds.trailingZeroBitCount : nil
    singleMinute = minutes.nonzeroBitCount == 1 ? minutes.trailingZeroBitCount : nil
    smallestPlainDay = days == 0 ? nil : days.trailingZeroBitCount
  }

  private static func bits(_ items: [CronItem], _ field: CronField) -> UInt64 {
    var bits: UInt64 = 0
    func add(_ values: StrideThrough<Int>) {
      for value in values { bits |= 1 << value }
    }
    let upper = field.range.upperBound
    for item in items {
      switch item {
      case .all(let step): add(stride(from: field.range.lowerBound, through: upper, by: step))
      case .value(let value, nil): bits |= 1 << value
      case .value(let value, let step?): add(stride(from: value, through: upper, by: step))
      case .range(let low, let high, let step): add(stride(from: low, through: high, by: step ?? 1))
      case .lastDayOfMonth, .lastWeekdayOfMonth, .lastWeekday, .nthWeekday: break
      }
    }
    return bits
  }

  /// True when the day `year-month-day` (a `weekday`, 0 is Sunday) matches the day fields.
  @inline(__always)
  package func matchesDay(year: Int64, month: Int, day: Int, weekday: Int) -> Bool {
    var dayOfMonth = days & (1 << day) != 0
    var dayOfWeek = weekdays & (1 << weekday) != 0
    if dayAnd ? (dayOfMonth && dayOfWeek) : (dayOfMonth || dayOfWeek) { return true }
    if (lastDay || lastWeekdayOfMonth || lastWeekdays != 0) && day >= 22 {
      let length = CivilCalendar.daysInMonth(year: year, month: month)
      if lastDay && day == length { dayOfMonth = true }
      if lastWeekdayOfMonth && day >= 26 {
        let lastWeekday = CivilCalendar.weekday(
          dayNumber: CivilCalendar.dayNumber(year: year, month: month, day: length))
        let last = lastWeekday == 0 ? length - 2 : lastWeekday == 6 ? length - 1 : length
        if day == last { dayOfMonth = true }
      }
      if lastWeekdays & (1 << weekday) != 0 && day + 7 > length { dayOfWeek = true }
    }
    if nthWeekdays & (1 << (weekday * 8 + (day + 6) / 7)) != 0 { dayOfWeek = true }
    return dayAnd ? (dayOfMonth && dayOfWeek) : (dayOfMonth || dayOfWeek)
  }
}

import Foundation

/// ISO-8601 date-times with the UTC offset in force in a time zone, as `flow cron next` prints
/// them: `2025-03-09T03:00:00-04:00` (`+00:00` for UTC; fractions of a second only when there
/// are some).
///
/// Parsing accepts `YYYY-MM-DD`, `YYYY-MM-DDTHH:MM[:SS[.fraction]]` (a space may replace the
/// `T`), followed by `Z`, `±HH:MM`, `±HHMM` or `±HH`; a date-time without an offset is read in
/// the format's zone (a repeated wall-clock time takes its first occurrence; a skipped one moves
/// forward by the length of the gap).
public struct ISO8601OffsetFormat: Sendable {
  /// The zone whose offset is printed, and in which times without an offset are read.
  public let timeZone: TimeZone
  private let zone: ZoneOffsetTable

  /// A format for `timeZone`.
  public init(timeZone: TimeZone) {
    self.timeZone = timeZone
    zone = ZoneOffsetTable(timeZone: timeZone)
  }

  /// `date` as local time in the zone, with the offset in force at that instant.
  public func string(from date: Date) -> String {
    let seconds = date.timeIntervalSince1970
    let whole = Int64(seconds.rounded(.down))
    var nanoseconds = Int64(((seconds - Double(whole)) * 1e9).rounded())
    var instant = whole
    if nanoseconds >= 1_000_000_000 { (instant, nanoseconds) = (whole + 1, 0) }
    var cursor = ZoneCursor(zone)
    let offset = cursor.offset(at: instant)
    let local = instant + offset
    let day = CivilCalendar.floorDiv(local, CivilCalendar.secondsPerDay)
    let second = CivilCalendar.floorMod(local, CivilCalendar.secondsPerDay)
    let date = CivilCalendar.date(dayNumber: day)
    var text =
      "\(pad(date.year, 4))-\(pad(date.month, 2))-\(pad(date.day, 2))T"
      + "\(pad(second / 3600, 2)):\(pad(second / 60 % 60, 2)):\(pad(second % 60, 2))"
    if nanoseconds > 0 {
      var fraction = pad(nanoseconds, 9)
      while fraction.hasSuffix("0") { fraction.removeLast() }
      text += "." + fraction
    }
    let magnitude = abs(offset)
    text += (offset < 0 ? "-" : "+") + "\(pad(magnitude / 3600, 2)):\(pad(magnitude / 60 % 60, 2))"
    if magnitude % 60 != 0 { text += ":\(pad(magnitude % 60, 2))" }
    return text
  }

  /// The instant written in `text`; throws an ``ISO8601ParseError`` saying what is wrong.
  public func date(from text: String) throws(ISO8601ParseError) -> Date {
    var scanner = Scanner(text: Array(text.utf8), original: text)
    let year = try scanner.number(digits: 4, what: "a year (YYYY)")
    try scanner.expect("-")
    let month = try scanner.number(digits: 2, what: "a month (MM)")
    try scanner.expect("-")
    let day = try scanner.number(digits: 2, what: "a day (DD)")
    guard (1...12).contains(month) else { throw scanner.failure("month \(month) is not 1-12") }
    let length = CivilCalendar.daysInMonth(year: year, month: Int(month))
    guard (1...Int64(length)).contains(day) else {
      throw scanner.failure("day \(day) is not in 1-\(length) for \(pad(year, 4))-\(pad(month, 2))")
    }
    var seconds: Int64 = 0
    var fraction = 0.0
    if scanner.consume("T") || scanner.consume(" ") {
      let hour = try scanner.number(digits: 2, what: "an hour (HH)")
      try scanner.expect(":")
      let minute = try scanner.number(digits: 2, what: "minutes (MM)")
      var second: Int64 = 0
      if scanner.consume(":") {
        second = try scanner.number(digits: 2, what: "seconds (SS)")
        if scanner.consume(".") || scanner.consume(",") { fraction = try scanner.fraction() }
      }
      guard hour < 24, minute < 60, second < 60 else {
        throw scanner.failure(
          "time \(pad(hour, 2)):\(pad(minute, 2)):\(pad(second, 2)) is not valid")
      }
      seconds = hour * 3600 + minute * 60 + second
    }
    let local =
      CivilCalendar.dayNumber(year: year, month: Int(month), day: Int(day))
      * CivilCalendar.secondsPerDay + seconds
    let utc: Int64
    if scanner.atEnd {
      var cursor = ZoneCursor(zone)
      utc = cursor.resolve(local).fold0
    } else {
      utc = local - (try scanner.offset())
    }
    guard scanner.atEnd else { throw scanner.failure("unexpected text after the date-time") }
    return Date(timeIntervalSince1970: TimeInterval(utc) + fraction)
  }
}

/// Why a date-time could not be read.
public struct ISO8601ParseError: Error, Sendable, Hashable, CustomStringConvertible {
  /// The text that was given.
  public let input: String
  /// What is wrong, and the expected form.
  public let message: String

  /// Creates the error.
  public init(input: String, message: String) {
    self.input = input
    self.message = message
  }

  /// The message.
  public var description: String { message }
}

private func pad(_ value: some BinaryInteger, _ width: Int) -> String {
  let digits = String(value.magnitude)
  let padded = String(repeating: "0", count: max(0, width - digits.count)) + digits
  return value < 0 ? "-" + padded : padded
}

private struct Scanner {
  let text: [UInt8]
  let original: String
  var position = 0

  var atEnd: Bool { position == text.count }

  func failure(_ problem: String) -> ISO8601ParseError {
    ISO8601ParseError(
      input: original,
      message: "'\(original)' is not an ISO-8601 date-time: \(problem) "
        + "(expected e.g. 2025-03-09T03:00:00-04:00)")
  }

  mutating func consume(_ character: Character) -> Bool {
    guard !atEnd, text[position] == character.asciiValue else { return false }
    position += 1
    return true
  }

  mutating func expect(_ character: Character) throws(ISO8601ParseError) {
    guard consume(character) else { throw failure("expected '\(character)' at \(position + 1)") }
  }

  mutating func number(digits: Int, what: String) throws(ISO8601ParseError) -> Int64 {
    var value: Int64 = 0
    for _ in 0..<digits {
      guard !atEnd, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(text[position]) else {
        throw failure("expected \(what) at \(position + 1)")
      }
      value = value * 10 + Int64(text[position] - UInt8(ascii: "0"))
      position += 1
    }
    return value
  }

  mutating func fraction() throws(ISO8601ParseError) -> Double {
    var value = 0.0
    var scale = 0.1
    let first = position
    while !atEnd, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(text[position]) {
      value += Double(text[position] - UInt8(ascii: "0")) * scale
      scale /= 10
      position += 1
    }
    guard position > first else { throw failure("expected digits after the decimal mark") }
    return value
  }

  /// `Z`, `±HH:MM`, `±HHMM` or `±HH`, in seconds east of UTC.
  mutating func offset() throws(ISO8601ParseError) -> Int64 {
    if consume("Z") || consume("z") { return 0 }
    let sign: Int64
    if consume("+") {
      sign = 1
    } else if consume("-") {
      sign = -1
    } else {
      throw failure("expected Z or a UTC offset such as +02:00 at \(position + 1)")
    }
    let hours = try number(digits: 2, what: "offset hours (HH)")
    var minutes: Int64 = 0
    if consume(":") {
      minutes = try number(digits: 2, what: "offset minutes (MM)")
    } else if !atEnd {
      minutes = try number(digits: 2, what: "offset minutes (MM)")
    }
    guard hours <= 18, minutes < 60 else { throw failure("offset out of range") }
    return sign * (hours * 3600 + minutes * 60)
  }
}

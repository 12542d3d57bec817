/// One comma-separated item of a cron field, as written (names resolved to numbers).
package enum CronItem: Hashable, Sendable {
  /// `*` (step 1) or `*/n`.
  case all(step: Int)
  /// `n`, or `n/step` (from n to the end of the range).
  case value(Int, step: Int?)
  /// `a-b` or `a-b/step`.
  case range(Int, Int, step: Int?)
  /// `L` in the day-of-month field: the last day of the month.
  case lastDayOfMonth
  /// `LW` in the day-of-month field: the last weekday (Monday-Friday) of the month.
  case lastWeekdayOfMonth
  /// `5L` in the day-of-week field: the last such weekday of the month.
  case lastWeekday(Int)
  /// `MON#2` in the day-of-week field: the nth such weekday of the month.
  case nthWeekday(Int, nth: Int)
}

/// Parses the fields of a cron expression with the grammar of cronsim 2.8 (which follows
/// Debian cron), reporting each problem with the field, the token and the valid range.
struct CronParser {
  let expression: String

  func fail(
    _ code: CronExpressionError.Code, _ field: CronField?, _ token: some StringProtocol,
    _ message: String
  ) -> CronExpressionError {
    let prefix = field.map { "\($0.name): " } ?? ""
    return CronExpressionError(
      code: code, field: field, token: String(token), message: prefix + message,
      expression: expression)
  }

  /// The items of one field's text (already upper-cased).
  func items(_ text: Substring, field: CronField) throws(CronExpressionError) -> [CronItem] {
    if text == "*" { return [.all(step: 1)] }
    if text.contains(",") {
      var items: [CronItem] = []
      for part in text.split(separator: ",", omittingEmptySubsequences: false) {
        if part.isEmpty {
          throw fail(.emptyItem, field, text, "empty item in the list '\(text)'")
        }
        items += try self.items(part, field: field)
      }
      return items
    }
    if field == .dayOfWeek && text.contains("L") {
      let day = text.dropLast()
      guard text.last == "L", !day.isEmpty, day.allSatisfy(\.isASCIIDigit) else {
        throw fail(
          .badLast, field, text,
          "'\(text)' needs a day number (0-7) right before L, as in 5L for the last Friday")
      }
      return [.lastWeekday(try number(day, field: field))]
    }
    if field == .dayOfWeek && text.contains("#") {
      let parts = text.split(separator: "#", maxSplits: 1, omittingEmptySubsequences: false)
      let nth = parts[1]
      guard !nth.isEmpty, nth.allSatisfy(\.isASCIIDigit), let n = Int(nth), (1...5).contains(n)
      else {
        throw fail(.badNth, field, text, "#\(nth) in '\(text)' is outside 1-5")
      }
      return [.nthWeekday(try number(parts[0], field: field), nth: n)]
    }
    if text.contains("/") {
      let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
      let (term, stepText) = (parts[0], parts[1])
      guard !stepText.isEmpty, stepText.allSatisfy(\.isASCIIDigit) else {
        throw fail(.badStep, field, text, "step '\(stepText)' in '\(text)' is not a number")
      }
      let step = Int(stepText) ?? .max
      guard step > 0 else {
        throw fail(.badStep, field, text, "step 0 in '\(text)' must be at least 1")
      }
      guard !term.isEmpty else {
        throw fail(.badStep, field, text, "'\(text)' needs * or a start before the /")
      }
      let base = try items(term, field: field)
      switch base.first {
      case .all?: return [.all(step: step)]
      case .value(let value, _)?: return [.value(value, step: step)]
      case .range(let low, let high, _)? where low == high: return [.value(low, step: step)]
      case .range(let low, let high, _)?: return [.range(low, high, step: step)]
      default: return base  // L and LW ignore a step, as cronsim does
      }
    }
    if text.contains("-") {
      let parts = text.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false)
      guard !parts[0].isEmpty, !parts[1].isEmpty else {
        throw fail(
          .badRange, field, text, "range '\(text)' needs a start and an end, as in 1-5")
      }
      let low = try number(parts[0], field: field)
      let high = try number(parts[1], field: field)
      guard low <= high else {
        throw fail(.badRange, field, text, "range \(text) ends before it starts")
      }
      return [.range(low, high, step: nil)]
    }
    if field == .dayOfMonth && text == "LW" { return [.lastWeekdayOfMonth] }
    if field == .dayOfMonth && text == "L" { return [.lastDayOfMonth] }
    return [.value(try number(text, field: field), step: nil)]
  }

  /// A single value: a name the field accepts, or a number in its range.
  func number(_ text: Substring, field: CronField) throws(CronExpressionError) -> Int {
    if let value = field.value(ofSymbol: String(text)) { return value }
    guard !text.isEmpty, text.allSatisfy(\.isASCIIDigit) else {
      var valid = "a number in \(field.rangeText)"
      if let first = field.symbols.first, let last = field.symbols.last {
        valid += " or a name \(first)-\(last)"
      }
      if field == .dayOfMonth { valid += ", L or LW" }
      throw fail(.unknownToken, field, text, "'\(text)' is not \(valid)")
    }
    guard let value = Int(text), field.range.contains(value) else {
      throw fail(.outOfRange, field, text, "\(text) is outside \(field.rangeText)")
    }
    return value
  }
}

extension Character {
  fileprivate var isASCIIDigit: Bool { ("0"..."9").contains(self) }
}

extension CronExpression {
  /// The expression in plain English, e.g. `At 09:00, on Monday through Friday` for
  /// `0 9 * * MON-FRI`, or `At every 5th minute` for `*/5 * * * *`.
  public var explanation: String {
    var sentence = "At " + timePhrase
    let days = dayPhrase
    if !days.isEmpty { sentence += ", " + days }
    if let month = phrase(items[4], .month) { sentence += ", in " + month }
    return sentence
  }

  // MARK: Time of day

  private var timePhrase: String {
    if let seconds = plainValues(items[0]), let minutes = plainValues(items[1]),
      let hours = plainValues(items[2]), seconds.count * minutes.count * hours.count <= 6
    {
      var times: [String] = []
      for hour in hours.sorted() {
        for minute in minutes.sorted() {
          for second in seconds.sorted() {
            times.append(clock(hour: hour, minute: minute, second: second))
          }
        }
      }
      return list(times)
    }
    // Second (when it matters), minute, hour; a trailing "every hour" after "every 5th minute"
    // says nothing and is dropped.
    var parts: [(text: String, isWildcard: Bool)] = []
    if hasSeconds && fieldTexts[0] != "0" {
      parts.append((phrase(items[0], .second) ?? "every second", phrase(items[0], .second) == nil))
    }
    for (index, field) in [(1, CronField.minute), (2, .hour)] {
      let text = phrase(items[index], field)
      parts.append((text ?? "every \(field.name)", text == nil))
    }
    while parts.count > 1, parts[parts.count - 1].isWildcard,
      parts[parts.count - 2].text.hasPrefix("every")
    {
      parts.removeLast()
    }
    return parts.map(\.text).joined(separator: " past ")
  }

  private func clock(hour: Int, minute: Int, second: Int) -> String {
    let text = "\(twoDigits(hour)):\(twoDigits(minute))"
    return second == 0 ? text : text + ":\(twoDigits(second))"
  }

  // MARK: Days

  private var dayPhrase: String {
    let dayOfMonth = phrase(items[3], .dayOfMonth)
    let dayOfWeek = phrase(items[5], .dayOfWeek)
    switch (dayOfMonth, dayOfWeek) {
    case (nil, nil): return ""
    case (let days?, nil): return "on " + days
    case (nil, let weekdays?): return "on " + weekdays
    case (let days?, let weekdays?):
      return matcher.dayAnd ? "on \(days) if it is \(weekdays)" : "on \(days) or on \(weekdays)"
    }
  }

  // MARK: Fields

  /// The field's items in words, or nil for a field that allows everything (`*`).
  private func phrase(_ items: [CronItem], _ field: CronField) -> String? {
    if items.contains(.all(step: 1)) { return nil }
    let unit = field.name
    var parts: [String] = []
    var plain: [String] = []
    for item in items {
      switch item {
      case .all(1): parts.append("every \(unit)")
      case .all(let step): parts.append("every \(ordinal(step)) \(unit)")
      case .value(let value, nil): plain.append(name(value, field))
      case .value(let value, let step?):
        parts.append(
          "every \(ordinal(step)) \(unit) from \(name(value, field)) through "
            + name(field.range.upperBound, field))
      case .range(let low, let high, nil):
        let span = "\(name(low, field)) through \(name(high, field))"
        parts.append(field.symbols.isEmpty ? "every \(unit) from \(span)" : span)
      case .range(let low, let high, let step?):
        parts.append(
          "every \(ordinal(step)) \(unit) from \(name(low, field)) through \(name(high, field))")
      case .lastDayOfMonth: parts.append("the last day of the month")
      case .lastWeekdayOfMonth: parts.append("the last weekday of the month")
      case .lastWeekday(let day): parts.append("the last \(name(day, field)) of the month")
      case .nthWeekday(let day, let nth):
        let nths = ["first", "second", "third", "fourth", "fifth"]
        parts.append("the \(nths[nth - 1]) \(name(day, field)) of the month")
      }
    }
    if !plain.isEmpty {
      parts.insert(field.symbols.isEmpty ? "\(unit) \(list(plain))" : list(plain), at: 0)
    }
    return list(parts)
  }

  private func plainValues(_ items: [CronItem]) -> [Int]? {
    var values: [Int] = []
    for item in items {
      guard case .value(let value, nil) = item else { return nil }
      values.append(value)
    }
    return values
  }

  private func name(_ value: Int, _ field: CronField) -> String {
    switch field {
    case .month:
      return [
        "January", "February", "March", "April", "May", "June", "July", "August", "September",
        "October", "November", "December",
      ][value - 1]
    case .dayOfWeek: return Weekday(rawValue: value % 7)!.description
    default: return String(value)
    }
  }

  private func ordinal(_ value: Int) -> String {
    let suffix: String
    switch (value % 10, value % 100) {
    case (_, 11...13): suffix = "th"
    case (1, _): suffix = "st"
    case (2, _): suffix = "nd"
    case (3, _): suffix = "rd"
    default: suffix = "th"
    }
    return "\(value)\(suffix)"
  }

  private func twoDigits(_ value: Int) -> String { value < 10 ? "0\(value)" : "\(value)" }

  private func list(_ parts: [String]) -> String {
    guard parts.count > 1 else { return parts.first ?? "" }
    return parts.dropLast().joined(separator: ", ") + " and " + parts.last!
  }
}

/// One field of a cron expression: its name, its valid range and the names it accepts.
public struct CronField: Hashable, Sendable, CustomStringConvertible {
  /// The field's name as error messages spell it (`minute`, `day-of-week`).
  public let name: String
  /// The values the field accepts.
  public let range: ClosedRange<Int>
  /// The names the field accepts, in value order from `range.lowerBound` (months, weekdays).
  public let symbols: [String]

  private init(name: String, range: ClosedRange<Int>, symbols: [String] = []) {
    self.name = name
    self.range = range
    self.symbols = symbols
  }

  /// Seconds, 0-59 (the first of six fields).
  public static let second = CronField(name: "second", range: 0...59)
  /// Minutes, 0-59.
  public static let minute = CronField(name: "minute", range: 0...59)
  /// Hours, 0-23.
  public static let hour = CronField(name: "hour", range: 0...23)
  /// Day of the month, 1-31, or `L` (last day) or `LW` (last weekday).
  public static let dayOfMonth = CronField(name: "day-of-month", range: 1...31)
  /// Month, 1-12 or `JAN`-`DEC`.
  public static let month = CronField(
    name: "month", range: 1...12,
    symbols: ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"])
  /// Day of the week, 0-7 (0 and 7 are Sunday) or `SUN`-`SAT`; `5L` is the last Friday of the
  /// month and `MON#2` the second Monday.
  public static let dayOfWeek = CronField(
    name: "day-of-week", range: 0...7, symbols: ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"])

  /// The six fields in the order of a six-field expression.
  public static let all: [CronField] = [.second, .minute, .hour, .dayOfMonth, .month, .dayOfWeek]

  /// The field's name.
  public var description: String { name }

  /// The valid range as messages spell it, e.g. `0-59`.
  var rangeText: String { "\(range.lowerBound)-\(range.upperBound)" }

  /// The value of the name `symbol` (already upper-cased), if the field has it.
  func value(ofSymbol symbol: String) -> Int? {
    symbols.firstIndex(of: symbol).map { $0 + range.lowerBound }
  }
}

import Foundation

/// strftime-style date formats for `{date:FORMAT}` in targets (`%a_%b_%d_%Y_%H:%M:%S`), in UTC.
///
/// Supported: `%a %A %b %B %d %e %H %I %j %m %M %p %S %y %Y %Z %z %F %T %s %%`.
struct StrftimeFormat: Sendable {
  private enum Piece: Sendable {
    case text(String)
    case directive(Character)
  }

  private let pieces: [Piece]
  private static let directives: Set<Character> = [
    "a", "A", "b", "B", "d", "e", "H", "I", "j", "m", "M", "p", "S", "y", "Y", "Z", "z", "F", "T",
    "s", "%",
  ]

  /// Parses `format`; throws the unknown directive (`%Q`) or a trailing `%`.
  init(_ format: String) throws(TemplateError) {
    var pieces: [Piece] = []
    var text = ""
    var iterator = format.makeIterator()
    while let character = iterator.next() {
      guard character == "%" else {
        text.append(character)
        continue
      }
      guard let directive = iterator.next() else {
        throw TemplateError("a date format ends with a lone '%' in '\(format)'")
      }
      guard Self.directives.contains(directive) else {
        throw TemplateError(
          "'%\(directive)' in '\(format)' is not a supported date directive; use one of "
            + Self.directives.sorted().map { "%\($0)" }.joined(separator: " "))
      }
      if !text.isEmpty { pieces.append(.text(text)) }
      text = ""
      pieces.append(.directive(directive))
    }
    if !text.isEmpty { pieces.append(.text(text)) }
    self.pieces = pieces
  }

  private static let weekdays = [
    "Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday",
  ]
  private static let months = [
    "January", "February", "March", "April", "May", "June", "July", "August", "September",
    "October", "November", "December",
  ]

  /// `date` formatted in UTC.
  func format(_ date: Date) -> String {
    var calendar = Calendar(identifier: .gregorian)
    calendar.timeZone = TimeZone(identifier: "UTC")!
    let parts = calendar.dateComponents(
      [.year, .month, .day, .hour, .minute, .second, .weekday], from: date)
    let (year, month, day) = (parts.year!, parts.month!, parts.day!)
    let (hour, minute, second) = (parts.hour!, parts.minute!, parts.second!)
    let dayOfYear = calendar.ordinality(of: .day, in: .year, for: date)!
    func two(_ value: Int) -> String { value < 10 ? "0\(value)" : "\(value)" }
    func render(_ directive: Character) -> String {
      switch directive {
      case "a": String(Self.weekdays[parts.weekday! - 1].prefix(3))
      case "A": Self.weekdays[parts.weekday! - 1]
      case "b": String(Self.months[month - 1].prefix(3))
      case "B": Self.months[month - 1]
      case "d": two(day)
      case "e": day < 10 ? " \(day)" : "\(day)"
      case "H": two(hour)
      case "I": two(hour % 12 == 0 ? 12 : hour % 12)
      case "j": String(repeating: "0", count: 3 - "\(dayOfYear)".count) + "\(dayOfYear)"
      case "m": two(month)
      case "M": two(minute)
      case "p": hour < 12 ? "AM" : "PM"
      case "S": two(second)
      case "y": two(year % 100)
      case "Y": "\(year)"
      case "Z": "UTC"
      case "z": "+0000"
      case "F": "\(year)-\(two(month))-\(two(day))"
      case "T": "\(two(hour)):\(two(minute)):\(two(second))"
      case "s": "\(Int(date.timeIntervalSince1970.rounded(.down)))"
      default: "%"
      }
    }
    return pieces.map { piece in
      switch piece {
      case .text(let text): text
      case .directive(let directive): render(directive)
      }
    }.joined()
  }
}

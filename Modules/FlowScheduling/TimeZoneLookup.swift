import Foundation

/// Finds a time zone by its IANA name, forgiving case, for command lines and configuration.
public struct TimeZoneLookup: Sendable {
  private init() {}

  /// The zone named `name`: an IANA identifier (`Europe/Berlin`, any case), or `UTC`, `GMT` or
  /// `Z`; throws an ``UnknownTimeZoneError`` that suggests close names otherwise.
  public static func zone(named name: String) throws(UnknownTimeZoneError) -> TimeZone {
    let trimmed = name.trimmingCharacters(in: .whitespaces)
    if ["UTC", "GMT", "Z", "ETC/UTC"].contains(trimmed.uppercased()) { return .gmt }
    if let zone = TimeZone(identifier: trimmed) { return zone }
    let known = TimeZone.knownTimeZoneIdentifiers
    if let match = known.first(where: { $0.caseInsensitiveCompare(trimmed) == .orderedSame }),
      let zone = TimeZone(identifier: match)
    {
      return zone
    }
    let lowered = trimmed.lowercased()
    let suggestions = known.filter { identifier in
      !lowered.isEmpty && identifier.lowercased().contains(lowered)
    }
    throw UnknownTimeZoneError(name: name, suggestions: Array(suggestions.prefix(5)))
  }
}

/// A time zone name that no zone has.
public struct UnknownTimeZoneError: Error, Sendable, Hashable, CustomStringConvertible {
  /// The name that was given.
  public let name: String
  /// Known names that contain it, if any.
  public let suggestions: [String]

  /// Creates the error.
  public init(name: String, suggestions: [String]) {
    self.name = name
    self.suggestions = suggestions
  }

  /// What is wrong and what to use instead.
  public var description: String {
    var message =
      "unknown time zone '\(name)': use an IANA name such as Europe/Berlin, America/New_York or UTC"
    if !suggestions.isEmpty { message += " (did you mean \(suggestions.joined(separator: ", "))?)" }
    return message
  }
}

import Logging

/// Reads a log level from a command-line value or the `FLOW_LOG_LEVEL` environment variable.
public enum LogLevelSetting {
  /// The environment variable that sets the default level.
  public static let environmentVariable = "FLOW_LOG_LEVEL"

  /// The level named by `text` (`trace`, `debug`, `info`, `notice`, `warning`, `error`,
  /// `critical`, any case; `warn` too); throws a message listing the valid names.
  public static func parse(_ text: String) throws(LogLevelError) -> Logger.Level {
    let name = text.lowercased() == "warn" ? "warning" : text.lowercased()
    guard let level = Logger.Level(rawValue: name) else { throw LogLevelError(text: text) }
    return level
  }

  /// The level from `--log-level` if given, else from `FLOW_LOG_LEVEL` in `environment`, else
  /// `fallback`.
  public static func resolve(
    option: String?, environment: [String: String], fallback: Logger.Level = .info
  ) throws(LogLevelError) -> Logger.Level {
    if let option { return try parse(option) }
    if let value = environment[environmentVariable], !value.isEmpty { return try parse(value) }
    return fallback
  }
}

/// A log level name that does not exist.
public struct LogLevelError: Error, Sendable, CustomStringConvertible {
  /// The text that was given.
  public let text: String

  /// Names the bad value and the valid ones.
  public var description: String {
    "'\(text)' is not a log level; use one of "
      + Logger.Level.allCases.map(\.rawValue).joined(separator: ", ")
  }
}

import Foundation
import Logging

/// Reads a log level from a command-line value or the `FLOW_LOG_LEVEL` environment variable.
///
/// ```swift
/// let level = try LogLevelSetting.resolve(
///   option: arguments.logLevel, environment: ProcessInfo.processInfo.environment)
/// ```
public enum LogLevelSetting {
  /// The environment variable that sets the default level.
  public static let environmentVariable = "FLOW_LOG_LEVEL"
  /// The command-line option that sets the level.
  public static let option = "--log-level"

  /// The level named by `text` (`trace`, `debug`, `info`, `notice`, `warning`, `error`,
  /// `critical`, any case, surrounding blanks ignored; `warn` too); throws a message listing
  /// the valid names.
  public static func parse(_ text: String) throws(LogLevelError) -> Logger.Level {
    try parse(text, source: nil)
  }

  /// The level from `--log-level` if given, else from `FLOW_LOG_LEVEL` in `environment` (when
  /// set and not blank), else `fallback`. The error names which of the two was wrong.
  public static func resolve(
    option: String?, environment: [String: String], fallback: Logger.Level = .info
  ) throws(LogLevelError) -> Logger.Level {
    if let option { return try parse(option, source: Self.option) }
    if let value = environment[environmentVariable],
      !value.allSatisfy({ $0.isWhitespace })
    {
      return try parse(value, source: environmentVariable)
    }
    return fallback
  }

  private static func parse(_ text: String, source: String?) throws(LogLevelError) -> Logger.Level {
    let name = text.trimmingCharacters(in: .whitespacesAndNewlines).lowercased()
    guard let level = Logger.Level(rawValue: name == "warn" ? "warning" : name) else {
      throw LogLevelError(text: text, source: source)
    }
    return level
  }
}

/// A log level name that does not exist.
public struct LogLevelError: Error, Sendable, CustomStringConvertible, Equatable {
  /// What kind of problem it is.
  public let code: Code
  /// The text that was given.
  public let text: String
  /// Where it came from (`--log-level` or `FLOW_LOG_LEVEL`), if known.
  public let source: String?

  /// Creates the error for `text`, given by `source`.
  public init(code: Code = .unknownLevel, text: String, source: String? = nil) {
    self.code = code
    self.text = text
    self.source = source
  }

  /// Names the bad value, where it came from, and the valid names.
  public var description: String {
    (source.map { "\($0): " } ?? "") + "'\(text)' is not a log level; use one of "
      + Logger.Level.allCases.map(\.rawValue).joined(separator: ", ")
  }

  /// The kinds of log level problem; a struct with static members so that it can grow.
  public struct Code: Hashable, Sendable, CustomStringConvertible {
    /// A short stable name for the code.
    public let name: String

    /// Creates a code.
    public init(name: String) { self.name = name }

    /// The name is not one of swift-log's levels.
    public static let unknownLevel = Code(name: "unknownLevel")

    /// The name.
    public var description: String { name }
  }
}

import FlowCore
import Foundation
import Logging

/// A swift-log handler that writes one JSON object per record, for machines: `time`
/// (ISO-8601, UTC, milliseconds), `level`, `message`, and every metadata key at the top level
/// (values as strings), keys sorted:
///
/// ```
/// {"attempt":"1","flow":"etl","flow_run_id":"…","level":"info","message":"Starting task run...",…}
/// ```
public struct JSONLinesLogHandler: LogHandler {
  /// The lowest level written.
  public var logLevel: Logger.Level
  /// Metadata set on the logger.
  public var metadata: Logger.Metadata = [:]
  private let stream: ConsoleLogHandler.Stream
  private let clock: any WallClock

  /// A handler writing to `stream` at `level` and above, stamping records with `clock`.
  public init(
    level: Logger.Level = .info, stream: ConsoleLogHandler.Stream = .standardError,
    clock: any WallClock = SystemWallClock()
  ) {
    self.logLevel = level
    self.stream = stream
    self.clock = clock
  }

  /// Metadata by key.
  public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
    get { metadata[key] }
    set { metadata[key] = newValue }
  }

  /// Writes one line.
  public func log(event: LogEvent) {
    let record = LogRecord(event: event, handlerMetadata: metadata, time: clock.now())
    ConsoleOutput.write(Self.format(record) + "\n", to: stream)
  }

  /// ISO-8601 in UTC with milliseconds: `2027-01-15T08:00:00.250Z`.
  private static let timeFormat = Date.ISO8601FormatStyle(includingFractionalSeconds: true)

  /// One record as a JSON object on one line; metadata never overrides `time`, `level` or
  /// `message`.
  public static func format(_ record: LogRecord) -> String {
    var object: [String: String] = record.metadata
    object["time"] = record.time.formatted(Self.timeFormat)
    object["level"] = record.level.rawValue
    object["message"] = record.message
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    // A dictionary of strings always encodes.
    return String(decoding: try! encoder.encode(object), as: UTF8.self)
  }
}

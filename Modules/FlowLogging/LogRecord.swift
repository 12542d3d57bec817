import Foundation
import Logging

/// One log record of a run, as captured: when, how severe, what, and the run's metadata
/// (`flow`, `flow_run_id`, `task`, `task_run_id`, `map_index`, `attempt`, `state`).
public struct LogRecord: Sendable, Equatable {
  /// When it was logged, on the run's clock.
  public let time: Date
  /// Its level.
  public let level: Logger.Level
  /// The message.
  public let message: String
  /// The metadata, flattened to strings.
  public let metadata: [String: String]

  /// Creates a record.
  public init(time: Date, level: Logger.Level, message: String, metadata: [String: String]) {
    self.time = time
    self.level = level
    self.message = message
    self.metadata = metadata
  }
}

extension Logger.Metadata {
  /// The metadata with every value rendered as a string.
  var flattened: [String: String] { mapValues { "\($0)" } }
}

extension LogRecord {
  /// The record of `event` as a handler holding `handlerMetadata` sees it, stamped at `time`;
  /// the event's own metadata wins over the handler's.
  init(event: LogEvent, handlerMetadata: Logger.Metadata, time: Date) {
    var merged = handlerMetadata.flattened
    if let extra = event.metadata { merged.merge(extra.flattened) { _, new in new } }
    self.init(time: time, level: event.level, message: event.message.description, metadata: merged)
  }
}

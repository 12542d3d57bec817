import FlowCore
import Foundation
import Logging

/// The swift-log handler behind a task body's logger: it appends to the run's ``RunLog`` (which
/// also forwards to the live handler), stamped with the run's clock.
public struct RunLogHandler: LogHandler {
  /// The run's log.
  public let log: RunLog
  /// The task run the records are about, if any.
  public let subject: RunLog.Subject?
  /// The clock that stamps records.
  public let clock: any WallClock
  /// Extra metadata set on the logger.
  public var metadata: Logger.Metadata = [:]
  /// The lowest level passed on.
  public var logLevel: Logger.Level

  /// A handler for records about `subject`.
  public init(log: RunLog, subject: RunLog.Subject?, clock: any WallClock) {
    self.log = log
    self.subject = subject
    self.clock = clock
    self.logLevel = min(log.level, log.forward?.logLevel ?? log.level)
  }

  /// Metadata by key.
  public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
    get { metadata[key] }
    set { metadata[key] = newValue }
  }

  /// Appends the record to the run's log.
  public func log(event: LogEvent) {
    var merged = metadata
    if let extra = event.metadata { merged.merge(extra) { _, new in new } }
    log.append(
      .message(event.message.description), level: event.level, at: clock.now(), subject: subject,
      metadata: merged.isEmpty ? nil : merged)
  }
}

extension RunLog: TaskLogSink {
  /// A handler for the task run of `context`, stamped with the run's clock.
  public func logHandler(for context: TaskRunContext) -> any LogHandler {
    RunLogHandler(
      log: self,
      subject: Subject(
        task: context.taskSlug, taskRunID: context.taskRunID, mapIndex: context.mapIndex,
        attempt: context.attempt),
      clock: context.environment.clock)
  }
}

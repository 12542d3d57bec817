import FlowLogging
import Foundation
import Logging
import Synchronization

/// A test error.
struct Flaky: Error {}

/// What an ``InMemoryLogHandler`` received.
struct ReceivedRecord: Equatable {
  let level: Logger.Level
  let message: String
  let metadata: [String: String]
}

/// A swift-log handler keeping every record it receives, for assertions.
struct InMemoryLogHandler: LogHandler {
  /// The records received by every copy of this handler.
  final class Store: Sendable {
    private let storage = Mutex<[ReceivedRecord]>([])
    var records: [ReceivedRecord] { storage.withLock { $0 } }
    func append(_ record: ReceivedRecord) { storage.withLock { $0.append(record) } }
  }

  let store: Store
  var logLevel: Logger.Level
  var metadata: Logger.Metadata = [:]

  init(store: Store, level: Logger.Level) {
    self.store = store
    self.logLevel = level
  }

  subscript(metadataKey key: String) -> Logger.Metadata.Value? {
    get { metadata[key] }
    set { metadata[key] = newValue }
  }

  func log(event: LogEvent) {
    var merged = metadata.mapValues { "\($0)" }
    for (key, value) in event.metadata ?? [:] { merged[key] = "\(value)" }
    store.append(
      ReceivedRecord(level: event.level, message: event.message.description, metadata: merged))
  }

  /// A logger at `level` writing into a new store.
  static func logger(level: Logger.Level = .trace) -> (Logger, Store) {
    let store = Store()
    var logger = Logger(label: "test") { _ in InMemoryLogHandler(store: store, level: level) }
    logger.logLevel = level
    return (logger, store)
  }
}

extension LogRecord {
  /// The record without its time, to compare with what a handler received.
  var received: ReceivedRecord {
    ReceivedRecord(level: level, message: message, metadata: metadata)
  }
}

/// The first instant of 2027-01-15 08:00:00 UTC.
let start = Date(timeIntervalSince1970: 1_800_000_000)

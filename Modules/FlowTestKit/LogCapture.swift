import FlowCore
import InMemoryLogging
import Logging

/// Captures what a run logs live, for assertions: a `Logger` backed by swift-log's
/// `InMemoryLogHandler`, to pass as the environment's logger.
///
/// ```swift
/// let logs = LogCapture()
/// let result = try await flow.run(environment: .testing(seed: 1, logs: logs))
/// #expect(logs.messages(at: .error).isEmpty)
/// ```
public struct LogCapture: Sendable {
  private let handler: InMemoryLogHandler
  /// The logger that records into this capture (every level, `trace` and up).
  public let logger: Logger

  /// An empty capture.
  public init(label: String = "swift-flow") {
    var handler = InMemoryLogHandler()
    handler.logLevel = .trace
    self.handler = handler
    logger = Logger(label: label) { _ in handler }
  }

  /// Every record so far, oldest first.
  public var entries: [InMemoryLogHandler.Entry] { handler.entries }

  /// The messages of the records at `level`, oldest first.
  public func messages(at level: Logger.Level) -> [String] {
    entries.filter { $0.level == level }.map(\.message.description)
  }

  /// Forgets every record so far.
  public func clear() { handler.clear() }
}

extension RunEnvironment {
  /// A fully deterministic environment whose live log goes to `logs`.
  public static func testing(seed: UInt64, clock: TestClock = TestClock(), logs: LogCapture)
    -> RunEnvironment
  {
    var environment = RunEnvironment.testing(seed: seed, clock: clock)
    environment.logger = logs.logger
    return environment
  }
}

import FlowCore
import Foundation
import Logging
import Synchronization

/// A swift-log handler that prints records the way Prefect 1 does:
/// `└── 15:49:46 | INFO    | Task 'load_data': Starting task run...`.
///
/// Install it in an executable (`LoggingSystem.bootstrap`) or pass a `Logger` using it in the
/// run's environment; libraries never bootstrap logging themselves.
public struct ConsoleLogHandler: LogHandler {
  /// Where lines go: standard output or standard error (a struct so that it can grow).
  public struct Stream: Sendable, Equatable {
    let descriptor: Int32

    /// Standard output.
    public static let standardOutput = Stream(descriptor: 1)
    /// Standard error.
    public static let standardError = Stream(descriptor: 2)
  }

  /// The lowest level printed.
  public var logLevel: Logger.Level
  /// Metadata set on the logger.
  public var metadata: Logger.Metadata = [:]
  private let stream: Stream
  private let timeZone: TimeZone
  private let clock: any WallClock
  private let clearsLine: Bool
  private let showsRun: Bool

  /// A handler printing to `stream` at `level` and above, stamping lines with `clock` (pass a
  /// run's `TestClock` to see virtual times) in `timeZone`; with `clearsLine`, each line first
  /// erases the terminal's current line (a live progress line the command line redraws); with
  /// `showsRun`, a record of a flow run starts with the run's short ID (an agent's runs share
  /// one console).
  public init(
    level: Logger.Level = .info, stream: Stream = .standardError, timeZone: TimeZone = .current,
    clock: any WallClock = SystemWallClock(), clearsLine: Bool = false, showsRun: Bool = false
  ) {
    self.logLevel = level
    self.stream = stream
    self.timeZone = timeZone
    self.clock = clock
    self.clearsLine = clearsLine
    self.showsRun = showsRun
  }

  /// Metadata by key.
  public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
    get { metadata[key] }
    set { metadata[key] = newValue }
  }

  /// Prints one line.
  public func log(event: LogEvent) {
    let record = LogRecord(event: event, handlerMetadata: metadata, time: clock.now())
    let line = Self.format(
      time: record.time, level: record.level, message: record.message,
      metadata: record.metadata, timeZone: timeZone, showsRun: showsRun)
    ConsoleOutput.write((clearsLine ? "\r\u{1B}[K" : "") + line + "\n", to: stream)
  }

  /// One record as a console line, without the line break: `└── HH:MM:SS | LEVEL   | ` (the
  /// time in `timeZone`, the level upper-cased and padded to 7), then `Task 'slug[index]': ` for
  /// a record about a task, then the message; with `showsRun`, `[1a2b3c4d] ` (the first 8
  /// characters of the flow run's ID) before the task.
  public static func format(
    time: Date, level: Logger.Level, message: String, metadata: [String: String],
    timeZone: TimeZone = .current, showsRun: Bool = false
  ) -> String {
    var calendar = Calendar(identifier: .gregorian)
    calendar.timeZone = timeZone
    let parts = calendar.dateComponents([.hour, .minute, .second], from: time)
    let clock = [parts.hour!, parts.minute!, parts.second!]
      .map { $0 < 10 ? "0\($0)" : "\($0)" }.joined(separator: ":")
    let name = level.rawValue.uppercased()
    let padded = name.padding(toLength: max(7, name.count), withPad: " ", startingAt: 0)
    // Records about a task name it as Prefect does; flow-level records stand alone
    // ("Beginning Flow run for 'etl'", "Flow run SUCCESS: all reference tasks succeeded").
    var context = ""
    if showsRun, let run = metadata["flow_run_id"] { context = "[\(run.prefix(8))] " }
    if let task = metadata["task"] {
      let index = metadata["map_index"].map { "[\($0)]" } ?? ""
      context += "Task '\(task)\(index)': "
    }
    return "└── \(clock) | \(padded) | \(context)\(message)"
  }
}

/// Serialises writes to standard output and standard error, so that concurrent lines never mix.
enum ConsoleOutput {
  private static let lock = Mutex(())

  static func write(_ text: String, to stream: ConsoleLogHandler.Stream) {
    lock.withLock { _ in
      let handle: FileHandle = stream == .standardOutput ? .standardOutput : .standardError
      handle.write(Data(text.utf8))
    }
  }
}

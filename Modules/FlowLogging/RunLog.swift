import DequeModule
import FlowCore
import FlowState
import Foundation
import Logging
import Synchronization

/// Every log record of one flow run, kept in memory: bounded, the oldest dropped (and counted)
/// when full.
///
/// The engine appends compact entries (a few words each), so capturing costs little even for
/// a hundred thousand tasks; ``records`` renders them with their metadata when asked.
public final class RunLog: Sendable {
  /// What a captured entry says: a free-form message or one of the engine's transitions.
  ///
  /// A struct with static members rather than an enum, so that it can grow.
  public struct Event: Sendable {
    enum Kind: Sendable {
      case message(String)
      case taskStarted
      case taskRetrying(String)
      case taskFinished(RunState.Kind, String?)
      case flowStarted
      case flowFinished(RunState.Kind, String?)
      case rendered(any RunLogRendering)
    }

    let kind: Kind

    /// A free-form message (a task body's record, or a line it printed).
    public static func message(_ text: String) -> Event { Event(kind: .message(text)) }
    /// A task run (attempt) started: "Starting task run...".
    public static let taskStarted = Event(kind: .taskStarted)
    /// A task run failed and waits to retry, for the reason given.
    public static func taskRetrying(_ reason: String) -> Event {
      Event(kind: .taskRetrying(reason))
    }
    /// A task run reached its final state `state`, with a reason when it did not succeed.
    public static func taskFinished(_ state: RunState.Kind, _ reason: String?) -> Event {
      Event(kind: .taskFinished(state, reason))
    }
    /// The flow run started: "Beginning Flow run for '<flow>'".
    public static let flowStarted = Event(kind: .flowStarted)
    /// The flow run reached its final state `state`, for the reason given.
    public static func flowFinished(_ state: RunState.Kind, _ reason: String?) -> Event {
      Event(kind: .flowFinished(state, reason))
    }
    /// A record whose message and metadata are rendered only when it is read or sent on (a
    /// record written for every task that is seldom read, such as a cluster attempt's report).
    public static func rendered(_ content: any RunLogRendering) -> Event {
      Event(kind: .rendered(content))
    }
  }

  /// Who an entry is about: the task run, if any.
  public struct Subject: Sendable {
    /// The task's slug.
    public let task: String
    /// The task run's ID.
    public let taskRunID: UUID
    /// For a mapped child, its index.
    public let mapIndex: Int?
    /// The attempt number (0 before the first attempt).
    public let attempt: Int

    /// Creates a subject.
    public init(task: String, taskRunID: UUID, mapIndex: Int?, attempt: Int) {
      self.task = task
      self.taskRunID = taskRunID
      self.mapIndex = mapIndex
      self.attempt = attempt
    }
  }

  private struct Entry: Sendable {
    let time: Date
    let level: Logger.Level
    let event: Event
    let subject: Subject?
    let metadata: Logger.Metadata?
  }

  private struct Storage {
    var entries = Deque<Entry>()
    var dropped = 0
  }

  /// The flow's name, on every record.
  public let flowName: String
  /// The flow run's ID, on every record.
  public let flowRunID: UUID
  /// The most entries a run keeps unless told otherwise.
  public static let defaultCapacity = 100_000
  /// The most entries kept; older ones are dropped and counted.
  public let capacity: Int
  /// Records at or above this level are kept.
  public let level: Logger.Level
  /// Where records also go as they happen (nil: nowhere).
  public let forward: Logger?
  /// Receives every kept record as it is appended; nil: nobody.
  public let sink: (@Sendable (LogRecord) -> Void)?
  /// Receives every kept record as it is appended, in the form the run store keeps (a run
  /// recorder: no metadata dictionary is built); its sequence is left 0 for the receiver.
  package let storedSink: (@Sendable (StoredLogRecord) -> Void)?
  private let storage = Mutex(Storage())
  /// `flowRunID` in lowercase, rendered once for every record's metadata.
  private let flowRunIDText: String

  /// A log for one run. Records are also sent to `forward` when its level lets them through,
  /// and kept ones to `sink`.
  public convenience init(
    flowName: String, flowRunID: UUID, capacity: Int = defaultCapacity, level: Logger.Level = .info,
    forward: Logger? = nil, sink: (@Sendable (LogRecord) -> Void)? = nil
  ) {
    self.init(
      flowName: flowName, flowRunID: flowRunID, capacity: capacity, level: level,
      forward: forward, sink: sink, storedSink: nil)
  }

  /// A log for one run whose kept records also go to `storedSink` as the run store keeps them.
  package init(
    flowName: String, flowRunID: UUID, capacity: Int = defaultCapacity, level: Logger.Level = .info,
    forward: Logger? = nil, sink: (@Sendable (LogRecord) -> Void)? = nil,
    storedSink: (@Sendable (StoredLogRecord) -> Void)?
  ) {
    self.sink = sink
    self.storedSink = storedSink
    self.flowName = flowName
    self.flowRunID = flowRunID
    flowRunIDText = RunStoreCoding.text(flowRunID)
    self.capacity = max(1, capacity)
    self.level = level
    let live = forward.flatMap { $0.handler is SwiftLogNoOpLogHandler ? nil : $0 }
    self.forward = live
  }

  /// Whether a record at `level` would be kept or forwarded.
  public func wants(_ level: Logger.Level) -> Bool {
    level >= self.level || (forward.map { level >= $0.logLevel } ?? false)
  }

  /// Appends an entry.
  public func append(
    _ event: Event, level: Logger.Level = .info, at time: Date, subject: Subject? = nil,
    metadata: Logger.Metadata? = nil
  ) {
    let entry = Entry(time: time, level: level, event: event, subject: subject, metadata: metadata)
    if level >= self.level {
      storage.withLock { storage in
        if storage.entries.count == capacity {
          storage.entries.removeFirst()
          storage.dropped += 1
        }
        storage.entries.append(entry)
      }
    }
    let forwarded = forward.map { level >= $0.logLevel } ?? false
    if let storedSink, level >= self.level { storedSink(stored(entry)) }
    guard forwarded || (sink != nil && level >= self.level) else { return }
    // Rendered once for both the sink and the forward logger.
    let record = render(entry)
    if level >= self.level { sink?(record) }
    if forwarded, let forward {
      forward.log(
        level: record.level, "\(record.message)",
        metadata: record.metadata.mapValues { .string($0) })
    }
  }

  /// Makes room for `count` more entries (at most the capacity) at once, so that a run that
  /// knows how many records it will write does not grow the log step by step.
  public func reserveCapacity(_ count: Int) {
    storage.withLock { storage in
      storage.entries.reserveCapacity(min(capacity, storage.entries.count + max(0, count)))
    }
  }

  /// How many records were dropped because the log was full.
  public var droppedCount: Int { storage.withLock { $0.dropped } }

  /// The kept records, oldest first.
  public var records: [LogRecord] {
    storage.withLock { Array($0.entries) }.map(render)
  }

  private func render(_ entry: Entry) -> LogRecord {
    var metadata = entry.metadata?.flattened ?? [:]
    if case .rendered(let content) = entry.event.kind {
      metadata.merge(content.metadata) { $1 }
    }
    metadata["flow"] = flowName
    metadata["flow_run_id"] = flowRunIDText
    if let subject = entry.subject {
      metadata["task"] = subject.task
      metadata["task_run_id"] = RunStoreCoding.text(subject.taskRunID)
      if let index = subject.mapIndex { metadata["map_index"] = String(index) }
      metadata["attempt"] = String(subject.attempt)
    }
    let (message, state) = describe(entry.event)
    if let state { metadata["state"] = state }
    return LogRecord(time: entry.time, level: entry.level, message: message, metadata: metadata)
  }

  /// `entry` as the run store keeps it: what ``render(_:)`` says, with the common metadata
  /// keys in fields of their own (sequence 0: the recorder numbers it).
  private func stored(_ entry: Entry) -> StoredLogRecord {
    var flattened = entry.metadata?.flattened
    if case .rendered(let content) = entry.event.kind {
      flattened = (flattened ?? [:]).merging(content.metadata) { $1 }
    }
    var fields = flattened.map { StoredLogMetadata($0) } ?? StoredLogMetadata()
    fields.flow = flowName
    fields.flowRunID = flowRunIDText
    if let subject = entry.subject {
      fields.task = subject.task
      fields.taskRunID = RunStoreCoding.text(subject.taskRunID)
      if let index = subject.mapIndex { fields.mapIndex = String(index) }
      fields.attempt = String(subject.attempt)
    }
    let (message, state) = describe(entry.event)
    if let state { fields.state = state }
    return StoredLogRecord(
      flowRunID: flowRunID, sequence: 0, time: entry.time,
      level: StoredLogLevel(rank: Self.rank(entry.level)), message: message, fields: fields)
  }

  /// An event's message and the state it reports (nil: none).
  private func describe(_ event: Event) -> (message: String, state: String?) {
    switch event.kind {
    case .message(let text): return (text, nil)
    case .taskStarted: return ("Starting task run...", "Running")
    case .taskRetrying(let why):
      return ("Finished task run for task with final state: 'Retrying' (\(why))", "Retrying")
    case .taskFinished(let kind, let why):
      let message =
        kind == .success && why == nil
        ? Self.finishedSuccessfully
        : "Finished task run for task with final state: '\(kind.name)'"
          + (why.map { " (\($0))" } ?? "")
      return (message, kind.name)
    case .flowStarted: return ("Beginning Flow run for '\(flowName)'", "Running")
    case .flowFinished(let kind, let why):
      // Prefect's wording: "Flow run SUCCESS: all reference tasks succeeded".
      return ("Flow run \(kind.name.uppercased()): \(Self.clause(why ?? kind.name))", kind.name)
    case .rendered(let content): return (content.message, nil)
    }
  }

  /// What most task runs log last (built once).
  private static let finishedSuccessfully =
    "Finished task run for task with final state: '\(RunState.Kind.success.name)'"

  /// A swift-log level's rank among ``StoredLogLevel/names``.
  package static func rank(_ level: Logger.Level) -> Int {
    switch level {
    case .trace: 0
    case .debug: 1
    case .info: 2
    case .notice: 3
    case .warning: 4
    case .error: 5
    case .critical: 6
    }
  }

  /// A state's message as the clause after "Flow run SUCCESS: ": first letter lowercased, no
  /// final full stop ("All reference tasks succeeded." → "all reference tasks succeeded").
  private static func clause(_ text: String) -> String {
    var text = text.hasSuffix(".") ? String(text.dropLast()) : text
    if let first = text.first, first.isUppercase,
      text.dropFirst().first.map({ !$0.isUppercase }) ?? true
    {
      text = first.lowercased() + text.dropFirst()
    }
    return text
  }
}

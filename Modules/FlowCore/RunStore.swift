import Foundation

/// The run-store port: the durable history of flows, flow runs, task runs, transitions, logs
/// and the engine's events.
///
/// Records are append-only where they are history (transitions, logs, events) and upserted
/// where they are a run's current picture (flow runs, task runs). FlowTesting has an
/// in-memory store; FlowStoreSQLite and FlowStorePostgres keep it in a database.
///
/// ```swift
/// let store = try await SQLiteRunStore.open(path: "flow.sqlite")
/// let result = try await flow.run(recorder: RunRecorder(store: store))
/// ```
public protocol RunStore: Sendable {
  /// Where the store keeps its records, for messages (`sqlite:/home/me/.flow/flow.sqlite`).
  var description: String { get }
  /// Creates the schema or upgrades it to ``RunStoreSchema/current``; throws
  /// ``RunStoreError/Code/newerSchema`` for a database written by a newer version.
  func migrate() async throws(RunStoreError)
  /// The database's schema version and what this binary supports.
  func schemaStatus() async throws(RunStoreError) -> RunStoreSchemaStatus
  /// Writes `batch` in one transaction: all of it or none of it.
  func write(_ batch: RunStoreBatch) async throws(RunStoreError)
  /// Appends engine events; a sequence number already taken for its run throws
  /// ``RunStoreError/Code/conflict`` and writes none of `events`.
  func appendEvents(_ events: [RunEventRecord]) async throws(RunStoreError)
  /// The run's engine events with a sequence above `sequence`, in order.
  func events(flowRunID: UUID, after sequence: Int64) async throws(RunStoreError)
    -> [RunEventRecord]
  /// One page of flow runs, newest first, continuing after `query.after` (keyset pagination).
  func flowRuns(_ query: FlowRunQuery) async throws(RunStoreError) -> [FlowRunRecord]
  /// The flow run with this ID, or nil.
  func flowRun(id: UUID) async throws(RunStoreError) -> FlowRunRecord?
  /// The flow with this name and version, or nil.
  func flow(name: String, version: String) async throws(RunStoreError) -> FlowRecord?
  /// The run's task runs in flow order (mapped children after their parent, by index).
  func taskRuns(flowRunID: UUID) async throws(RunStoreError) -> [TaskRunRecord]
  /// The run's transitions in the order they happened.
  func transitions(flowRunID: UUID) async throws(RunStoreError) -> [TransitionRecord]
  /// The run's log records with a sequence above `sequence`, at `level` or above, in order.
  func logs(flowRunID: UUID, after sequence: Int64, minimumLevel: StoredLogLevel)
    async throws(RunStoreError) -> [StoredLogRecord]
  /// Deletes up to `limit` finished flow runs (with their task runs, transitions, logs and
  /// events) that ended before `cutoff`; returns how many runs it deleted.
  func prune(endedBefore cutoff: Date, limit: Int) async throws(RunStoreError) -> Int
  /// Releases connections; the store is unusable afterwards.
  func close() async
}

/// The schema versions.
public enum RunStoreSchema {
  /// The version this binary writes and reads.
  public static let current = 7
}

/// What `flow db status` prints.
public struct RunStoreSchemaStatus: Sendable, Equatable {
  /// The database's schema version (0: empty, never migrated).
  public let databaseVersion: Int
  /// The version this binary supports.
  public let supportedVersion: Int

  /// Creates a status.
  public init(databaseVersion: Int, supportedVersion: Int = RunStoreSchema.current) {
    self.databaseVersion = databaseVersion
    self.supportedVersion = supportedVersion
  }

  /// The database is at the version this binary supports.
  public var isCurrent: Bool { databaseVersion == supportedVersion }
}

/// Records written together in one transaction (the recorder's group commit).
public struct RunStoreBatch: Sendable, Equatable {
  /// Flow definitions (inserted once per name and version).
  public var flows: [FlowRecord] = []
  /// Flow runs, inserted or replaced by ID.
  public var flowRuns: [FlowRunRecord] = []
  /// Task runs, inserted or replaced by flow run, slug and map index.
  public var taskRuns: [TaskRunRecord] = []
  /// Transitions, appended.
  public var transitions: [TransitionRecord] = []
  /// Log records, appended.
  public var logs: [StoredLogRecord] = []
  /// Heartbeats: the run is alive at this instant.
  public var heartbeats: [RunHeartbeat] = []
  /// Engine events, appended (idempotently: a retried batch writes none twice).
  public var events: [RunEventRecord] = []

  /// An empty batch.
  public init() {}

  /// No record at all.
  public var isEmpty: Bool {
    flows.isEmpty && flowRuns.isEmpty && taskRuns.isEmpty && transitions.isEmpty
      && logs.isEmpty && heartbeats.isEmpty && events.isEmpty
  }

  /// How many records the batch holds.
  public var count: Int {
    flows.count + flowRuns.count + taskRuns.count + transitions.count + logs.count
      + heartbeats.count + events.count
  }
}

/// A flow's definition as recorded: its graph and parameter declarations.
public struct FlowRecord: Sendable, Equatable, Codable {
  /// The flow's name.
  public var name: String
  /// A hash of the graph (tasks, edges, parameters): runs of one version share a graph.
  public var version: String
  /// The graph as JSON (``FlowGraphDocument``), for drawing it later.
  public var graphJSON: String
  /// The parameters as a JSON schema (types and defaults).
  public var parameterSchemaJSON: String

  /// Creates a record.
  public init(name: String, version: String, graphJSON: String, parameterSchemaJSON: String) {
    self.name = name
    self.version = version
    self.graphJSON = graphJSON
    self.parameterSchemaJSON = parameterSchemaJSON
  }
}

/// A flow run as recorded.
public struct FlowRunRecord: Sendable, Equatable, Codable {
  /// The run's ID.
  public var id: UUID
  /// The flow's name.
  public var flowName: String
  /// The flow's version (``FlowRecord/version``).
  public var flowVersion: String
  /// Parameter values as JSON text by name.
  public var parameters: [String: String]
  /// The executor's name (`sequential`, `concurrent(8)`, …).
  public var executor: String
  /// The host the run's process ran on.
  public var host: String
  /// The run's process ID.
  public var processID: Int
  /// The command line that started the run (for `flow runs resume`); empty for a library run.
  public var command: [String]
  /// When the run was scheduled for.
  public var scheduledAt: Date
  /// When it started.
  public var startedAt: Date
  /// When it reached its final state; nil while it runs.
  public var endedAt: Date?
  /// The state's name (`Running`, `Success`, …; `Crashed` for a stale heartbeat, see
  /// ``RunStoreReading``).
  public var state: String
  /// The state's message.
  public var message: String?
  /// The last time the run's process said it was alive.
  public var heartbeatAt: Date

  /// Creates a record.
  public init(
    id: UUID, flowName: String, flowVersion: String, parameters: [String: String],
    executor: String, host: String, processID: Int, command: [String], scheduledAt: Date,
    startedAt: Date, endedAt: Date?, state: String, message: String?, heartbeatAt: Date
  ) {
    self.id = id
    self.flowName = flowName
    self.flowVersion = flowVersion
    self.parameters = parameters
    self.executor = executor
    self.host = host
    self.processID = processID
    self.command = command
    self.scheduledAt = scheduledAt
    self.startedAt = startedAt
    self.endedAt = endedAt
    self.state = state
    self.message = message
    self.heartbeatAt = heartbeatAt
  }
}

/// A task run (or mapped child) as recorded.
public struct TaskRunRecord: Sendable, Equatable, Codable {
  /// The flow run it belongs to.
  public var flowRunID: UUID
  /// The task's slug.
  public var slug: String
  /// For a mapped child, its index; -1 otherwise (a key column is never null).
  public var mapIndex: Int
  /// The task run's ID, when known.
  public var taskRunID: UUID?
  /// The state's name.
  public var state: String
  /// The state's message (why it failed, why it was Cached).
  public var message: String?
  /// How many attempts started.
  public var attempts: Int
  /// How many attempts were lost with their worker.
  public var crashedAttempts: Int
  /// When the first attempt started.
  public var startedAt: Date?
  /// When it reached a finished state.
  public var endedAt: Date?
  /// Where its output was persisted, when it was.
  public var resultLocation: String?
  /// Its position in the flow (for ordering).
  public var position: Int

  /// Creates a record.
  public init(
    flowRunID: UUID, slug: String, mapIndex: Int, taskRunID: UUID?, state: String,
    message: String?, attempts: Int, crashedAttempts: Int, startedAt: Date?, endedAt: Date?,
    resultLocation: String?, position: Int
  ) {
    self.flowRunID = flowRunID
    self.slug = slug
    self.mapIndex = mapIndex
    self.taskRunID = taskRunID
    self.state = state
    self.message = message
    self.attempts = attempts
    self.crashedAttempts = crashedAttempts
    self.startedAt = startedAt
    self.endedAt = endedAt
    self.resultLocation = resultLocation
    self.position = position
  }

  /// Time from the first attempt's start to the final state.
  public var duration: TimeInterval? {
    guard let startedAt, let endedAt else { return nil }
    return endedAt.timeIntervalSince(startedAt)
  }

  /// `slug` or `slug[index]`.
  public var label: String { mapIndex >= 0 ? "\(slug)[\(mapIndex)]" : slug }
}

/// One state change of a flow run or task run, as recorded (append-only).
public struct TransitionRecord: Sendable, Equatable, Codable {
  /// The flow run.
  public var flowRunID: UUID
  /// Its order within the run, from 1.
  public var sequence: Int64
  /// The task's slug, or nil for the flow run's own transition.
  public var slug: String?
  /// For a mapped child, its index; -1 otherwise.
  public var mapIndex: Int
  /// The state left.
  public var from: String
  /// The state entered.
  public var to: String
  /// When.
  public var time: Date
  /// The new state's message.
  public var message: String?

  /// Creates a record.
  public init(
    flowRunID: UUID, sequence: Int64, slug: String?, mapIndex: Int, from: String, to: String,
    time: Date, message: String?
  ) {
    self.flowRunID = flowRunID
    self.sequence = sequence
    self.slug = slug
    self.mapIndex = mapIndex
    self.from = from
    self.to = to
    self.time = time
    self.message = message
  }
}

/// A log level as stored (swift-log's levels, ordered).
public struct StoredLogLevel: Sendable, Hashable, Comparable, Codable, CustomStringConvertible {
  /// 0 (trace) to 6 (critical).
  public let rank: Int

  /// The levels by name, least severe first.
  public static let names = ["trace", "debug", "info", "notice", "warning", "error", "critical"]

  /// The level named `name` (`info`, `warning`…), or nil.
  public init?(name: String) {
    guard let rank = Self.names.firstIndex(of: name.lowercased()) else { return nil }
    self.rank = rank
  }

  /// The level of rank `rank`, clamped to the known ones.
  public init(rank: Int) { self.rank = min(max(rank, 0), Self.names.count - 1) }

  /// The level's name.
  public var description: String { Self.names[rank] }

  /// The least severe level.
  public static let trace = StoredLogLevel(rank: 0)

  /// Orders by severity.
  public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rank < rhs.rank }
}

/// One log record of a run as stored.
public struct StoredLogRecord: Sendable, Equatable, Codable {
  /// The flow run.
  public var flowRunID: UUID
  /// Its order within the run, from 1.
  public var sequence: Int64
  /// When it was logged.
  public var time: Date
  /// Its level.
  public var level: StoredLogLevel
  /// The message.
  public var message: String
  /// Its metadata (`task`, `task_run_id`, `map_index`, `attempt`, `state`…).
  public var metadata: [String: String] {
    get { fields.dictionary }
    set { fields = StoredLogMetadata(newValue) }
  }
  /// The metadata as the `logs` table stores it (the common keys apart).
  package var fields: StoredLogMetadata

  /// Creates a record.
  public init(
    flowRunID: UUID, sequence: Int64, time: Date, level: StoredLogLevel, message: String,
    metadata: [String: String]
  ) {
    self.init(
      flowRunID: flowRunID, sequence: sequence, time: time, level: level, message: message,
      fields: StoredLogMetadata(metadata))
  }

  /// Creates a record whose metadata is already split (the run log's records).
  package init(
    flowRunID: UUID, sequence: Int64, time: Date, level: StoredLogLevel, message: String,
    fields: StoredLogMetadata
  ) {
    self.flowRunID = flowRunID
    self.sequence = sequence
    self.time = time
    self.level = level
    self.message = message
    self.fields = fields
  }

  private enum CodingKeys: String, CodingKey {
    case flowRunID, sequence, time, level, message, metadata
  }

  /// Reads a record encoded with its metadata as one object.
  public init(from decoder: any Decoder) throws {
    let container = try decoder.container(keyedBy: CodingKeys.self)
    self.init(
      flowRunID: try container.decode(UUID.self, forKey: .flowRunID),
      sequence: try container.decode(Int64.self, forKey: .sequence),
      time: try container.decode(Date.self, forKey: .time),
      level: try container.decode(StoredLogLevel.self, forKey: .level),
      message: try container.decode(String.self, forKey: .message),
      metadata: try container.decode([String: String].self, forKey: .metadata))
  }

  /// Writes the record with its metadata as one object.
  public func encode(to encoder: any Encoder) throws {
    var container = encoder.container(keyedBy: CodingKeys.self)
    try container.encode(flowRunID, forKey: .flowRunID)
    try container.encode(sequence, forKey: .sequence)
    try container.encode(time, forKey: .time)
    try container.encode(level, forKey: .level)
    try container.encode(message, forKey: .message)
    try container.encode(metadata, forKey: .metadata)
  }
}

/// The run's process is alive at `time`.
public struct RunHeartbeat: Sendable, Equatable, Codable {
  /// The flow run.
  public var flowRunID: UUID
  /// When.
  public var time: Date

  /// Creates a heartbeat.
  public init(flowRunID: UUID, time: Date) {
    self.flowRunID = flowRunID
    self.time = time
  }
}

/// One event of the flow-run machine's history (for replaying a run).
public struct RunEventRecord: Sendable, Equatable, Codable {
  /// The flow run.
  public var flowRunID: UUID
  /// Its order within the run, from 1, unique per run.
  public var sequence: Int64
  /// The encoded event.
  public var payload: Data
  /// The event encoding's version.
  public var version: Int

  /// Creates a record.
  public init(flowRunID: UUID, sequence: Int64, payload: Data, version: Int) {
    self.flowRunID = flowRunID
    self.sequence = sequence
    self.payload = payload
    self.version = version
  }
}

/// Which flow runs `runs list` wants: filters and the keyset cursor.
public struct FlowRunQuery: Sendable, Equatable {
  /// Only runs of this flow.
  public var flowName: String?
  /// Only runs in this state (as readers see it: `Crashed` includes stale Running runs).
  public var state: String?
  /// Only runs started at or after this instant.
  public var since: Date?
  /// The page size.
  public var limit: Int
  /// Continue after this run (the last of the previous page): its start time and ID.
  public var after: FlowRunCursor?
  /// Running runs whose heartbeat is older than this are read as Crashed.
  public var staleBefore: Date
  /// Only runs whose ID, in lowercase with dashes, starts with this (`a479d5c4`).
  public var idPrefix: String?

  /// Creates a query.
  public init(
    flowName: String? = nil, state: String? = nil, since: Date? = nil, limit: Int = 50,
    after: FlowRunCursor? = nil, staleBefore: Date, idPrefix: String? = nil
  ) {
    self.idPrefix = idPrefix
    self.flowName = flowName
    self.state = state
    self.since = since
    self.limit = limit
    self.after = after
    self.staleBefore = staleBefore
  }
}

/// A position in the newest-first order of flow runs.
public struct FlowRunCursor: Sendable, Equatable {
  /// The run's start time.
  public var startedAt: Date
  /// The run's ID (breaks ties).
  public var id: UUID

  /// Creates a cursor.
  public init(startedAt: Date, id: UUID) {
    self.startedAt = startedAt
    self.id = id
  }
}

/// How readers turn a stale Running run into Crashed (Prefect 1 Server's zombie killer).
public enum RunStoreReading {
  /// How long a run's heartbeat may be silent before readers call it Crashed.
  public static let defaultHeartbeatTTL: Duration = .seconds(30)

  /// `record` as a reader reports it: Running with a heartbeat before `staleBefore` is Crashed.
  public static func reported(_ record: FlowRunRecord, staleBefore: Date) -> FlowRunRecord {
    guard record.state == "Running", record.heartbeatAt < staleBefore else { return record }
    var crashed = record
    crashed.state = "Crashed"
    crashed.message =
      "The run's process stopped sending heartbeats (last at \(iso8601(record.heartbeatAt)), "
      + "on \(record.host), pid \(record.processID)); resume it with `flow runs resume "
      + "\(record.id.uuidString.lowercased())`."
    return crashed
  }

  /// `date` as an ISO 8601 UTC timestamp with milliseconds.
  public static func iso8601(_ date: Date) -> String {
    date.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true))
  }
}

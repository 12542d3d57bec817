import Foundation

/// The identity of one connection as the scheduler sees it (assigned by the transport).
public struct ConnectionID: Hashable, Sendable, Comparable, CustomStringConvertible {
  /// The raw number.
  public let rawValue: UInt64
  /// Wraps a number.
  public init(_ rawValue: UInt64) { self.rawValue = rawValue }
  /// Orders by number.
  public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }
  /// `#N`.
  public var description: String { "#\(rawValue)" }
}

/// The scheduler's ID for one piece of work sent to workers (one task attempt).
public typealias ClusterTaskID = UInt64

/// The worker's introduction, the first message on every connection.
public struct ClusterHello: Sendable, Equatable {
  /// The wire protocol version the worker speaks (``ClusterProtocol/version``).
  public var protocolVersion: UInt16
  /// A name for logs and errors (for example `host:pid`).
  public var workerName: String
  /// How many tasks the worker runs at once.
  public var capacity: Int
  /// Abstract resources the worker offers (`GPU: 2`).
  public var resources: [String: Double]
  /// The shared secret; empty when none was given.
  public var token: String
  /// The flows the worker has registered (informational: an unknown task is still reported
  /// per task).
  public var flows: [String]

  /// Creates a hello.
  public init(
    protocolVersion: UInt16 = ClusterProtocol.version, workerName: String, capacity: Int,
    resources: [String: Double] = [:], token: String = "", flows: [String] = []
  ) {
    self.protocolVersion = protocolVersion
    self.workerName = workerName
    self.capacity = capacity
    self.resources = resources
    self.token = token
    self.flows = flows
  }
}

/// One task attempt sent to a worker: which registered task, and its encoded inputs.
public struct ClusterAssignment: Sendable, Equatable {
  /// The scheduler's ID of this attempt.
  public var taskID: ClusterTaskID
  /// The flow's name, as registered on the worker.
  public var flow: String
  /// The task's slug in that flow.
  public var task: String
  /// The task run's attempt number (from 1), for the task's context and logs.
  public var attempt: Int
  /// For a mapped child, its index (-1 for none).
  public var mapIndex: Int
  /// The inputs, each encoded by the task's input serializer.
  public var inputs: [[UInt8]]
  /// The flow run's number on this connection (a ``ClusterRunContext`` sent before it), 0 for
  /// none.
  public var run: UInt64
  /// The task run's ID, for the task's context (nil: the worker makes one up).
  public var taskRunID: UUID?
  /// The loop iteration this attempt runs, from 1 (see `LoopAgain`).
  public var loopCount: Int
  /// The previous iteration's `LoopAgain` payload as JSON (empty in the first iteration).
  public var loopPayload: [UInt8]
  /// A conditional start (version 5): the attempt this one runs after, on the same worker,
  /// only when that one succeeds, with its output as this one's only input (`inputs` is
  /// empty); when it does not succeed, this one never runs and ends with
  /// ``ClusterTaskOutcome/notRunCode``. Nil: an ordinary attempt.
  public var after: ClusterTaskID?

  /// Creates an assignment.
  public init(
    taskID: ClusterTaskID, flow: String, task: String, attempt: Int = 1, mapIndex: Int = -1,
    inputs: [[UInt8]] = [], run: UInt64 = 0, taskRunID: UUID? = nil, loopCount: Int = 1,
    loopPayload: [UInt8] = [], after: ClusterTaskID? = nil
  ) {
    self.after = after
    self.loopCount = loopCount
    self.loopPayload = loopPayload
    self.taskID = taskID
    self.flow = flow
    self.task = task
    self.attempt = attempt
    self.mapIndex = mapIndex
    self.inputs = inputs
    self.run = run
    self.taskRunID = taskRunID
  }
}

/// What a worker needs once per flow run to give task bodies the same ``TaskRunContext`` as a
/// local run: the run's ID, its scheduled start and its parameters. Sent to a worker before its
/// first assignment of the run.
public struct ClusterRunContext: Sendable, Equatable {
  /// The run's number, as assignments refer to it (not 0).
  public var run: UInt64
  /// The flow run's ID.
  public var flowRunID: UUID
  /// The run's scheduled start, in seconds since 1970.
  public var scheduledStartTime: Double?
  /// The parameter values, as JSON by name (as `ParameterSpec.json(_:)` encodes them).
  public var parameters: [String: String]

  /// Creates a run context.
  public init(
    run: UInt64, flowRunID: UUID, scheduledStartTime: Double? = nil,
    parameters: [String: String] = [:]
  ) {
    self.run = run
    self.flowRunID = flowRunID
    self.scheduledStartTime = scheduledStartTime
    self.parameters = parameters
  }
}

/// How a remote attempt ended.
public enum ClusterTaskOutcome: Sendable, Equatable {
  /// The body returned; the output encoded by the task's serializer.
  case success([UInt8])
  /// The body threw (or the task could not be run); a code and an explaining message.
  case failure(code: String, message: String)

  /// The failure code of a conditional start that never ran its body (its upstream did not
  /// succeed, or it was lost or handed back before it started): the scheduler's engine runs
  /// the task the ordinary way if it decides to start it.
  public static let notRunCode = "notRun"
  /// The failure code of a conditional start lost with its worker (it may have been running):
  /// the engine records a crash, as for an ordinary attempt, if it had started the task run.
  public static let lostCode = "lostWithWorker"
}

/// A log record written by a task body on a worker.
public struct ClusterLogRecord: Sendable, Equatable {
  /// Seconds since 1970 on the worker's clock.
  public var time: Double
  /// The swift-log level's raw value (`trace` … `critical`).
  public var level: String
  /// The message.
  public var message: String
  /// The record's metadata, rendered as strings.
  public var metadata: [String: String]

  /// Creates a record.
  public init(time: Double, level: String, message: String, metadata: [String: String] = [:]) {
    self.time = time
    self.level = level
    self.message = message
    self.metadata = metadata
  }
}

/// The result of one attempt, with the log records its body wrote.
public struct ClusterTaskResult: Sendable, Equatable {
  /// The attempt's ID.
  public var taskID: ClusterTaskID
  /// How it ended.
  public var outcome: ClusterTaskOutcome
  /// What the body logged, in order.
  public var logs: [ClusterLogRecord]
  /// For a body's error: its type's name, and its JSON when the type is registered
  /// (`ClusterErrorTypes` (FlowCluster)), so that the scheduler can rethrow it as its own type.
  public var error: ClusterErrorInfo?
  /// How long the body ran on the worker's clock, in nanoseconds (0: not measured); the
  /// scheduler keeps a mean per task to decide how deep it may batch that task's assignments.
  public var runNanoseconds: UInt64
  /// Where and when the attempt ran (version 6; its ``ClusterAttemptReport/worker`` is not on
  /// the wire, and ``ClusterAttemptReport/succeeded`` follows from ``outcome``); nil: not
  /// reported.
  public var report: ClusterAttemptReport?

  /// Creates a result.
  public init(
    taskID: ClusterTaskID, outcome: ClusterTaskOutcome, logs: [ClusterLogRecord] = [],
    error: ClusterErrorInfo? = nil, runNanoseconds: UInt64 = 0,
    report: ClusterAttemptReport? = nil
  ) {
    self.report = report
    self.runNanoseconds = runNanoseconds
    self.taskID = taskID
    self.outcome = outcome
    self.logs = logs
    self.error = error
  }
}

/// Every message of the wire protocol (version ``ClusterProtocol/version``). Several messages
/// travel in one frame; the hot ones (assign, result, heartbeat) carry batches.
public enum ClusterMessage: Sendable, Equatable {
  /// Worker → scheduler, first: who the worker is and what it offers.
  case hello(ClusterHello)
  /// Scheduler → worker: the handshake succeeded; heartbeat every `heartbeatMilliseconds`.
  case welcome(workerID: UInt64, heartbeatMilliseconds: Int)
  /// Scheduler → worker: the handshake failed (wrong token, version…); the connection closes.
  case refused(reason: String)
  /// Scheduler → worker: the context of a flow run whose attempts follow.
  case runContext(ClusterRunContext)
  /// Scheduler → worker: run these attempts.
  case assign([ClusterAssignment])
  /// Worker → scheduler: these attempts ended.
  case results([ClusterTaskResult])
  /// Worker → scheduler: a leading part of an attempt's successful output, too big for one
  /// frame; the parts, in order, then the payload of its result make the whole output.
  case outputPart(ClusterTaskID, [UInt8])
  /// Both ways: I am alive; `running` is the sender's count of running attempts.
  case heartbeat(running: Int)
  /// Scheduler → worker: stop these attempts (a timeout or a cancelled run); no result follows.
  case cancel([ClusterTaskID])
  /// Scheduler → worker: finish (or hand back) your attempts, then leave.
  case drain
  /// Worker → scheduler: I am draining; assign me nothing more.
  case draining
  /// Worker → scheduler: I did not run these attempts and will not; run them elsewhere.
  case handBack([ClusterTaskID])
  /// Either way, last: I am leaving, and why.
  case goodbye(reason: String)
}

/// Constants of the wire protocol.
public enum ClusterProtocol {
  /// The version this build speaks; a hello with another version is refused. Version 5 added
  /// conditional starts (``ClusterAssignment/after``), version 6 the binary attempt report
  /// (``ClusterTaskResult/report``, which was a log record of string metadata).
  public static let version: UInt16 = 6
  /// The default largest frame (16 MiB); a bigger length prefix closes the connection.
  public static let defaultMaxFrameSize = 16 << 20
  /// The default largest task output (256 MiB), sent in parts when it exceeds a frame.
  public static let defaultMaxOutputSize = 256 << 20
  /// The magic bytes at the start of a frame body ("SF").
  static let magic: (UInt8, UInt8) = (0x53, 0x46)
}

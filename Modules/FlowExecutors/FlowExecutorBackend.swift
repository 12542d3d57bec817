import FlowCore
import FlowLogging
import FlowState
import Foundation
import Logging
import Synchronization

/// Runs task attempts outside the calling process (a cluster of workers). The engine keeps
/// triggers, retries, timeouts, caching and states; a backend only runs one attempt's body
/// somewhere and returns its output.
public protocol FlowExecutorBackend: Sendable {
  /// Prepares for one flow run (for example: starts a scheduler and waits for workers).
  /// Throwing refuses the run before any task starts.
  func startSession(for run: RemoteRunInfo) async throws -> any FlowExecutorSession
}

/// A backend's state for one flow run.
public protocol FlowExecutorSession: Sendable {
  /// Runs one attempt remotely and returns the task's output, or throws the body's error
  /// (a ``RemoteTaskError``, or `SkipTask`). Cancellation must stop the remote attempt.
  func invoke(_ call: RemoteTaskCall) async throws -> any Sendable
  /// Ends the session when the run is over (stops what ``FlowExecutorBackend/startSession(for:)``
  /// started).
  func stop() async
}

/// What a backend learns about the run it serves.
public struct RemoteRunInfo: Sendable {
  /// The flow's name (workers look tasks up by it).
  public let flowName: String
  /// The flow run's ID.
  public let flowRunID: UUID
  /// The run's log, for the backend's own records.
  public let log: RunLog
  /// The run's clock, random source, IDs and logger.
  public let environment: RunEnvironment
}

/// What a remote attempt's task context needs about its flow run: the same for every attempt of
/// the run (a backend sends it once per run and worker).
public final class RemoteRunContext: Sendable {
  /// The flow run's ID.
  public let flowRunID: UUID
  /// The parameter values by name.
  public let parameters: [String: any Sendable]
  /// The parameter values as JSON by name (`ParameterSpec.json(_:)`), for the wire.
  public let parametersJSON: [String: String]
  /// When the run was scheduled for.
  public let scheduledStartTime: Date

  init(
    flowRunID: UUID, parameters: [String: any Sendable], parametersJSON: [String: String],
    scheduledStartTime: Date
  ) {
    self.flowRunID = flowRunID
    self.parameters = parameters
    self.parametersJSON = parametersJSON
    self.scheduledStartTime = scheduledStartTime
  }
}

/// One attempt of one task run, to be run by a backend.
public final class RemoteTaskCall: Sendable {
  /// The flow's name.
  public let flowName: String
  /// The task's slug in the flow: with the flow's name, what a worker looks the task up by.
  public let taskSlug: String
  /// The task's name.
  public let taskName: String
  /// For a mapped child, its index.
  public let mapIndex: Int?
  /// The attempt number, from 1.
  public let attempt: Int
  /// The inputs, in order, as the engine passes them to the body.
  public let inputs: [any Sendable]
  /// The task run's ID (its ``TaskRunContext/taskRunID``).
  public let taskRunID: UUID
  /// The flow run's context (ID, parameters, scheduled start).
  public let run: RemoteRunContext
  /// The loop iteration this attempt runs, from 1 (see `LoopAgain`).
  public let loopCount: Int
  /// What the previous loop iteration passed to `LoopAgain` (nil in the first).
  public let loopPayload: (any Sendable)?
  /// For an attempt started ahead (a conditional start): the attempt it runs after, in the
  /// same session and where that one runs, only when that one succeeds, with its output as
  /// the only input (``inputs`` is empty). It ends ``RemoteTaskError/Code/notRun`` when it did
  /// not run; the engine binds it to the task run when its machine starts that run.
  public let runsAfter: RemoteTaskCall?
  /// The task's options (priority and resources matter to a cluster).
  public var options: TaskOptions { config.options }
  package let config: TaskConfig
  private let log: RunLog
  private let subject: RunLog.Subject
  private let clock: any WallClock
  private let onCrash: @Sendable (_ message: String, _ rescheduled: Bool) -> Void
  private let crashes = Mutex(0)
  /// Where the run that made this call keeps it while it waits for the outcome (-1: nowhere):
  /// found by position, not by hashing the call, on the path of every remote attempt.
  let slot: Int

  init(
    flowName: String, node: GraphNode, mapIndex: Int?, attempt: Int, inputs: [any Sendable],
    taskRunID: UUID, run: RemoteRunContext, log: RunLog, subject: RunLog.Subject,
    clock: any WallClock, loopCount: Int = 1, loopPayload: (any Sendable)? = nil,
    runsAfter: RemoteTaskCall? = nil, slot: Int = -1,
    onCrash: @escaping @Sendable (_ message: String, _ rescheduled: Bool) -> Void = { _, _ in }
  ) {
    self.runsAfter = runsAfter
    self.slot = slot
    self.flowName = flowName
    self.taskSlug = node.slug
    self.taskName = node.name
    self.mapIndex = mapIndex
    self.attempt = attempt
    self.inputs = inputs
    self.taskRunID = taskRunID
    self.run = run
    self.loopCount = loopCount
    self.loopPayload = loopPayload
    self.config = node.task!
    self.log = log
    self.subject = subject
    self.clock = clock
    self.onCrash = onCrash
  }

  /// How many times this attempt was lost with its worker and rescheduled.
  public var crashedAttempts: Int { crashes.withLock { $0 } }

  /// Records that the attempt was lost with `worker`: a Crashed attempt in the task's log, and
  /// in its state history (Running → Crashed, then Running again when `rescheduled`; the
  /// task's state handlers see both moves).
  public func recordCrash(worker: String, reason: String, rescheduled: Bool) {
    crashes.withLock { $0 += 1 }
    let next = rescheduled ? "rescheduled on another worker" : "not rescheduled"
    let message =
      "Crashed: attempt \(attempt) was lost with worker '\(worker)' (\(reason)); \(next)."
    log.append(
      .message(message), level: .warning, at: clock.now(), subject: subject,
      metadata: ["state": "Crashed", "cluster.worker": .string(worker)])
    onCrash(message, rescheduled)
  }

  /// Adds `event` about this attempt to the run's log (a record rendered when the log is read,
  /// ``RunLog/Event/rendered(_:)``, costs the run little until then).
  public func recordLog(_ event: RunLog.Event, level: Logger.Level = .info, time: Date) {
    log.append(event, level: level, at: time, subject: subject)
  }

  /// Adds a record the task's body logged remotely to the run's log, with the task's metadata
  /// and the record's own.
  public func recordLog(
    level: Logger.Level, message: String, time: Date, metadata: [String: String]
  ) {
    log.append(
      .message(message), level: level, at: time, subject: subject,
      metadata: metadata.mapValues { .string($0) })
  }
}

/// An attempt that failed remotely: the body threw on a worker, or the task could not run there.
public struct RemoteTaskError: Error, Sendable, CustomStringConvertible {
  /// What kind of failure (extensible).
  public struct Code: Hashable, Sendable, CustomStringConvertible {
    /// The code's name, as it crosses the wire.
    public let name: String
    /// Creates a code.
    public init(name: String) { self.name = name }
    /// The name.
    public var description: String { name }
    /// The body threw.
    public static let taskFailed = Code(name: "taskFailed")
    /// The worker has no task by that flow and slug.
    public static let unknownTask = Code(name: "unknownTask")
    /// An input or the output cannot cross a process boundary.
    public static let notCodable = Code(name: "notCodable")
    /// Bytes that did not decode as the task's input or output type.
    public static let decodeFailed = Code(name: "decodeFailed")
    /// The attempt crashed too many workers (Dask's `KilledWorker`).
    public static let killedWorker = Code(name: "killedWorker")
    /// The cluster stopped before the attempt finished.
    public static let shutdown = Code(name: "shutdown")
    /// An attempt started ahead (``RemoteTaskCall/runsAfter``) never ran: the attempt it runs
    /// after did not succeed, or it was lost or handed back before it started.
    public static let notRun = Code(name: "notRun")
    /// An attempt started ahead was lost with its worker (it may have been running); the
    /// engine records it Crashed and runs it again, as a backend's crash report would.
    public static let lostWithWorker = Code(name: "lostWithWorker")
  }

  /// The kind of failure.
  public let code: Code
  /// What happened and what to do.
  public let message: String
  /// The worker that reported it, if any.
  public let worker: String?

  /// Creates an error.
  public init(code: Code, message: String, worker: String? = nil) {
    self.code = code
    self.message = message
    self.worker = worker
  }

  /// The message, with the worker's name.
  public var description: String {
    guard let worker, !worker.isEmpty else { return message }
    return "\(message) (on worker '\(worker)')"
  }
}

/// A session that starts attempts without a task each and hands their outcomes back in
/// batches: the run wakes once for all the outcomes that arrived together (a frame of results
/// from a cluster worker), not once per attempt. Attempts with a timeout still go through
/// ``FlowExecutorSession/invoke(_:)``.
public protocol FlowExecutorBatchSession: FlowExecutorSession {
  /// Starts `calls`; each one's outcome is delivered once to `outcomes`.
  func start(_ calls: [RemoteTaskCall], outcomes: RemoteOutcomes)
  /// Stops every attempt started with `outcomes` that has not ended: each is delivered as a
  /// `CancellationError`.
  func cancel(_ outcomes: RemoteOutcomes)
}

/// How one attempt started on a ``FlowExecutorBatchSession`` ended.
public struct RemoteOutcome: Sendable {
  /// The attempt.
  public let call: RemoteTaskCall
  /// The task's output, or the body's error (a ``RemoteTaskError``, `SkipTask`, ...).
  public let result: Result<any Sendable, any Error>

  /// Creates an outcome.
  public init(call: RemoteTaskCall, result: Result<any Sendable, any Error>) {
    self.call = call
    self.result = result
  }
}

/// Where a ``FlowExecutorBatchSession`` delivers the outcomes of one run's attempts; the run
/// takes all that arrived since it last looked, waiting when there are none.
public final class RemoteOutcomes: Sendable {
  private struct State {
    var ready: [RemoteOutcome] = []
    /// Reports of the run's own child tasks (timers, attempts with a deadline).
    var reports: [FlowRunShell.AttemptReport] = []
    var waiter: CheckedContinuation<Arrived, Never>?

    mutating func take() -> Arrived {
      defer {
        ready = []
        reports = []
      }
      return (ready, reports)
    }
  }
  typealias Arrived = (outcomes: [RemoteOutcome], reports: [FlowRunShell.AttemptReport])
  private let state = Mutex(State())

  /// An empty mailbox.
  public init() {}

  /// Adds outcomes, waking the run if it waits.
  public func deliver(_ outcomes: [RemoteOutcome]) {
    guard !outcomes.isEmpty else { return }
    add { $0.ready.append(contentsOf: outcomes) }
  }

  /// Adds a child task's report, waking the run if it waits.
  func deliver(report: FlowRunShell.AttemptReport) {
    add { $0.reports.append(report) }
  }

  private func add(_ change: (inout State) -> Void) {
    let wake = state.withLock { state -> (CheckedContinuation<Arrived, Never>, Arrived)? in
      change(&state)
      guard let waiter = state.waiter else { return nil }
      state.waiter = nil
      return (waiter, state.take())
    }
    if let (waiter, arrived) = wake { waiter.resume(returning: arrived) }
  }

  /// Everything delivered since the last call; waits for something when nothing is there.
  func next() async -> Arrived {
    await withCheckedContinuation { continuation in
      let arrived = state.withLock { state -> Arrived? in
        guard state.ready.isEmpty, state.reports.isEmpty else { return state.take() }
        state.waiter = continuation
        return nil
      }
      if let arrived { continuation.resume(returning: arrived) }
    }
  }
}

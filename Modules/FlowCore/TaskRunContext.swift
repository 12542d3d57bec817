import Foundation
import Logging

/// What a running task body can know about its run: names, IDs, attempt, clock and randomness.
///
/// Read it inside a task body as `TaskRunContext.current` (Prefect's `prefect.context`).
public struct TaskRunContext: Sendable {
  /// What every task run of one flow run shares, held once per run: a context copies one
  /// reference for it, not each of its fields (a context is copied for every attempt).
  package final class Run: Sendable {
    let flowName: String
    let flowRunID: UUID
    let parameters: [String: any Sendable]
    let environment: RunEnvironment
    let scheduledStartTime: Date?
    let logSink: (any TaskLogSink)?

    /// The shared part of the contexts of one flow run's task runs.
    package init(
      flowName: String, flowRunID: UUID, parameters: [String: any Sendable],
      environment: RunEnvironment, logSink: (any TaskLogSink)?, scheduledStartTime: Date?
    ) {
      self.flowName = flowName
      self.flowRunID = flowRunID
      self.parameters = parameters
      self.environment = environment
      self.logSink = logSink
      self.scheduledStartTime = scheduledStartTime
    }
  }

  private let run: Run
  /// The flow's name.
  public var flowName: String { run.flowName }
  /// The flow run's ID.
  public var flowRunID: UUID { run.flowRunID }
  /// The task's name.
  public let taskName: String
  /// The task's unique slug in the flow (`name`, `name-2`…).
  public let taskSlug: String
  /// This task run's ID.
  public let taskRunID: UUID
  /// For a mapped child, its index.
  public let mapIndex: Int?
  /// The attempt number, from 1.
  public let attempt: Int
  /// The flow run's parameter values by name.
  public var parameters: [String: any Sendable] { run.parameters }
  /// The run's clock, random source and IDs: use them instead of `Date()` or `.random`.
  public var environment: RunEnvironment { run.environment }
  /// When the flow run was scheduled for (its fire time when a schedule started it; else when
  /// it started), as Prefect's `prefect.context.scheduled_start_time`; nil outside a flow run.
  public var scheduledStartTime: Date? { run.scheduledStartTime }
  /// The loop iteration this attempt runs, from 1 (Prefect's `task_loop_count`).
  public let loopCount: Int
  /// The payload the previous iteration passed to ``LoopAgain``; nil in the first.
  private let payload: (any Sendable)?
  private var logSink: (any TaskLogSink)? { run.logSink }

  /// The task run's logger: its records carry the run's metadata and are kept with the run
  /// (Prefect's `prefect.context.get("logger")`).
  public var logger: Logger {
    guard let logSink else { return Logger(label: "swift-flow.task") }
    return Logger(label: "swift-flow.task") { _ in logSink.logHandler(for: self) }
  }

  /// Creates a context.
  public init(
    flowName: String, flowRunID: UUID, taskName: String, taskSlug: String, taskRunID: UUID,
    mapIndex: Int?, attempt: Int, parameters: [String: any Sendable], environment: RunEnvironment,
    logSink: (any TaskLogSink)? = nil, scheduledStartTime: Date? = nil, loopCount: Int = 1,
    loopPayload: (any Sendable)? = nil
  ) {
    self.init(
      run: Run(
        flowName: flowName, flowRunID: flowRunID, parameters: parameters,
        environment: environment, logSink: logSink, scheduledStartTime: scheduledStartTime),
      taskName: taskName, taskSlug: taskSlug, taskRunID: taskRunID, mapIndex: mapIndex,
      attempt: attempt, loopCount: loopCount, loopPayload: loopPayload)
  }

  /// A context whose run-wide part is `run` (shared by the run's task runs).
  package init(
    run: Run, taskName: String, taskSlug: String, taskRunID: UUID, mapIndex: Int?, attempt: Int,
    loopCount: Int = 1, loopPayload: (any Sendable)? = nil
  ) {
    self.run = run
    self.loopCount = loopCount
    self.payload = loopPayload
    self.taskName = taskName
    self.taskSlug = taskSlug
    self.taskRunID = taskRunID
    self.mapIndex = mapIndex
    self.attempt = attempt
  }

  /// The payload the previous loop iteration passed to ``LoopAgain``, as `type` (Prefect's
  /// `task_loop_result`); nil in the first iteration or for another type.
  public func loopPayload<Payload>(_ type: Payload.Type = Payload.self) -> Payload? {
    if let value = payload as? Payload { return value }
    // On a cluster worker the payload arrives as JSON: it decodes as the type asked for.
    guard let encoded = payload as? LoopPayloadJSON else { return nil }
    return encoded.decode(Payload.self)
  }

  /// The context of the task body running in the current Swift task, if any.
  @TaskLocal public static var current: TaskRunContext?
}

/// Where a task body's log records go: the run's log (FlowLogging implements it).
public protocol TaskLogSink: Sendable {
  /// A handler whose records carry `context`'s run and task metadata.
  func logHandler(for context: TaskRunContext) -> any LogHandler
}

import FlowCore
import FlowLogging
import FlowResults
import FlowState
import Foundation

extension FlowValidationError.Code {
  /// The executor cannot run anything (for example a width below 1).
  public static let invalidExecutor = Self(name: "invalidExecutor")
}

extension Flow {
  /// Validates the flow and `parameters`, then runs every task on `executor` and returns the
  /// final state with every task run.
  ///
  /// - Parameters:
  ///   - parameters: Values by parameter name; missing ones take their defaults.
  ///   - executor: Where task bodies run: `.sequential` (default) or `.concurrent(width:)`.
  ///   - environment: The clock, random source and IDs; inject test doubles here.
  ///   - approving: Slugs of `manualOnly` tasks approved to run.
  ///   - resuming: The ID of an earlier run of this flow to continue: the run keeps that ID,
  ///     and every task whose output that run checkpointed is Cached instead of running again.
  ///   - scheduledStart: When the run was scheduled for (default: now); targets' `{date:...}`
  ///     and `{scheduled_start_time}` use it.
  ///   - observer: Sees every step of the engine (event and actions) as it happens, for a
  ///     run store or ``FlowRunRecorder``; nil records nothing.
  /// - Throws: ``FlowValidationError`` before any task runs; task failures are states, not
  ///   errors.
  public func run(
    parameters: [String: any Sendable] = [:], executor: FlowExecutor = .sequential,
    environment: RunEnvironment = .system, approving: Set<String> = [], resuming: UUID? = nil,
    scheduledStart: Date? = nil, observer: FlowRunObserver? = nil
  ) async throws(FlowValidationError) -> FlowRunResult {
    let values = try resolveParameters(parameters)
    let plans = try ResultPlan.plans(for: self)
    guard executor.width >= 1 else {
      throw FlowValidationError(
        code: .invalidExecutor, culprits: [executor.name],
        message:
          "executor \(executor.name) can run no task at once; give it a width of at least 1")
    }
    let clock = environment.clock
    var startedAt = clock.now()
    var session: (any FlowExecutorSession)?
    var log: RunLog?
    if let backend = executor.backend {
      let flowRunID = resuming ?? environment.ids.next()
      let runLog = RunLog(
        flowName: name, flowRunID: flowRunID, level: .trace, forward: environment.logger)
      do {
        session = try await backend.startSession(
          for: RemoteRunInfo(
            flowName: name, flowRunID: flowRunID, log: runLog, environment: environment))
      } catch {
        throw FlowValidationError(
          code: .invalidExecutor, culprits: [executor.name],
          message: "executor \(executor.name) cannot start: \(error)")
      }
      log = runLog
      startedAt = clock.now()
    }
    let settings = RunSettings(
      flow: self, environment: environment, parameters: values, approvals: approving,
      resultPlans: plans, resuming: resuming, scheduledStart: scheduledStart ?? startedAt,
      log: log, session: session)
    var shell = FlowRunShell(settings: settings, width: executor.width, observer: observer)
    await shell.run(startedAt: startedAt)
    let state = shell.machine.flowState
    let runs = shell.machine.taskRuns
    let nodeStates = shell.machine.nodeStates
    await session?.stop()
    let finishedAt = clock.now()
    settings.log.append(
      .flowFinished(state.kind, state.message), level: state.isFailed ? .error : .info,
      at: finishedAt)
    return FlowRunResult(
      flowName: name, flowRunID: settings.flowRunID, state: state, taskRuns: runs,
      startedAt: startedAt, finishedAt: finishedAt, log: settings.log, nodeStates: nodeStates,
      slugs: graph.nodes.map { $0.slug }, flowID: graph.flowID)
  }

  /// The graph as Graphviz DOT, each task coloured by its state in `run`.
  public func graphviz(run: FlowRunResult) -> String { graphviz(states: run.taskStates) }

  /// The graph as Mermaid, each task coloured by its state in `run`.
  public func mermaid(run: FlowRunResult) -> String { mermaid(states: run.taskStates) }
}

import FlowCore
import FlowLogging
import FlowResults
import FlowState
import Foundation

/// The immutable facts of one flow run, shared by the coordinator and the task runs it starts.
final class RunSettings: Sendable {
  let flow: Flow
  let graph: FlowGraph
  let environment: RunEnvironment
  let flowRunID: UUID
  let parameters: [String: any Sendable]
  let approvals: Set<String>
  /// How each node persists and reuses its output (nil: it does neither).
  let resultPlans: [ResultPlan?]
  /// True when this run continues an earlier run with the same ID and reuses its checkpoints.
  let resuming: Bool
  /// The instant the run was scheduled for (targets format `{date:...}` with it).
  let scheduledStart: Date
  /// Every log record of the run.
  let log: RunLog
  /// Where attempts run when the executor has a backend (a cluster); nil runs them here.
  let session: (any FlowExecutorSession)?
  /// True when attempts run on `session` (known without copying the existential).
  let hasSession: Bool
  /// What remote attempts' task contexts need about the run (with a session).
  let remoteRun: RemoteRunContext?
  /// Where the run's records go (nil: not recorded).
  let recording: RunRecording?
  /// True when a tracer is bootstrapped: the run and its attempts get spans (``RunTracing``).
  let isTraced: Bool
  /// True when attempts run here, untraced and unrecorded: an attempt without a deadline or
  /// captured stdout then runs its body with only its context.
  let runsPlainLocally: Bool
  /// What the task contexts of the run's local attempts share (built once per run).
  let contextRun: TaskRunContext.Run

  init(
    flow: Flow, environment: RunEnvironment, parameters: [String: any Sendable],
    approvals: Set<String>, resultPlans: [ResultPlan?], resuming: UUID?, scheduledStart: Date,
    log: RunLog? = nil, session: (any FlowExecutorSession)? = nil,
    recording: RunRecording? = nil
  ) {
    self.recording = recording
    self.flow = flow
    self.graph = flow.graph
    self.environment = environment
    self.flowRunID = log?.flowRunID ?? resuming ?? environment.ids.next()
    self.parameters = parameters
    self.approvals = approvals
    self.resultPlans = resultPlans
    self.resuming = resuming != nil
    self.scheduledStart = scheduledStart
    self.log =
      log
      ?? RunLog(
        flowName: flow.name, flowRunID: flowRunID, level: .trace, forward: environment.logger,
        storedSink: recording?.logSink)
    self.session = session
    hasSession = session != nil
    isTraced = RunTracing.isTracing
    runsPlainLocally = session == nil && recording == nil && !isTraced
    contextRun = TaskRunContext.Run(
      flowName: flow.name, flowRunID: flowRunID, parameters: parameters,
      environment: environment, logSink: self.log, scheduledStartTime: scheduledStart)
    var json: [String: String] = [:]
    if session != nil {
      for spec in flow.parameters {
        if let value = parameters[spec.name], let text = spec.json(value) { json[spec.name] = text }
      }
    }
    self.remoteRun =
      session == nil
      ? nil
      : RemoteRunContext(
        flowRunID: flowRunID, parameters: parameters, parametersJSON: json,
        scheduledStartTime: scheduledStart)
  }

  /// Moves a run from `old` to `new` through the state handlers.
  ///
  /// Each handler may replace the new state; a replacement the transition table forbids, or a
  /// handler that throws, turns the transition into Failed (legal from every unfinished state).
  func transition(
    _ old: RunState, to new: RunState, subject: String, node: Int? = nil, mapIndex: Int? = nil,
    handlers: [StateHandler], isFlow: Bool = false
  ) -> RunState {
    let state = decide(old, to: new, subject: subject, mapIndex: mapIndex, handlers: handlers)
    recording?.transition(
      slug: isFlow ? nil : subject, node: node, mapIndex: mapIndex, from: old, to: state)
    return state
  }

  private func decide(
    _ old: RunState, to new: RunState, subject: String, mapIndex: Int?, handlers: [StateHandler]
  ) -> RunState {
    guard StateTransitions.isLegal(from: old.kind, to: new.kind) else {
      return failure(IllegalTransitionError(from: old.kind, to: new.kind, subject: subject))
    }
    var state = new
    for handler in handlers {
      do {
        let replacement = try handler(
          StateChange(subject: subject, mapIndex: mapIndex, old: old, new: state))
        state = try old.transition(to: replacement, subject: subject)
      } catch {
        return failure(error, message: "A state handler of '\(subject)' failed: \(error)")
      }
    }
    return state
  }

  private func failure(_ error: any Error, message: String? = nil) -> RunState {
    RunState(.failed, message: message ?? "\(error)", error: error)
  }
}

import FlowCore
import FlowLogging
import FlowResults
import FlowState
import Foundation

extension FlowValidationError.Code {
  /// The executor cannot run anything (for example a width below 1).
  public static let invalidExecutor = Self(name: "invalidExecutor")
  /// The run's recorder cannot record the run (the store is unreachable or refuses it).
  public static let unrecordable = Self(name: "unrecordable")
}

/// How a recorded run's two children (the run and its writer) ended.
private enum RecordedOutcome: Sendable {
  case finished(FlowRunResult)
  case storeFailed(RunStoreError)
  case writerStopped
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
  ///     ``FlowRunRecorder``; nil sees nothing.
  ///   - recorder: Where the run, its task runs, transitions, logs and engine events are
  ///     recorded (nil: not recorded). If the store stays unreachable past the recorder's
  ///     timeout, the run is stopped and ends Crashed with the store's error.
  /// - Throws: ``FlowValidationError`` before any task runs (also when the recorder's store
  ///   cannot record the run's start); task failures are states, not errors.
  public func run(
    parameters: [String: any Sendable] = [:], executor: FlowExecutor = .sequential,
    environment: RunEnvironment = .system, approving: Set<String> = [], resuming: UUID? = nil,
    scheduledStart: Date? = nil, observer: FlowRunObserver? = nil, recorder: RunRecorder? = nil
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
    let recording = recorder.map { RunRecording(recorder: $0, flow: self, clock: clock) }
    if let backend = executor.backend {
      let flowRunID = resuming ?? environment.ids.next()
      let runLog = RunLog(
        flowName: name, flowRunID: flowRunID, level: .trace, forward: environment.logger,
        storedSink: recording?.logSink)
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
      log: log, session: session, recording: recording)
    guard let recording else {
      return await execute(
        settings, width: executor.width, startedAt: startedAt, observer: observer)
    }
    do {
      try await recording.start(
        flow: self, flowRunID: settings.flowRunID, parameters: values, executor: executor.name,
        scheduledAt: settings.scheduledStart, startedAt: startedAt, resuming: resuming != nil)
    } catch {
      await session?.stop()
      throw FlowValidationError(
        code: .unrecordable, culprits: [recording.recorder.store.description],
        message: "the run cannot be recorded: \(error.message)")
    }
    // The engine's steps go to the store too (encoded as they are taken, written by the writer).
    let recordingObserver: FlowRunObserver = { step in
      observer?(step)
      recording.engineStep(step)
    }
    return await executeRecorded(
      settings, width: executor.width, startedAt: startedAt, observer: recordingObserver)
  }

  /// Runs the flow while a writer records it beside the run; the run ends Crashed when the
  /// store stays unreachable past the recorder's timeout.
  private func executeRecorded(
    _ settings: RunSettings, width: Int, startedAt: Date, observer: @escaping FlowRunObserver
  ) async -> FlowRunResult {
    let recording = settings.recording!
    var result: FlowRunResult?
    var storeError: RunStoreError?
    await withTaskGroup(of: RecordedOutcome.self) { group in
      group.addTask {
        if let error = await recording.writeUntilCancelled() { return .storeFailed(error) }
        return .writerStopped
      }
      // The run runs in a child so that a failing store can stop it by cancellation.
      group.addTask {
        .finished(
          await execute(settings, width: width, startedAt: startedAt, observer: observer))
      }
      while let outcome = await group.next() {
        switch outcome {
        case .finished(let finished):
          result = finished
          recording.stopWriting()
        case .storeFailed(let error):
          // The store stayed down: stop the run.
          storeError = error
          group.cancelAll()
        case .writerStopped: break
        }
      }
    }
    var final = result!
    if let storeError {
      final = final.crashed(
        message: "The run store failed: \(storeError.message); the run was stopped and the "
          + "records written so far are consistent. Fix the store, then resume the run.")
    }
    do {
      try await recording.finish(
        taskRuns: final.taskRuns, state: final.state, endedAt: final.finishedAt)
    } catch {
      if storeError == nil {
        final = final.crashed(
          message: "The run store failed while recording the run's end: \(error.message)")
      }
    }
    return final
  }

  /// Runs the flow's tasks with `settings` and returns the result.
  private func execute(
    _ settings: RunSettings, width: Int, startedAt: Date, observer: FlowRunObserver?
  ) async -> FlowRunResult {
    guard settings.isTraced else {
      return await executeUntraced(settings, width: width, startedAt: startedAt, observer: observer)
    }
    return await RunTracing.flowRun(settings, startedAt: startedAt) {
      await executeUntraced(settings, width: width, startedAt: startedAt, observer: observer)
    }
  }

  private func executeUntraced(
    _ settings: RunSettings, width: Int, startedAt: Date, observer: FlowRunObserver?
  ) async -> FlowRunResult {
    let clock = settings.environment.clock
    var shell = FlowRunShell(settings: settings, width: width, observer: observer)
    await shell.run(startedAt: startedAt)
    let state = shell.machine.flowState
    let (runs, nodeStates) = shell.takeResults()
    await settings.session?.stop()
    let finishedAt = clock.now()
    settings.log.append(
      .flowFinished(state.kind, state.message), level: state.isFailed ? .error : .info,
      at: finishedAt)
    return FlowRunResult(
      flowName: name, flowRunID: settings.flowRunID, state: state, taskRuns: runs,
      startedAt: startedAt, finishedAt: finishedAt, log: settings.log, nodeStates: nodeStates,
      slugs: NodeSlugs(graph: graph), flowID: graph.flowID)
  }

  /// The graph as Graphviz DOT, each task coloured by its state in `run`.
  public func graphviz(run: FlowRunResult) -> String { graphviz(states: run.taskStates) }

  /// The graph as Mermaid, each task coloured by its state in `run`.
  public func mermaid(run: FlowRunResult) -> String { mermaid(states: run.taskStates) }
}

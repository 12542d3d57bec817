import FlowCore
import FlowLogging
import FlowResults
import FlowState
import Foundation

/// Runs one task run's attempts: Running, the body (with its timeout), then Success, Retrying
/// after the policy's delay, or a final failure. Its only shared state is the read-only
/// ``RunSettings``, so task runs can proceed in parallel.
enum TaskRunner {
  static func run(_ job: TaskRunJob, _ settings: RunSettings) async -> TaskRun {
    let node = settings.graph.nodes[job.node]
    let config = node.task!
    let clock = settings.environment.clock
    let runID = settings.environment.ids.next()
    var state = RunState.pending
    var startedAt: Date?
    var retryStarts: [Date] = []
    var attempts = 0
    var crashed = 0

    func subject(_ attempt: Int) -> RunLog.Subject {
      RunLog.Subject(task: node.slug, taskRunID: runID, mapIndex: job.mapIndex, attempt: attempt)
    }

    func move(to next: RunState) {
      state = settings.transition(
        state, to: next, subject: node.slug, mapIndex: job.mapIndex,
        handlers: config.options.stateHandlers)
    }

    var notes: [String] = []
    let results = settings.resultPlans[job.node].map { plan in
      (plan, resultContext(job, node, runID, settings))
    }
    if let (plan, context) = results {
      switch plan.lookup(context, resuming: settings.resuming && job.mayResume) {
      case .cached(let cached): move(to: cached)
      case .failed(let error): move(to: RunState(.failed, message: "\(error)", error: error))
      case .run(let reasons, let problems):
        notes = reasons
        // A damaged or unreadable stored output is recomputed: say where and why.
        for problem in problems {
          settings.log.append(
            .message(problem), level: .warning, at: clock.now(), subject: subject(1))
        }
      }
    }

    while true {
      if state.isPending {
        if let due = state.scheduledAt {
          do {
            try await clock.sleep(until: due)
          } catch {
            move(to: RunState(.cancelled, message: "Cancelled while waiting to retry."))
            continue
          }
        }
        if Task.isCancelled {
          move(to: RunState(.cancelled, message: "Flow run was cancelled."))
          continue
        }
        let now = clock.now()
        let attempt = attempts + 1
        // A literal for the first attempt: most runs have only that one, and it allocates nothing.
        let message =
          attempt == 1
          ? "Starting task run (attempt 1)." : "Starting task run (attempt \(attempt))."
        move(to: RunState(.running, message: message))
        if state.isRunning {
          attempts = attempt
          if startedAt == nil { startedAt = now } else { retryStarts.append(now) }
          settings.log.append(.taskStarted, at: now, subject: subject(attempt))
        } else if !state.isFinished {
          break  // a state handler held the run back: it ends in the state it chose
        }
        continue
      }
      guard state.isRunning else { break }
      let context = TaskRunContext(
        flowName: settings.flow.name, flowRunID: settings.flowRunID, taskName: node.name,
        taskSlug: node.slug, taskRunID: runID, mapIndex: job.mapIndex,
        attempt: attempts, parameters: settings.parameters,
        environment: settings.environment, logSink: settings.log,
        scheduledStartTime: settings.scheduledStart)
      do {
        let value: any Sendable
        if let session = settings.session {
          // A lost worker's attempt is Crashed in the task's history, then Running again when
          // the cluster reschedules it (the same attempt number: the body did not fail).
          let shared = RemoteRunState(state)
          let attempt = attempts
          let attemptSubject = subject(attempts)
          let handlers = config.options.stateHandlers
          let call = RemoteTaskCall(
            flowName: settings.flow.name, node: node, mapIndex: job.mapIndex, attempt: attempts,
            inputs: job.inputs, taskRunID: runID, run: settings.remoteRun!, log: settings.log,
            subject: attemptSubject, clock: clock,
            onCrash: { message, rescheduled in
              shared.update { state in
                guard state.isRunning else { return }
                state = settings.transition(
                  state, to: RunState(.crashed, message: message), subject: node.slug,
                  mapIndex: job.mapIndex, handlers: handlers)
                guard rescheduled, state.kind == .crashed else { return }
                state = settings.transition(
                  state,
                  to: RunState(
                    .running,
                    message: "Restarting attempt \(attempt) on another worker after a crash."),
                  subject: node.slug, mapIndex: job.mapIndex, handlers: handlers)
                if state.isRunning {
                  settings.log.append(.taskStarted, at: clock.now(), subject: attemptSubject)
                }
              }
            })
          defer {
            crashed += call.crashedAttempts
            state = shared.value
          }
          value = try await remote(
            session, call, timeout: config.options.timeout, slug: node.slug, clock)
        } else {
          value = try await TaskRunContext.$current.withValue(context) {
            guard config.options.logStdout else {
              return try await attempt(
                config.body, job.inputs, timeout: config.options.timeout, slug: node.slug, clock)
            }
            let (outcome, lines) = await StdoutCapture.capture {
              try await attempt(
                config.body, job.inputs, timeout: config.options.timeout, slug: node.slug, clock)
            }
            let lineSubject = subject(attempts)
            for line in lines {
              settings.log.append(.message(line), at: clock.now(), subject: lineSubject)
            }
            return try outcome.get()
          }
        }
        // A crash that was not rescheduled (or a state handler) ended the run meanwhile.
        guard state.isRunning else { continue }
        if let (plan, context) = results {
          do {
            var context = context
            context.now = clock.now()
            try plan.persist(value, context)
          } catch {
            move(
              to: RunState(.failed, message: "Cannot persist the output: \(error)", error: error))
            continue
          }
        }
        let message =
          notes.isEmpty
          ? "Task run succeeded." : "Task run succeeded. " + notes.joined(separator: " ")
        move(to: RunState(.success, message: message, result: value))
      } catch {
        guard state.isRunning else {
          // The last lost worker: the run stays Crashed, with the scheduler's explanation.
          if state.kind == .crashed, (error as? RemoteTaskError)?.code == .killedWorker {
            state = RunState(.crashed, message: "\(error)", error: error)
          }
          continue
        }
        move(to: failure(error, attempts: attempts, config.options.retries, settings))
        if state.kind == .retrying {
          settings.log.append(
            .taskRetrying(state.message ?? "retrying"), level: .warning, at: clock.now(),
            subject: subject(attempts))
        }
      }
    }
    var run = TaskRun(
      name: node.name, slug: node.slug, mapIndex: job.mapIndex, id: runID, state: state,
      startedAt: startedAt, retryStartTimes: retryStarts, finishedAt: clock.now())
    run.crashedAttempts = crashed
    return run
  }

  /// One attempt on the executor's backend, raced against its timeout on the run's clock.
  private static func remote(
    _ session: any FlowExecutorSession, _ call: RemoteTaskCall, timeout: Duration?, slug: String,
    _ clock: any WallClock
  ) async throws -> any Sendable {
    guard let timeout else { return try await session.invoke(call) }
    let deadline = clock.now().adding(timeout)
    return try await withThrowingTaskGroup(of: (any Sendable).self) { group in
      group.addTask { try await session.invoke(call) }
      group.addTask {
        try await clock.sleep(until: deadline)
        throw TaskTimeoutError(task: slug, timeout: timeout)
      }
      defer { group.cancelAll() }
      return try await group.next()!
    }
  }

  private static func resultContext(
    _ job: TaskRunJob, _ node: GraphNode, _ runID: UUID, _ settings: RunSettings
  ) -> ResultContext {
    ResultContext(
      flowName: settings.flow.name, flowRunID: settings.flowRunID, taskName: node.name,
      taskSlug: node.slug, taskRunID: runID, mapIndex: job.mapIndex,
      scheduledStart: settings.scheduledStart, now: settings.environment.clock.now(),
      parameters: settings.parameters, inputs: job.inputs,
      inputNames: node.task?.options.inputNames ?? [])
  }

  /// One attempt of the body, raced against its timeout on the run's clock.
  private static func attempt(
    _ body: TaskBody, _ inputs: [any Sendable], timeout: Duration?, slug: String,
    _ clock: any WallClock
  ) async throws -> any Sendable {
    guard let timeout else { return try await body.call(inputs) }
    let deadline = clock.now().adding(timeout)
    return try await withThrowingTaskGroup(of: (any Sendable).self) { group in
      group.addTask { try await body.call(inputs) }
      group.addTask {
        try await clock.sleep(until: deadline)
        throw TaskTimeoutError(task: slug, timeout: timeout)
      }
      // Whichever ends first wins; the other is cancelled (a body that ignores cancellation
      // is still waited for: timeouts are cooperative).
      defer { group.cancelAll() }
      return try await group.next()!
    }
  }

  /// The state after an attempt threw `error`: Skipped, Cancelled, Retrying, TimedOut or Failed.
  private static func failure(
    _ error: any Error, attempts: Int, _ policy: RetryPolicy, _ settings: RunSettings
  ) -> RunState {
    if let skip = error as? SkipTask { return RunState(.skipped, message: skip.reason) }
    if error is CancellationError, Task.isCancelled {
      return RunState(.cancelled, message: "Flow run was cancelled.", error: error)
    }
    let timedOut = error is TaskTimeoutError
    if attempts < policy.maxAttempts, policy.retryIf.shouldRetry(error) {
      let delay = policy.delay(afterAttempt: attempts, random: settings.environment.random)
      let due = settings.environment.clock.now().adding(delay)
      return RunState(
        .retrying,
        message:
          "Attempt \(attempts) of \(policy.maxAttempts) \(timedOut ? "timed out" : "failed"); "
          + "retrying in \(delay): \(error)",
        error: error, scheduledAt: due)
    }
    return RunState(timedOut ? .timedOut : .failed, message: "\(error)", error: error)
  }
}

import FlowCore
import FlowScheduling
import FlowState
import Foundation
import Logging

extension FlowValidationError.Code {
  /// `runOnSchedule` was called on a flow without a schedule.
  public static let noSchedule = Self(name: "noSchedule")
}

extension Flow {
  /// Runs the flow at every fire time of its schedule, until the schedule ends, `options`
  /// stop it (`maxRuns`, `pauseAfterFailures`), `stop` is requested or the calling task is
  /// cancelled; returns what the runner did.
  ///
  /// `flow.run()` runs the flow once; `runOnSchedule` loops, as Prefect 1's `flow.run()` does
  /// on a flow with a schedule. Each run is `run(parameters:executor:environment:
  /// scheduledStart:)` with `scheduledStart` set to its fire time (so `{scheduled_start_time}`
  /// targets and `TaskRunContext.scheduledStartTime` read the fire time, not the start), and
  /// with parameters merged as: the flow's defaults, then the parameter defaults of the
  /// schedule event that fired (``ScheduleEvent/parameters``), then `parameters`. The runner
  /// sleeps on `environment.clock` and logs what it does (runs started and ended, fire times
  /// skipped, buffered or missed, a pause, the stop) through `environment.logger`.
  ///
  /// ```swift
  /// let flow = Flow("etl", schedule: .every(.seconds(600))) { ... }
  /// let stop = ScheduleStopSignal()  // stop.requestStop(reason:): the current run finishes
  /// let summary = try await flow.runOnSchedule(stop: stop) { request, result in
  ///   print(request.scheduledDate, result.state)
  /// }
  /// ```
  /// - Parameters:
  ///   - parameters: Values that win over the flow's and the schedule's defaults.
  ///   - executor: Where each run's task bodies run.
  ///   - environment: The clock the runner sleeps on and each run uses, and the logger.
  ///   - options: Overlap policy, catch-up window, `maxRuns`, `pauseAfterFailures`; its
  ///     `onEvent` still sees every runner event.
  ///   - stop: Requests a graceful stop (``FlowScheduleService`` requests it when its
  ///     `ServiceGroup` shuts down gracefully, on SIGTERM or SIGINT).
  ///   - onRun: Called with each finished run, before the runner learns how it ended.
  /// - Throws: ``FlowValidationError`` before anything runs: code `noSchedule` when the flow
  ///   has no schedule, or the flow or `parameters` are invalid. A run whose merged parameters
  ///   are invalid (say a schedule's default of the wrong type) counts as a failed run.
  public func runOnSchedule(
    parameters: [String: any Sendable] = [:], executor: FlowExecutor = .sequential,
    environment: RunEnvironment = .system, options: ScheduleRunnerOptions = .init(),
    stop: ScheduleStopSignal? = nil,
    onRun: @escaping @Sendable (ScheduledRunRequest, FlowRunResult) async -> Void = { _, _ in }
  ) async throws(FlowValidationError) -> ScheduleRunnerSummary {
    guard let schedule else {
      throw FlowValidationError(
        code: .noSchedule, culprits: [name],
        message:
          "flow '\(name)' has no schedule to run on; create it with `Flow(\"\(name)\", schedule: "
          + ".every(.seconds(60))) { ... }` (or a cron schedule), or call `run()` to run it once")
    }
    do {
      _ = try resolveParameters(parameters)
    } catch  where error.code == .missingParameter {
      // The schedule's events may carry the missing value; a run without one fails.
    }
    let logger = environment.logger
    let flowName = name
    var options = options
    let onEvent = options.onEvent
    options.onEvent = { event in
      Self.log(event, flowName: flowName, logger)
      onEvent(event)
    }
    let runner = ScheduleRunner(schedule: schedule, clock: environment.clock, options: options)
    logger.info(
      "running on the schedule \(schedule) until it ends or is stopped",
      metadata: ["flow": .string(name)])
    let flow = self
    return await runner.run(stop: stop) { request in
      let merged = request.parameters.merging(parameters) { _, explicit in explicit }
      let result: FlowRunResult
      do {
        result = try await flow.run(
          parameters: merged, executor: executor, environment: environment,
          scheduledStart: request.scheduledDate)
      } catch {
        logger.error(
          "\(request) did not start: \(error)", metadata: ["flow": .string(flowName)])
        return .failure("\(error)")
      }
      await onRun(request, result)
      return Self.outcome(of: result.state)
    }
  }

  /// How the runner counts a flow run that ended in `state`.
  static func outcome(of state: RunState) -> ScheduledRunOutcome {
    if state.isCancelled { return .cancelled }
    if state.isSuccessful { return .success }
    return .failure("\(state)")
  }

  private static func log(_ event: ScheduleRunnerEvent, flowName: String, _ logger: Logger) {
    var metadata: Logger.Metadata = [
      "flow": .string(flowName), "schedule_event": .string(event.kind.name),
    ]
    if let scheduled = event.scheduledDate {
      metadata["scheduled_start_time"] = .string(scheduled.ISO8601Format())
    }
    let level: Logger.Level
    switch event.kind {
    case .missed, .skipped, .cancellingRun, .paused: level = .warning
    case .runFinished where event.outcome?.kind == .failure: level = .error
    case .buffered: level = .debug
    default: level = .info
    }
    logger.log(level: level, "\(event.message)", metadata: metadata)
  }
}

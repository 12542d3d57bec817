import FlowCore
import FlowScheduling
import ServiceLifecycle
import Synchronization

/// A flow on its schedule as a swift-service-lifecycle `Service` (``Flow/runOnSchedule(parameters:executor:environment:options:stop:onRun:)``
/// inside): the group's graceful shutdown (SIGTERM or SIGINT, when the `ServiceGroup` handles
/// them) lets the running run finish, then ``run()`` returns; cancelling the group cancels the
/// running runs.
///
/// ```swift
/// let service = FlowScheduleService(flow: flow)
/// try await ServiceGroup(
///   configuration: .init(services: [service], gracefulShutdownSignals: [.sigterm, .sigint],
///                        logger: logger)
/// ).run()
/// print(service.summary ?? "not run")
/// ```
public final class FlowScheduleService: Service, Sendable {
  private let flow: Flow
  private let parameters: [String: any Sendable]
  private let executor: FlowExecutor
  private let environment: RunEnvironment
  private let options: ScheduleRunnerOptions
  private let onRun: @Sendable (ScheduledRunRequest, FlowRunResult) async -> Void
  private let outcome = Mutex<ScheduleRunnerSummary?>(nil)

  /// A service that runs `flow` on its schedule (the arguments are `runOnSchedule`'s).
  public init(
    flow: Flow, parameters: [String: any Sendable] = [:], executor: FlowExecutor = .sequential,
    environment: RunEnvironment = .system, options: ScheduleRunnerOptions = .init(),
    onRun: @escaping @Sendable (ScheduledRunRequest, FlowRunResult) async -> Void = { _, _ in }
  ) {
    self.flow = flow
    self.parameters = parameters
    self.executor = executor
    self.environment = environment
    self.options = options
    self.onRun = onRun
  }

  /// What the runner did, once ``run()`` returned.
  public var summary: ScheduleRunnerSummary? { outcome.withLock { $0 } }

  /// Runs the flow on its schedule until the schedule ends, the options stop it, or the group
  /// shuts down; throws the ``FlowValidationError`` of an invalid flow before anything runs.
  public func run() async throws {
    let stop = ScheduleStopSignal()
    let summary = try await withGracefulShutdownHandler {
      try await flow.runOnSchedule(
        parameters: parameters, executor: executor, environment: environment, options: options,
        stop: stop, onRun: onRun)
    } onGracefulShutdown: {
      stop.requestStop(reason: "graceful shutdown (SIGTERM or SIGINT)")
    }
    outcome.withLock { $0 = summary }
  }
}

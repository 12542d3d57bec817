import FlowCluster
import FlowClusterProtocol
import FlowCore
import FlowExecutors
import FlowLogging
import FlowState
import Foundation
import Synchronization

/// An attempt that an outside engine submitted to a ``SimulatedCluster``: how a worker runs
/// it and whom it tells.
struct EngineAttempt {
  /// `slug` or `slug[index]`, for violations.
  let label: String
  /// How long the worker takes before it runs the body (nil: only what the body sleeps).
  let duration: DurationDistribution?
  /// Runs the body on a worker (named by the second argument) with that worker's environment.
  let execute: @Sendable (ClusterAssignment, String, RunEnvironment) async -> ClusterTaskResult
  /// The scheduler reported the attempt's result (worker name second).
  let onFinished: (ClusterTaskResult, String) -> Void
  /// The scheduler reported the attempt lost with a worker (worker, reason, rescheduled).
  let onCrashed: (String, String, Bool) -> Void
  var bodies = 0
  var crashes = 0
  var finished = false
  var cancelled = false
}

/// Carries the engine's calls, made on the simulator's executor through a `Sendable`
/// session, to the simulated cluster (confined to the simulator), and the results back.
final class SimulatedEngineBridge: Sendable {
  enum Request: Sendable {
    case submit(Int, RemoteTaskCall, ClusterAssignment)
    /// Calls started together (a batch session), each with its assignment and, for a
    /// conditional start, the position in the batch of the call it runs after.
    case start([(id: Int, call: RemoteTaskCall, assignment: ClusterAssignment, after: Int?)])
    case cancel(Int)
  }

  private struct State {
    var nextID = 0
    var requests: [Request] = []
    var waiting: [Int: CheckedContinuation<(ClusterTaskResult, String), any Error>] = [:]
    var cancelledEarly: Set<Int> = []
    /// Calls started in batches whose outcome has not been delivered, with their mailbox.
    var started: [Int: (call: RemoteTaskCall, outcomes: RemoteOutcomes)] = [:]
  }

  private let state = Mutex(State())

  /// Runs one attempt on the cluster: encodes the inputs as on the wire, waits for the
  /// scheduler's result, decodes it. Cancellation withdraws the attempt.
  func invoke(_ call: RemoteTaskCall) async throws -> any Sendable {
    let assignment = try ClusterRemoteCoding.assignment(call, id: 0)
    let id = state.withLock { state in
      state.nextID += 1
      return state.nextID
    }
    let (result, worker) = try await withTaskCancellationHandler {
      try await withCheckedThrowingContinuation {
        (continuation: CheckedContinuation<(ClusterTaskResult, String), any Error>) in
        let cancelled = state.withLock { state in
          if state.cancelledEarly.remove(id) != nil { return true }
          state.waiting[id] = continuation
          state.requests.append(.submit(id, call, assignment))
          return false
        }
        if cancelled { continuation.resume(throwing: CancellationError()) }
      }
    } onCancel: {
      let continuation = state.withLock {
        state -> CheckedContinuation<(ClusterTaskResult, String), any Error>? in
        guard let continuation = state.waiting.removeValue(forKey: id) else {
          state.cancelledEarly.insert(id)
          return nil
        }
        state.requests.append(.cancel(id))
        return continuation
      }
      continuation?.resume(throwing: CancellationError())
    }
    return try ClusterRemoteCoding.value(result, call, worker: worker)
  }

  /// Starts `calls` (a batch session): their outcomes go to `outcomes`.
  func start(_ calls: [RemoteTaskCall], outcomes: RemoteOutcomes) {
    var refused: [RemoteOutcome] = []
    state.withLock { state in
      var batch: [(id: Int, call: RemoteTaskCall, assignment: ClusterAssignment, after: Int?)] =
        []
      var positions: [ObjectIdentifier: Int] = [:]
      for call in calls {
        do {
          var after: Int?
          if let upstream = call.runsAfter {
            guard let position = positions[ObjectIdentifier(upstream)] else {
              throw RemoteTaskError(
                code: .notRun, message: "not run: the attempt it runs after was not started with it"
              )
            }
            after = position
          }
          var assignment = try ClusterRemoteCoding.assignment(call, id: 0)
          // As the real scheduler sends it: the body sees the task run's ID.
          assignment.taskRunID = call.taskRunID
          state.nextID += 1
          positions[ObjectIdentifier(call)] = batch.count
          batch.append((state.nextID, call, assignment, after))
          state.started[state.nextID] = (call, outcomes)
        } catch {
          refused.append(RemoteOutcome(call: call, result: .failure(error)))
        }
      }
      if !batch.isEmpty { state.requests.append(.start(batch)) }
    }
    outcomes.deliver(refused)
  }

  /// Withdraws every unfinished attempt started with `outcomes`: each ends cancelled.
  func cancel(_ outcomes: RemoteOutcomes) {
    let cancelled = state.withLock { state -> [RemoteOutcome] in
      let ids = state.started.filter { $0.value.outcomes === outcomes }.keys.sorted()
      return ids.map { id in
        let call = state.started.removeValue(forKey: id)!.call
        state.requests.append(.cancel(id))
        return RemoteOutcome(call: call, result: .failure(CancellationError()))
      }
    }
    outcomes.deliver(cancelled)
  }

  /// The requests posted since the last call, in order.
  func take() -> [Request] {
    state.withLock { state in
      guard !state.requests.isEmpty else { return [] }
      defer { state.requests.removeAll() }
      return state.requests
    }
  }

  /// Hands call `id` its result; false when the engine no longer waits for it.
  func resume(_ id: Int, _ result: ClusterTaskResult, worker: String) -> Bool {
    let (continuation, started) = state.withLock {
      ($0.waiting.removeValue(forKey: id), $0.started.removeValue(forKey: id))
    }
    if let (call, outcomes) = started {
      let value = Result { try ClusterRemoteCoding.value(result, call, worker: worker) }
      outcomes.deliver([RemoteOutcome(call: call, result: value)])
      return true
    }
    continuation?.resume(returning: (result, worker))
    return continuation != nil
  }
}

/// The executor backend of a ``SimulatedEngine``: each session hands the engine's attempts to
/// the simulated cluster.
struct SimulatedClusterBackend: FlowExecutorBackend {
  let bridge: SimulatedEngineBridge

  func startSession(for run: RemoteRunInfo) async throws -> any FlowExecutorSession {
    Session(bridge: bridge)
  }

  struct Session: FlowExecutorBatchSession {
    let bridge: SimulatedEngineBridge
    func invoke(_ call: RemoteTaskCall) async throws -> any Sendable {
      try await bridge.invoke(call)
    }
    func start(_ calls: [RemoteTaskCall], outcomes: RemoteOutcomes) {
      bridge.start(calls, outcomes: outcomes)
    }
    func cancel(_ outcomes: RemoteOutcomes) { bridge.cancel(outcomes) }
    func stop() async {}
  }
}

/// The real FlowExecutors engine on a ``SimulatedCluster``: ``executor`` is a `FlowExecutor`
/// whose attempts the simulated scheduler places on simulated workers, where the real task
/// bodies run (looked up in a `ClusterTaskRegistry`, inputs and outputs encoded as on the
/// wire), on the simulator's serial executor and virtual clock.
///
/// Run the flow inside the simulation, as a spawned body:
/// ```swift
/// let sim = Simulator(seed: 7)
/// let engine = SimulatedEngine(
///   cluster: SimulatedCluster(simulator: sim, configuration: .init(workers: 3)), flows: [flow])
/// sim.schedule(after: .zero) {
///   sim.spawn {
///     try await flow.run(executor: engine.executor, environment: sim.environment())
///   } completion: { result in sim.stop() }
/// }
/// await sim.run(until: .seconds(600))
/// ```
/// ``EngineSimulation/run(_:seed:parameters:options:)`` does all of this, with faults and
/// invariants.
public final class SimulatedEngine {
  /// The cluster the attempts run on.
  public let cluster: SimulatedCluster
  /// The executor to pass to `Flow.run(executor:)` (inside the simulation only).
  public let executor: FlowExecutor
  private let bridge = SimulatedEngineBridge()
  private let registry: ClusterTaskRegistry
  private let taskDuration: DurationDistribution?
  private var attemptIDs: [Int: ClusterTaskID] = [:]
  /// Successful results handed to a waiting engine call, by task run ID.
  public private(set) var commits: [UUID: Int] = [:]

  /// An engine on `cluster` whose workers know the tasks of `flows`; each attempt takes
  /// `taskDuration` (times its worker's slowdown) before its body runs, plus whatever the
  /// body sleeps on the simulation's clock.
  public init(
    cluster: SimulatedCluster, flows: [Flow], taskDuration: DurationDistribution? = nil
  ) {
    self.cluster = cluster
    self.registry = ClusterTaskRegistry(flows: flows)
    self.taskDuration = taskDuration
    executor = FlowExecutor(
      name: "simulatedCluster(workers: \(cluster.configuration.workers))", width: 1 << 16,
      backend: SimulatedClusterBackend(bridge: bridge))
    cluster.simulator.addPoller { [unowned self] in poll() }
  }

  private func poll() -> Bool {
    let requests = bridge.take()
    for request in requests {
      switch request {
      case .submit(let callID, let call, let assignment):
        attemptIDs[callID] =
          cluster.submit(
            [
              (
                assignment, call.options.priority, call.options.resources, attempt(callID, call),
                nil
              )
            ]
          )[0]
      case .start(let batch):
        let ids = cluster.submit(
          batch.map {
            (
              $0.assignment, $0.call.options.priority, $0.call.options.resources,
              attempt($0.id, $0.call), $0.after
            )
          })
        for (item, id) in zip(batch, ids) { attemptIDs[item.id] = id }
      case .cancel(let callID):
        if let id = attemptIDs[callID] { cluster.cancel(id) }
      }
    }
    return !requests.isEmpty
  }

  /// What the cluster runs for call `callID`, and whom it tells.
  private func attempt(_ callID: Int, _ call: RemoteTaskCall) -> EngineAttempt {
    let label = call.mapIndex.map { "\(call.taskSlug)[\($0)]" } ?? call.taskSlug
    let registry = registry
    let taskRunID = call.taskRunID
    return EngineAttempt(
      label: label, duration: taskDuration,
      execute: { assignment, worker, environment in
        await registry.execute(assignment, worker: worker, environment: environment)
      },
      onFinished: { [unowned self] result, worker in
        guard bridge.resume(callID, result, worker: worker) else { return }
        if case .success = result.outcome { commits[taskRunID, default: 0] += 1 }
      },
      onCrashed: { worker, reason, rescheduled in
        call.recordCrash(worker: worker, reason: reason, rescheduled: rescheduled)
      })
  }

  /// Checks a finished run of `flow` against what the cluster saw and returns every
  /// violation (empty: all hold): the run and every task run reached a final state; each
  /// successful task run's result was committed exactly once, and no other's; no task run
  /// made more attempts than its retry policy allows (per loop iteration); every state transition in the run's log
  /// was legal; plus the cluster's own checks (attempts lost at most `allowedFailures` times,
  /// no body run twice, no result lost or delivered twice).
  public func checkInvariants(_ result: FlowRunResult, flow: Flow) -> [InvariantViolation] {
    cluster.checkInvariants() + checkRun(result, flow: flow)
  }

  /// The checks of ``checkInvariants(_:flow:)`` that concern one run, without the cluster's
  /// (for a simulation of many runs, which checks the cluster once at the end).
  public func checkRun(_ result: FlowRunResult, flow: Flow) -> [InvariantViolation] {
    var found: [InvariantViolation] = []
    if !result.state.isFinished {
      found.append(.flowRunUnfinished(flow: flow.name, state: result.state.kind))
    }
    var policies: [String: RetryPolicy] = [:]
    for node in flow.graph.nodes {
      if let options = node.options { policies[node.slug] = options.retries }
    }
    for run in result.taskRuns {
      let commits = commits[run.id] ?? 0
      if !run.state.isFinished {
        found.append(.taskRunUnfinished(task: run.label, state: run.state.kind))
      }
      if run.state.kind == .success ? commits != 1 : commits != 0 {
        found.append(.resultCommitCount(task: run.label, state: run.state.kind, commits: commits))
      }
      // Retries count per loop iteration: each iteration starts again at attempt 1.
      let iterations = max(1, run.loopIterations)
      if let policy = policies[run.slug], run.attempts > policy.maxAttempts * iterations {
        found.append(
          .tooManyAttempts(
            task: run.label, attempts: run.attempts, iterations: iterations,
            allowed: policy.maxAttempts))
      }
      if run.state.error is IllegalTransitionError {
        found.append(
          .illegalTaskTransition(
            task: run.label, message: run.state.message ?? "an illegal transition"))
      }
    }
    found += Self.transitionViolations(result.logs)
    return found
  }

  /// Replays each task run's and the flow run's states from the run's log and reports every
  /// transition the table forbids.
  static func transitionViolations(_ records: [LogRecord]) -> [InvariantViolation] {
    var found: [InvariantViolation] = []
    var current: [String: RunState.Kind] = [:]
    for record in records {
      guard let name = record.metadata["state"], !record.message.hasPrefix("Crashed:"),
        let kind = RunState.Kind.all.first(where: { $0.name == name })
      else { continue }
      let subject =
        record.metadata["task_run_id"].map { "task run \(record.metadata["task"] ?? "")#\($0)" }
        ?? "flow run"
      let from = current[subject] ?? .pending
      if !StateTransitions.isLegal(from: from, to: kind) {
        found.append(.illegalLoggedTransition(subject: subject, from: from, to: kind))
      }
      current[subject] = kind
    }
    return found
  }
}

/// One seed of a real flow, run by the real engine on a simulated cluster under faults, from
/// start to invariants.
///
/// ```swift
/// try await SimulationSeeds.run(0..<50) { seed in
///   let report = await flow.runOnSimulatedCluster(seed: seed)
///   guard report.violations.isEmpty else {
///     throw SimulationError(.invariantViolated, report.jsonLine)
///   }
///   #expect(try report.result?.result(of: total) == 42)
/// }
/// ```
public enum EngineSimulation {
  /// What to simulate.
  public struct Options: Sendable {
    /// How many workers.
    public var workers: Int
    /// Attempts each worker runs at once.
    public var capacity: Int
    /// Which faults to inject.
    public var faults: FaultSet
    /// Faults happen during this much simulated time from the start; then everything heals.
    public var faultWindow: Duration
    /// Mean simulated time between faults.
    public var meanFaultGap: Duration
    /// How long the run may take to finish after the faults stop (liveness).
    public var convergence: Duration
    /// How long each attempt takes on its worker before the body runs (times the worker's
    /// slowdown); nil: only what the body sleeps on the simulation's clock.
    public var taskDuration: DurationDistribution?
    /// The cluster's set-up (workers and capacity above win over its own).
    public var cluster: SimulatedCluster.Configuration
    /// Trace entries kept for the report (the hash covers every event regardless).
    public var traceRetention: Int
    /// Flows the workers know besides the one run (flows it starts with `runTask`).
    public var otherFlows: [Flow]
    /// True: a run that ends early still lets the faults go on until the fault window ends
    /// (``ClusterSimulation`` does, as `flow simulate` always has).
    var throughFaultWindow = false

    /// Options; by default 4 workers of capacity 2, every fault during the first 20 s,
    /// attempts of 10 ms–1 s, 10 simulated minutes to converge.
    public init(
      workers: Int = 4, capacity: Int = 2, faults: FaultSet = .all,
      faultWindow: Duration = .seconds(20), meanFaultGap: Duration = .seconds(1),
      convergence: Duration = .seconds(600),
      taskDuration: DurationDistribution? = .uniform(.milliseconds(10) ... .seconds(1)),
      cluster: SimulatedCluster.Configuration = .init(), traceRetention: Int = 64,
      otherFlows: [Flow] = []
    ) {
      self.workers = workers
      self.capacity = capacity
      self.faults = faults
      self.faultWindow = faultWindow
      self.meanFaultGap = meanFaultGap
      self.convergence = convergence
      self.taskDuration = taskDuration
      self.cluster = cluster
      self.traceRetention = traceRetention
      self.otherFlows = otherFlows
    }
  }

  /// What one seed did: the engine's result and the simulation's report.
  public struct Report: Sendable {
    /// The flow run's result; nil when the run was refused (a validation error) .
    public let result: FlowRunResult?
    /// The seed, trace hash, violations, events and counters, as `flow simulate` prints them.
    public let simulation: ClusterSimulation.Report

    /// The seed.
    public var seed: UInt64 { simulation.seed }
    /// The hash of every event of the simulation.
    public var traceHash: UInt64 { simulation.traceHash }
    /// Every invariant that did not hold (empty: all held).
    public var violations: [InvariantViolation] { simulation.violations }
    /// `"ok"`, or the first violation (and how many more).
    public var invariants: String { simulation.invariants }
    /// One JSON object on one line, as `flow simulate` prints it.
    public var jsonLine: String { simulation.jsonLine }
  }

  /// Runs `flow` with `parameters` through the real engine on a simulated cluster for one
  /// seed, with faults, and checks the invariants.
  public static func run(
    _ flow: Flow, seed: UInt64, parameters: [String: any Sendable] = [:],
    options: Options = Options()
  ) async -> Report {
    await run(flow, seed: seed, parameters: parameters, options: options) {
      ClusterSchedulerStateMachine(configuration: $0)
    }
  }

  /// Runs one seed with the scheduler `makeScheduler` builds (for example a wrapper with a
  /// planted bug) and checks the invariants.
  public static func run(
    _ flow: Flow, seed: UInt64, parameters: [String: any Sendable] = [:], options: Options,
    scheduler makeScheduler: (ClusterSchedulerStateMachine.Configuration) ->
      any SimulatedClusterScheduler
  ) async -> Report {
    let (sim, cluster, injector) = SimulatedCluster.faulty(
      seed: seed, traceRetention: options.traceRetention, configuration: options.cluster,
      workers: options.workers, capacity: options.capacity,
      faults: FaultSchedule(
        faults: options.faults, window: options.faultWindow, meanGap: options.meanFaultGap),
      scheduler: makeScheduler)
    let engine = SimulatedEngine(
      cluster: cluster, flows: [flow] + options.otherFlows, taskDuration: options.taskDuration)
    injector.start()
    let limit = options.faultWindow + options.convergence
    var outcome: Result<FlowRunResult, any Error>?
    var deadlinePassed = false
    let executor = engine.executor
    let environment = sim.environment("engine")
    sim.schedule(afterNanoseconds: 0, .timer, node: 0) { [unowned sim] in
      sim.spawn(node: 0) {
        try await flow.run(parameters: parameters, executor: executor, environment: environment)
      } completion: { [unowned sim] result in
        outcome = result
        if !options.throughFaultWindow || sim.now >= options.faultWindow { sim.stop() }
      }
    }
    if options.throughFaultWindow {
      sim.schedule(after: options.faultWindow, .timer) { [unowned sim] in
        if outcome != nil { sim.stop() }
      }
    }
    sim.schedule(after: limit, .timer) { [unowned sim] in
      deadlinePassed = true
      sim.stop()
    }
    await sim.run(until: limit)
    var violations: [InvariantViolation] = []
    var state = "none"
    var result: FlowRunResult?
    switch outcome {
    case .success(let run)?:
      result = run
      state = run.state.kind.name
      if deadlinePassed {
        violations.append(.runNeverFinished(limit: limit, convergence: options.convergence))
      }
      violations += engine.checkInvariants(run, flow: flow)
    case .failure(let error)?:
      violations.append(.runRefused(error: "\(error)"))
    case nil:
      violations.append(.runNeverReturned)
    }
    return Report(
      result: result,
      simulation: ClusterSimulation.Report(
        seed: seed, traceHash: sim.trace.hash, violations: violations,
        simulatedSeconds: Double(sim.nowNanoseconds) / 1e9, events: sim.eventsProcessed,
        flowState: state, counters: cluster.counters,
        faultsInjected: Dictionary(
          uniqueKeysWithValues: injector.injected.map { ($0.key.name, $0.value) }),
        traceTail: sim.trace.entries))
  }
}

extension Flow {
  /// Runs this flow through the real engine on a simulated cluster for one seed: the real
  /// scheduler and worker state machines over a simulated network with `options.faults`, the
  /// real task bodies on the workers, everything on the simulator's executor and virtual
  /// clock (the same seed gives the same trace hash). Returns the run's result and the
  /// simulation's report with its invariants.
  public func runOnSimulatedCluster(
    seed: UInt64, parameters: [String: any Sendable] = [:],
    options: EngineSimulation.Options = .init()
  ) async -> EngineSimulation.Report {
    await EngineSimulation.run(self, seed: seed, parameters: parameters, options: options)
  }
}

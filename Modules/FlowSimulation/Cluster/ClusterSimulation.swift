import FlowClusterProtocol
import FlowCore
import Foundation

/// One seed of a flow's graph with stand-in bodies (``Flow/withStandInBodies(_:)``), by default
/// the `flow demo` workload, run by the real engine on a simulated cluster under faults, from
/// start to invariants: what `simulate` without `--run-bodies`, `flow simulate` and the
/// simulation tests run. Each attempt takes ``Options/taskDuration`` on its worker and fails
/// with ``StandInBodies/failureRate``; the flow's retry policies, triggers and mapping apply.
///
/// ```swift
/// let report = await ClusterSimulation.run(seed: 42, options: .init(workers: 4).with(tasks: 50))
/// #expect(report.violations.isEmpty, "\(report.jsonLine)")
/// ```
public enum ClusterSimulation {
  /// What to simulate.
  public struct Options: Sendable {
    /// How many workers.
    public var workers: Int
    /// Attempts each worker runs at once.
    public var capacity: Int
    /// The flow whose graph runs (by default ``Flow/simulationDemo(retries:)``); its task
    /// bodies are replaced by stand-ins.
    public var flow: Flow
    /// How the stand-in bodies fail and how wide mapped tasks get.
    public var standIns: StandInBodies
    /// How long each attempt takes on its worker (times the worker's slowdown).
    public var taskDuration: DurationDistribution
    /// Which faults to inject.
    public var faults: FaultSet
    /// Faults happen during this much simulated time from the start; then everything heals.
    public var faultWindow: Duration
    /// Mean simulated time between faults.
    public var meanFaultGap: Duration
    /// How long the cluster may take to finish after the faults stop (liveness).
    public var convergence: Duration
    /// The cluster's set-up (workers and capacity above win over its own).
    public var cluster: SimulatedCluster.Configuration
    /// Trace entries kept for the report (the hash covers every event regardless).
    public var traceRetention: Int

    /// Options; by default 4 workers of capacity 4, the demo flow with 50 work tasks that fail
    /// 5 % of their attempts and take 200 ms-2 s, every fault during the first 20 s, 10
    /// simulated minutes to converge.
    public init(
      workers: Int = 4, capacity: Int = 4, flow: Flow = .simulationDemo(),
      standIns: StandInBodies = .init(failureRate: 0.05, mapWidth: 50),
      taskDuration: DurationDistribution = .uniform(.milliseconds(200) ... .seconds(2)),
      faults: FaultSet = .all, faultWindow: Duration = .seconds(20),
      meanFaultGap: Duration = .seconds(1), convergence: Duration = .seconds(600),
      cluster: SimulatedCluster.Configuration = .init(), traceRetention: Int = 64
    ) {
      self.workers = workers
      self.capacity = capacity
      self.flow = flow
      self.standIns = standIns
      self.taskDuration = taskDuration
      self.faults = faults
      self.faultWindow = faultWindow
      self.meanFaultGap = meanFaultGap
      self.convergence = convergence
      self.cluster = cluster
      self.traceRetention = traceRetention
    }

    /// The options with the demo flow of `tasks` work tasks.
    public func with(tasks: Int) -> Options {
      var copy = self
      copy.flow = .simulationDemo()
      copy.standIns.mapWidth = tasks
      return copy
    }

    /// The engine simulation these options describe (for the flow with stand-in bodies).
    var engine: EngineSimulation.Options {
      var options = EngineSimulation.Options(
        workers: workers, capacity: capacity, faults: faults, faultWindow: faultWindow,
        meanFaultGap: meanFaultGap, convergence: convergence, taskDuration: taskDuration,
        cluster: cluster, traceRetention: traceRetention)
      options.throughFaultWindow = true
      return options
    }
  }

  /// What one seed did.
  public struct Report: Sendable {
    /// The seed.
    public let seed: UInt64
    /// The hash of every event of the simulation.
    public let traceHash: UInt64
    /// Every invariant that did not hold (empty: all held).
    public let violations: [InvariantViolation]
    /// Simulated time when the simulation ended.
    public let simulatedSeconds: Double
    /// Events that fired.
    public let events: Int
    /// The flow run's final (or last) state.
    public let flowState: String
    /// What happened to the workers.
    public let counters: SimulatedCluster.Counters
    /// The faults injected, by kind name.
    public let faultsInjected: [String: Int]
    /// The last trace entries, for a failure report.
    public let traceTail: [TraceEntry]

    /// `"ok"`, or the first violation (and how many more).
    public var invariants: String {
      guard let first = violations.first?.description else { return "ok" }
      return violations.count == 1 ? first : "\(first) (and \(violations.count - 1) more)"
    }

    /// One JSON object on one line: seed, trace_hash, invariants, simulated_seconds, events,
    /// then state, worker counters and faults.
    public var jsonLine: String {
      let faults = faultsInjected.sorted { $0.key < $1.key }
        .map { "\(jsonString($0.key)):\($0.value)" }.joined(separator: ",")
      return "{\"seed\":\(seed),\"trace_hash\":\"\(SimulationTrace.hex(traceHash))\","
        + "\"invariants\":\(jsonString(invariants)),"
        + "\"simulated_seconds\":\(String(format: "%.3f", simulatedSeconds)),"
        + "\"events\":\(events),\"state\":\(jsonString(flowState)),"
        + "\"worker_crashes\":\(counters.crashes),\"worker_restarts\":\(counters.starts),"
        + "\"crashed_attempts\":\(counters.crashedAttempts),\"faults\":{\(faults)}}"
    }
  }

  /// Runs one seed and checks the invariants.
  public static func run(seed: UInt64, options: Options = Options()) async -> Report {
    await run(seed: seed, options: options) { ClusterSchedulerStateMachine(configuration: $0) }
  }

  /// Runs one seed with the scheduler `makeScheduler` builds (for example a wrapper with a
  /// planted bug) and checks the invariants.
  public static func run(
    seed: UInt64, options: Options,
    scheduler makeScheduler: (ClusterSchedulerStateMachine.Configuration) ->
      any SimulatedClusterScheduler
  ) async -> Report {
    await runEngine(seed: seed, options: options, scheduler: makeScheduler).simulation
  }

  /// Runs one seed as ``run(seed:options:scheduler:)`` does and returns the engine's result
  /// too (the stand-in run's task states, for naming the tasks that failed).
  public static func runEngine(
    seed: UInt64, options: Options,
    scheduler makeScheduler: (ClusterSchedulerStateMachine.Configuration) ->
      any SimulatedClusterScheduler
  ) async -> EngineSimulation.Report {
    await EngineSimulation.run(
      options.flow.withStandInBodies(options.standIns), seed: seed, options: options.engine,
      scheduler: makeScheduler)
  }
}

/// `text` as a JSON string literal.
func jsonString(_ text: String) -> String {
  var out = "\""
  for scalar in text.unicodeScalars {
    switch scalar {
    case "\"": out += "\\\""
    case "\\": out += "\\\\"
    case "\n": out += "\\n"
    case "\r": out += "\\r"
    case "\t": out += "\\t"
    case let c where c.value < 0x20: out += String(format: "\\u%04x", c.value)
    default: out.unicodeScalars.append(scalar)
    }
  }
  return out + "\""
}

extension SimulatedCluster {
  /// What every cluster simulation starts from: a simulator for `seed`, a cluster of `workers`
  /// workers of `capacity` around the scheduler `makeScheduler` builds, and a fault injector for
  /// `faults` (not started yet).
  static func faulty(
    seed: UInt64, traceRetention: Int, configuration: Configuration, workers: Int, capacity: Int,
    faults: FaultSchedule,
    scheduler makeScheduler: (ClusterSchedulerStateMachine.Configuration) ->
      any SimulatedClusterScheduler
  ) -> (Simulator, SimulatedCluster, FaultInjector<[ClusterMessage]>) {
    let sim = Simulator(seed: seed, traceRetention: traceRetention)
    var configuration = configuration
    configuration.workers = workers
    configuration.capacity = capacity
    let cluster = SimulatedCluster(
      simulator: sim, configuration: configuration,
      scheduler: makeScheduler(configuration.scheduler))
    let injector = FaultInjector(
      simulator: sim, network: cluster.network, schedule: faults, targets: cluster.faultTargets)
    return (sim, cluster, injector)
  }
}

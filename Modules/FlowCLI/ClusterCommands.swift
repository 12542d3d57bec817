import ArgumentParser
import FlowCluster
import FlowClusterProtocol
import FlowCore
import FlowExecutors
import FlowLogging
import FlowState
import FlowTesting
import Foundation
import Logging

/// `worker --connect HOST:PORT ...`: joins a scheduler and runs this executable's flows' tasks.
struct WorkerCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "worker",
    abstract: "Join a cluster scheduler and run the tasks of this executable's flows.",
    discussion: """
      Start the scheduler with `run --executor cluster --listen HOST:PORT [--token T]` (or let
      `run --executor cluster --workers N` start local workers, which run this command). The
      worker runs until the scheduler says goodbye or the connection drops; SIGTERM or SIGINT
      drains it (running tasks finish, or are handed back after --drain-timeout seconds). A
      worker started before its scheduler retries with backoff for --connect-retry seconds;
      one whose scheduler went away restarts and retries for up to 3 s, then stops.
      """)

  @Option(help: ArgumentHelp("The scheduler's address.", valueName: "host:port"))
  var connect: String

  @Option(help: "The scheduler's shared token.")
  var token: String?

  @Option(parsing: .unconditional, help: "How many tasks run at once.")
  var threads: Int = 1

  @Option(
    name: .customLong("resources"), parsing: .upToNextOption,
    help: ArgumentHelp(
      "Resources this worker offers (tasks that ask for them run only here).",
      valueName: "name=amount"))
  var resources: [String] = []

  @Option(help: "The worker's name in the scheduler's logs (default host:pid).")
  var name: String?

  @Option(
    name: .customLong("results-dir"),
    help: ArgumentHelp(
      "Where persisted results and targets live (as the scheduler's run says).",
      valueName: "directory"))
  var resultsDirectory: String?

  @Option(
    name: .customLong("tls-trust-roots"),
    help: ArgumentHelp(
      "PEM certificates to trust when the scheduler uses TLS.", valueName: "file"))
  var tlsTrustRoots: String?

  @Option(
    name: .customLong("drain-timeout"), parsing: .unconditional,
    help: "Seconds a drain waits for running tasks before handing them back.")
  var drainTimeout: Int = 30

  @Option(
    name: .customLong("connect-retry"), parsing: .unconditional,
    help: "Seconds to keep trying to reach a scheduler that is not up yet (0: one try).")
  var connectRetry: Int = 30

  @Option(
    name: .customLong("log-level"),
    help: "trace, debug, info, notice, warning, error or critical (default: warning).")
  var logLevel: String = "warning"

  /// The scheduler's address.
  func address() throws -> ClusterAddress {
    guard let address = ClusterAddress(connect) else {
      throw ValidationError(
        "--connect must be HOST:PORT (e.g. 10.0.0.5:8786), got '\(connect)'")
    }
    return address
  }

  /// The offered resources by name.
  func offeredResources() throws -> [String: Double] {
    var offered: [String: Double] = [:]
    for item in resources {
      let parts = item.split(separator: "=", maxSplits: 1)
      guard parts.count == 2, !parts[0].isEmpty, let amount = Double(parts[1]), amount >= 0,
        amount.isFinite
      else {
        throw ValidationError(
          "--resources takes NAME=AMOUNT with a non-negative amount (e.g. GPU=2), got '\(item)'")
      }
      offered[String(parts[0])] = amount
    }
    return offered
  }

  func validate() throws {
    _ = try address()
    if threads < 1 { throw ValidationError("--threads must be at least 1, got \(threads)") }
    if threads > RunOptions.maxThreads {
      throw ValidationError("--threads must be 1-\(RunOptions.maxThreads), got \(threads)")
    }
    if !(0...86_400).contains(connectRetry) {
      throw ValidationError(
        "--connect-retry must be 0-86400 seconds (one day), got \(connectRetry)")
    }
    if !(0...86_400).contains(drainTimeout) {
      throw ValidationError(
        "--drain-timeout must be 0-86400 seconds (one day), got \(drainTimeout)")
    }
    guard Logger.Level(rawValue: logLevel) != nil else {
      throw ValidationError(
        "--log-level must be one of "
          + Logger.Level.allCases.map(\.rawValue).joined(separator: ", ")
          + ", got '\(logLevel)'")
    }
    _ = try offeredResources()
    if resultsDirectory?.trimmingCharacters(in: .whitespaces).isEmpty == true {
      throw ValidationError("--results-dir is empty; give a directory, or leave the option out")
    }
  }

  func run() async throws {
    let invocation = RootCommand.invocation
    let commandLine = invocation.commandLine
    let flows = try commandLine.flows(
      FlowCommandContext(resultsDirectory: resultsDirectory ?? commandLine.defaultResultsDirectory))
    var logger = Logger(label: "\(commandLine.name).worker") {
      StreamLogHandler.standardError(label: $0)
    }
    logger.logLevel = Logger.Level(rawValue: logLevel) ?? .warning
    let exit: ClusterWorkerStateMachine.Exit
    do {
      exit = try await ClusterWorker.run(
        connect: try address(), token: token, threads: threads,
        resources: try offeredResources(), flows: flows, name: name,
        tls: tlsTrustRoots.map { ClusterTLS(trustRootsPath: $0, verifyHostname: false) },
        drainTimeout: .seconds(drainTimeout), handleSignals: invocation.handlingSignals,
        ownsProcess: invocation.handlingSignals, connectRetry: .seconds(connectRetry),
        logger: logger)
    } catch {
      invocation.output.write("\(commandLine.name) worker: \(error)\n", .standardError)
      throw ExitCode.failure
    }
    if exit.failed {
      invocation.output.write("\(commandLine.name) worker: \(exit.reason)\n", .standardError)
      throw ExitCode.failure
    }
  }
}

/// `simulate [FLOW] --seed S | --seeds A..B ...`: the flow's graph on a simulated cluster under
/// faults, one seed at a time, deterministically.
struct SimulateCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "simulate",
    abstract: "Run a flow's task graph on a simulated cluster under faults, per seed.",
    discussion: """
      The simulated cluster runs the real scheduler and worker state machines over a simulated
      network on a virtual clock; the seed decides the network, the faults and the outcomes.
      The real engine runs the flow's graph (its edges, mapping, retry policies, triggers and
      timeouts), but task bodies do not run: each is replaced by a stand-in that takes a
      simulated duration (--task-duration) and fails with a probability (--failure-rate), drawn
      from the seed; a mapped task gets --map-width children. One JSON line per seed
      (seed, trace hash, invariants, simulated seconds, events, final state); the same seed
      prints the same line. Exits with status 1 if any seed violated an invariant.
      With --run-bodies, the real engine runs the flow (parameters at their defaults) and the
      workers run its real task bodies, their simulated duration --task-duration plus what
      they sleep on the run's clock; invariants then also compare commits with task states.
      Faults: none, all, or a comma-separated list of drop, delay, partition,
      one-way-partition, crash, pause, slow.
      """)

  @Argument(help: "The flow to simulate (default: the executable's first flow).")
  var flow: String?

  @Option(help: "One seed to simulate.")
  var seed: UInt64?

  @Option(help: ArgumentHelp("A range of seeds, A..B (inclusive) or A..<B.", valueName: "a..b"))
  var seeds: String?

  @Option(parsing: .unconditional, help: "How many simulated workers.")
  var workers: Int = 4

  @Option(parsing: .unconditional, help: "Task attempts each simulated worker runs at once.")
  var threads: Int = 1

  @Option(help: "Which faults to inject: none, all, or a comma-separated list.")
  var faults: String = "all"

  @Option(
    name: .customLong("task-duration"),
    help: "Each attempt's simulated duration (100ms, 2s); default: 10ms-1s at random.")
  var taskDuration: String?

  @Option(
    name: .customLong("failure-rate"), parsing: .unconditional,
    help: "Probability that an attempt fails (the task's own retry policy applies).")
  var failureRate: Double = 0

  @Option(
    name: .customLong("map-width"), parsing: .unconditional,
    help: "How many children a mapped task gets.")
  var mapWidth: Int = 4

  @Flag(
    name: .customLong("run-bodies"),
    help: ArgumentHelp(
      "Run the flow's real task bodies through the real engine on the simulated cluster "
        + "(parameters take their defaults; inputs and outputs must be Codable)."))
  var runBodies = false

  @Flag(
    name: .customLong("allow-failed-runs"),
    help: ArgumentHelp(
      "Exit 0 when runs fail but every invariant holds (sweeps with --failure-rate or crash "
        + "faults, where failed runs are expected)."))
  var allowFailedRuns = false

  @Option(
    name: .customLong("fault-window"), parsing: .unconditional,
    help: "Seconds of simulated time during which faults happen (then everything heals).")
  var faultWindow: Double = 20

  @Option(name: .customLong("plant-bug"), help: .hidden)
  var plantBug: String?

  func validate() throws {
    guard (seed == nil) != (seeds == nil) else {
      throw ValidationError("give exactly one of --seed S and --seeds A..B")
    }
    _ = try seedList()
    guard (1...1_000).contains(workers) else {
      throw ValidationError("--workers must be 1-1000, got \(workers)")
    }
    guard (1...1_000).contains(threads) else {
      throw ValidationError("--threads must be 1-1000, got \(threads)")
    }
    guard (1...10_000).contains(mapWidth) else {
      throw ValidationError("--map-width must be 1-10000, got \(mapWidth)")
    }
    guard (0...1).contains(failureRate) else {
      throw ValidationError("--failure-rate must be between 0 and 1, got \(failureRate)")
    }
    _ = try duration()
    guard faultWindow >= 0, faultWindow <= 1e6 else {
      throw ValidationError("--fault-window must be 0-1000000 seconds, got \(faultWindow)")
    }
    if let plantBug, plantBug != "forget-result" {
      throw ValidationError("--plant-bug takes forget-result, got '\(plantBug)'")
    }
    if runBodies, failureRate != 0 {
      throw ValidationError(
        "--failure-rate applies to the stand-in bodies; with --run-bodies the real bodies fail "
          + "as they do")
    }
    do {
      _ = try FaultSet(parsing: faults)
    } catch {
      throw ValidationError("--faults: \(error.message)")
    }
  }

  func run() async throws {
    let invocation = RootCommand.invocation
    let commandLine = invocation.commandLine
    let flow = try commandLine.flow(
      named: flow, FlowCommandContext(resultsDirectory: commandLine.defaultResultsDirectory))
    if runBodies { return try await runEngine(flow, invocation) }
    do {
      try flow.validate()
    } catch {
      throw ValidationError("flow '\(flow.name)' cannot be simulated: \(error.message)")
    }
    let options = ClusterSimulation.Options(
      workers: workers, capacity: threads, flow: flow,
      standIns: StandInBodies(failureRate: failureRate, mapWidth: mapWidth),
      taskDuration: try duration().map { .fixed($0) }
        ?? .uniform(.milliseconds(10) ... .seconds(1)),
      faults: try FaultSet(parsing: faults), faultWindow: window)
    try await report(flow, invocation, rerunFlags: "") { seed in
      let run = await ClusterSimulation.runEngine(
        seed: seed, options: options, scheduler: scheduler)
      return (run.simulation, run.result)
    }
  }

  /// Prints each seed's JSON line, and for a seed that violated an invariant what it violated
  /// and the command that reruns it; fails when any seed did.
  private func report(
    _ flow: Flow, _ invocation: FlowCommandLine.Invocation, rerunFlags: String,
    _ simulate: (UInt64) async -> (ClusterSimulation.Report, FlowRunResult?)
  ) async throws {
    var violated = false
    var failedSeeds: [UInt64] = []
    for seed in try seedList() {
      let (report, result) = await simulate(seed)
      invocation.output.write(
        Self.jsonLine(report, failing: result.map(Self.failingTasks)) + "\n", .standardOutput)
      // A run that did not succeed fails the command (its tasks are named), unless the sweep
      // expects failures (--allow-failed-runs: --failure-rate, crashes past the limit).
      let kind = RunState.Kind.all.first { $0.name == report.flowState }
      if !allowFailedRuns, report.violations.isEmpty, kind?.isSuccessful != true {
        failedSeeds.append(seed)
      }
      if !report.violations.isEmpty {
        violated = true
        invocation.output.write(
          "seed \(seed) violated: \(report.violations.map(\.description).joined(separator: "; "))\n"
            + "rerun it with: \(invocation.commandLine.name) simulate \(flow.name) --seed \(seed) "
            + "--workers \(workers) --threads \(threads) --faults \(faults) "
            + "--fault-window \(faultWindow)\(plantBug.map { " --plant-bug \($0)" } ?? "")"
            + "\(rerunFlags)\n", .standardError)
      }
    }
    if !failedSeeds.isEmpty {
      invocation.output.write(
        "the flow run did not succeed for seed\(failedSeeds.count == 1 ? "" : "s") "
          + failedSeeds.map(String.init).joined(separator: ", ")
          + " (its failing tasks are in the JSON line's \"failing_tasks\"); pass "
          + "--allow-failed-runs when failures are expected and only the invariants count\n",
        .standardError)
    }
    if violated || !failedSeeds.isEmpty { throw ExitCode.failure }
  }

  /// The report's JSON line, with `"failing_tasks"` (task, state, reason) when the run's
  /// result is known.
  static func jsonLine(_ report: ClusterSimulation.Report, failing: [[String: String]]?) -> String {
    let line = report.jsonLine
    guard let failing, line.hasSuffix("}") else { return line }
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    let json = (try? encoder.encode(failing)).map { String(decoding: $0, as: UTF8.self) } ?? "[]"
    return line.dropLast() + ",\"failing_tasks\":\(json)}"
  }

  /// Each failed task run of `result`: its label, state and reason.
  static func failingTasks(_ result: FlowRunResult) -> [[String: String]] {
    result.taskRuns.filter(\.state.isFailed).map { run in
      ["task": run.label, "state": run.state.kind.name, "reason": run.state.message ?? ""]
    }
  }

  /// `--run-bodies`: the real engine and the flow's real bodies on the simulated cluster,
  /// with the same JSON line per seed.
  private func runEngine(_ flow: Flow, _ invocation: FlowCommandLine.Invocation) async throws {
    let commandLine = invocation.commandLine
    let options = EngineSimulation.Options(
      workers: workers, capacity: threads, faults: try FaultSet(parsing: faults),
      faultWindow: window,
      taskDuration: try duration().map { .fixed($0) }
        ?? .uniform(.milliseconds(10) ... .seconds(1)),
      otherFlows: try commandLine.flows(
        FlowCommandContext(
          resultsDirectory: commandLine.defaultResultsDirectory)
      ).filter { $0.name != flow.name })
    try await report(flow, invocation, rerunFlags: " --run-bodies") { seed in
      // What the bodies print goes to standard error, never among the JSON lines.
      var simulated: EngineSimulation.Report?
      let (_, lines) = await StdoutCapture.capture {
        simulated = await EngineSimulation.run(
          flow, seed: seed, options: options, scheduler: scheduler)
      }
      guard let report = simulated else {
        preconditionFailure("the simulation's body always returns a report")
      }
      for line in lines { invocation.output.write(line + "\n", .standardError) }
      return (report.simulation, report.result)
    }
  }

  /// The `--fault-window` as a duration.
  private var window: Duration { .milliseconds(Int64(faultWindow * 1000)) }

  /// The scheduler state machine: the real one, or with `--plant-bug forget-result` one that
  /// forgets every fifth result (to see the invariants catch it).
  private func scheduler(
    _ configuration: ClusterSchedulerStateMachine.Configuration
  ) -> any SimulatedClusterScheduler {
    let real = ClusterSchedulerStateMachine(configuration: configuration)
    return plantBug == nil ? real : ForgetfulClusterScheduler(real: real, nth: 5)
  }

  /// The `--task-duration`, if given.
  private func duration() throws -> Duration? {
    guard let text = taskDuration else { return nil }
    do {
      return try SimulationSeeds.duration(parsing: text)
    } catch {
      throw ValidationError(error.message)
    }
  }

  /// The seeds asked for.
  func seedList() throws -> [UInt64] {
    if let seed { return [seed] }
    guard let text = seeds else { return [] }
    do {
      return try SimulationSeeds.range(parsing: text)
    } catch {
      throw ValidationError(error.message)
    }
  }
}

import ArgumentParser
import FlowTesting
import Foundation

/// `flow simulate`: the `flow demo` workload on a simulated cluster under faults, one seed at a
/// time, deterministically.
struct SimulateCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "simulate",
    abstract: "Run the demo workload on a simulated cluster under faults, per seed.",
    discussion: """
      The real engine runs the demo flow (a plan task, then --tasks work tasks mapped over it,
      each retrying 3 times) with stand-in bodies on a simulated cluster. Each seed drives
      everything: the network, the faults, the workers' choices and the task outcomes, on a
      virtual clock. One JSON line per seed: seed, trace_hash, invariants ("ok"
      or the violation), simulated_seconds, events (then state, worker crashes and restarts,
      crashed attempts and the faults injected). The same seed always prints the same line.
      Exits with status 1 if any seed violated an invariant.
      Faults: none, all, or a comma-separated list of drop, duplicate, reorder, delay,
      partition, one-way-partition, crash, pause, slow. The cluster's links are TCP-like
      connections: a dropped frame breaks its connection, and duplicate and reorder do not
      apply to them.
      """
  )

  @Option(help: "One seed to simulate.")
  var seed: UInt64?

  @Option(help: "A range of seeds, A..B (inclusive) or A..<B.")
  var seeds: String?

  @Option(help: "How many workers.")
  var workers = 4

  @Option(help: "How many tasks in the demo flow.")
  var tasks = 50

  @Option(help: "Each work task's simulated duration (100ms, 2s); default: 200ms-2s at random.")
  var taskDuration: String?

  @Option(help: "Probability that a work task's attempt fails (each retries 3 times).")
  var failureRate = 0.05

  @Option(help: "Which faults to inject: none, all, or a comma-separated list.")
  var faults = "all"

  @Option(help: "Seconds of simulated time during which faults happen.")
  var faultWindow = 20.0

  @Option(help: .hidden)
  var plantBug: String?

  @Flag(help: "Measure the simulator's speed instead (JSON lines: events per wall second).")
  var benchmark = false

  func validate() throws {
    if benchmark { return }
    guard (seed == nil) != (seeds == nil) else {
      throw ValidationError("give exactly one of --seed S and --seeds A..B")
    }
    _ = try seedList()
    guard (1...1_000).contains(workers) else {
      throw ValidationError("--workers must be 1-1000, got \(workers)")
    }
    guard (1...1_000_000).contains(tasks) else {
      throw ValidationError("--tasks must be 1-1000000, got \(tasks)")
    }
    guard faultWindow >= 0, faultWindow <= 1e6 else {
      throw ValidationError("--fault-window must be 0-1000000 seconds, got \(faultWindow)")
    }
    _ = try duration()
    guard (0...1).contains(failureRate) else {
      throw ValidationError("--failure-rate must be between 0 and 1, got \(failureRate)")
    }
    if let plantBug, plantBug != "forget-result" {
      throw ValidationError("--plant-bug takes forget-result, got '\(plantBug)'")
    }
    do {
      _ = try FaultSet(parsing: faults)
    } catch {
      throw ValidationError(error.message)
    }
  }

  func run() async throws {
    if benchmark {
      print(SimulationBenchmark.kernel())
      print(await SimulationBenchmark.cluster(options: .init(workers: workers).with(tasks: tasks)))
      print(await SimulationBenchmark.scheduledDay(workers: 8))
      print(await SimulationBenchmark.scheduledDay(workers: 8, heartbeat: .seconds(5)))
      return
    }
    let options = ClusterSimulation.Options(
      workers: workers, flow: .simulationDemo(),
      standIns: StandInBodies(failureRate: failureRate, mapWidth: tasks),
      taskDuration: try duration().map { .fixed($0) }
        ?? .uniform(.milliseconds(200) ... .seconds(2)),
      faults: try FaultSet(parsing: faults),
      faultWindow: .milliseconds(Int64(faultWindow * 1000)))
    var violated = false
    for seed in try seedList() {
      let report =
        plantBug == nil
        ? await ClusterSimulation.run(seed: seed, options: options)
        : await ClusterSimulation.run(seed: seed, options: options) {
          ForgetfulClusterScheduler(real: .init(configuration: $0), nth: 5)
        }
      print(report.jsonLine)
      if !report.violations.isEmpty { violated = true }
    }
    if violated { throw ExitCode.failure }
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
  private func seedList() throws -> [UInt64] {
    if let seed { return [seed] }
    guard let text = seeds else { return [] }
    do {
      return try SimulationSeeds.range(parsing: text)
    } catch {
      throw ValidationError(error.message)
    }
  }
}

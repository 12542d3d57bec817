import ArgumentParser
import FlowSimulationBenchmark
import FlowTesting
import Foundation

/// `flow simulate`: FlowCLI's `simulate` command (the one every flow executable has) over the
/// `flow` binary's demo flows, which ``FlowCommand/main()`` hands the arguments; this command
/// itself only runs `flow simulate --benchmark`.
struct SimulateCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "simulate",
    abstract: "Run a demo flow on a simulated cluster under faults, per seed.",
    discussion: """
      The same command as every FlowCLI executable's `simulate` (see `flow simulate --help`):
      the real engine runs the flow (by default `flow-demo`, a plan task and --map-width work
      tasks mapped over it) with stand-in bodies on a simulated cluster, one JSON line per seed.
      With --benchmark it measures the simulator's speed instead (JSON lines: events per wall
      second).
      """
  )

  @Flag(help: "Measure the simulator's speed (JSON lines: events per wall second).")
  var benchmark = false

  @Option(help: "Benchmark: how many workers.")
  var workers = 4

  @Option(help: "Benchmark: how many work tasks in the demo flow.")
  var tasks = 50

  @Argument(parsing: .allUnrecognized, help: "FlowCLI's simulate options.")
  var arguments: [String] = []

  func validate() throws {
    guard (1...1_000).contains(workers) else {
      throw ValidationError("--workers must be 1-1000, got \(workers)")
    }
    guard (1...1_000_000).contains(tasks) else {
      throw ValidationError("--tasks must be 1-1000000, got \(tasks)")
    }
  }

  func run() async throws {
    guard benchmark else {
      let status = await DemoFlows.commandLine.execute(["simulate"] + arguments)
      if status != 0 { throw ExitCode(status) }
      return
    }
    print(SimulationBenchmark.kernel())
    print(await SimulationBenchmark.cluster(options: .init(workers: workers).with(tasks: tasks)))
    print(await SimulationBenchmark.scheduledDay(workers: 8))
    print(await SimulationBenchmark.scheduledDay(workers: 8, heartbeat: .seconds(5)))
  }
}

import ArgumentParser
import Foundation

/// The `flow` command: one subcommand per area (`cron`, `demo`, `simulate`, and `worker`, which
/// is FlowCLI's).
@main
struct FlowCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "flow",
    abstract: "Work with swift-flow schedules and flows.",
    subcommands: [CronCommand.self, WorkerCommand.self, DemoCommand.self, SimulateCommand.self]
  )

  /// Runs the command; `worker` goes to FlowCLI's command line whole (its options and help).
  static func main() async {
    let arguments = Array(CommandLine.arguments.dropFirst())
    if arguments.first == "worker" {
      Foundation.exit(await DemoFlows.commandLine.execute(arguments))
    }
    await main(nil)
  }
}

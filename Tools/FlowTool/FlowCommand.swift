import ArgumentParser
import FlowCLI
import Foundation

/// The `flow` command: one subcommand per area (`cron`, `demo`, and `worker` and `simulate`,
/// which are FlowCLI's).
@main
struct FlowCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "flow",
    abstract: "Work with swift-flow schedules and flows.",
    subcommands: [
      CronCommand.self, WorkerCommand.self, DemoCommand.self, SimulateCommand.self,
      RunsCommand.self, DatabaseCommand.self, ProjectsCommand.self, DeploymentsCommand.self,
      AgentsCommand.self, RunDeploymentCommand.self, ServerCommand.self,
    ]
  )

  /// Runs the command; `worker` and `simulate` (but for `simulate --benchmark`) go to FlowCLI's
  /// command line whole, with its options and help.
  static func main() async {
    let arguments = Array(CommandLine.arguments.dropFirst())
    if arguments.first == "worker"
      || (arguments.first == "simulate" && !arguments.contains("--benchmark"))
    {
      Foundation.exit(await DemoFlows.commandLine.execute(arguments))
    }
    await main(nil)
  }
}

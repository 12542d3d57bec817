import ArgumentParser
import FlowCLI

/// The `flow` command: one subcommand per area (`cron` today; `run`, `schedule`, `visualize`,
/// `worker`… later).
@main
struct FlowCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "flow",
    abstract: "Work with swift-flow schedules and flows.",
    subcommands: [
      CronCommand.self, WorkerCommand.self, DemoCommand.self, SimulateCommand.self,
      RunsCommand.self, DatabaseCommand.self,
    ]
  )
}

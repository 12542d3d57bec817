import ArgumentParser
import FlowCLI
import Foundation
import Logging

/// `flow worker`: FlowCLI's `worker` command (the one every flow executable has) over the `flow`
/// binary's demo flows; ``FlowCommand/main()`` hands it the arguments, this entry only lists it.
struct WorkerCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "worker",
    abstract: "Join a cluster scheduler and run its tasks (the demo flows of this binary).",
    discussion: """
      The same command as every FlowCLI executable's `worker`: see `flow worker --help`.
      """
  )

  @Argument(parsing: .allUnrecognized, help: "FlowCLI's worker options.")
  var arguments: [String] = []

  func run() async throws {
    let status = await DemoFlows.commandLine.execute(["worker"] + arguments)
    if status != 0 { throw ExitCode(status) }
  }
}

extension DemoFlows {
  /// The `flow` binary's demo flows as a FlowCLI command line, for the commands it shares with
  /// every flow executable.
  static let commandLine = FlowCommandLine(
    name: "flow", abstract: "The demo flows of the flow binary.", flows: { _ in all })
}

enum ToolLogging {
  /// A logger that writes to standard error at `level`.
  static func logger(_ label: String, level: String) -> Logger {
    var logger = Logger(label: label) { StreamLogHandler.standardError(label: $0) }
    logger.logLevel = Logger.Level(rawValue: level) ?? .warning
    return logger
  }
}

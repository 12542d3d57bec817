import ArgumentParser
import FlowScheduling

/// `flow cron explain EXPRESSION`: the expression in plain English.
struct CronExplainCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "explain",
    abstract: "Describe a cron expression in plain English."
  )

  @Argument(help: "The cron expression, quoted.")
  var expression: String

  func validate() throws {
    _ = try CronCommand.expression(expression)
  }

  func run() throws {
    print(try CronCommand.expression(expression).explanation)
  }
}

import ArgumentParser
import FlowScheduling
import Foundation

/// `flow cron`: cron expressions, as the schedules read them.
struct CronCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "cron",
    abstract: "Show when a cron expression fires, or what it means.",
    discussion: """
      Expressions have 5 fields (minute hour day-of-month month day-of-week) or 6 with seconds
      first. Fields take *, numbers, names (JAN-DEC, SUN-SAT), ranges (1-5), steps (*/5,
      1-30/2) and lists (1,15); day-of-month also takes L and LW, day-of-week 5L and MON#2.
      Quote the expression: flow cron next "0 9 * * MON-FRI".
      """,
    subcommands: [CronNextCommand.self, CronExplainCommand.self]
  )

  /// Parses `text`, turning a bad expression into a usage error with its message.
  static func expression(_ text: String) throws -> CronExpression {
    do {
      return try CronExpression(text)
    } catch {
      throw ValidationError(error.message)
    }
  }
}

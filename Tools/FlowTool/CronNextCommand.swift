import ArgumentParser
import FlowCore
import FlowScheduling
import Foundation

/// `flow cron next EXPRESSION`: the next fire times, one per line, with their UTC offsets.
struct CronNextCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "next",
    abstract: "Print the next fire times of a cron expression.",
    discussion: """
      One fire time a line, as ISO-8601 with the UTC offset in force then, e.g.
      2025-03-09T03:00:00-04:00. Changes to and from summer time are handled as Debian cron
      does: a fixed-time job whose local time is skipped runs at the first minute after the gap;
      one whose local time repeats runs once.
      """
  )

  @Argument(help: "The cron expression, quoted.")
  var expression: String

  @Option(name: [.customShort("z"), .long], help: "IANA time zone (default: this machine's).")
  var timezone: String?

  @Option(help: "Start after this ISO-8601 instant (default: now); no offset means --timezone.")
  var after: String?

  @Option(name: [.customShort("n"), .long], help: "How many fire times to print.")
  var count = 5

  func validate() throws {
    guard (1...10_000).contains(count) else {
      throw ValidationError("--count must be 1-10000, got \(count)")
    }
    _ = try inputs()  // so that a bad input is a usage error of this subcommand
  }

  func run() throws {
    let (expression, zone, start) = try inputs()
    let format = ISO8601OffsetFormat(timeZone: zone)
    let events = CronSchedule(expression, timeZone: zone).events(after: start, count: count)
    for event in events { print(format.string(from: event.date)) }
    if events.isEmpty {
      let whole = Date(timeIntervalSince1970: start.timeIntervalSince1970.rounded(.down))
      let message =
        "'\(expression.text)' does not fire within 50 years after \(format.string(from: whole))\n"
      FileHandle.standardError.write(Data(message.utf8))
      throw ExitCode.failure
    }
  }

  /// The expression, the zone and the instant to start after, or a usage error.
  private func inputs() throws -> (CronExpression, TimeZone, Date) {
    let expression = try CronCommand.expression(expression)
    let zone: TimeZone
    do {
      zone =
        try timezone.map { name throws(UnknownTimeZoneError) in
          try TimeZoneLookup.zone(named: name)
        } ?? .current
    } catch {
      throw ValidationError(error.description)
    }
    let format = ISO8601OffsetFormat(timeZone: zone)
    let start: Date
    do {
      start =
        try after.map { text throws(ISO8601ParseError) in try format.date(from: text) }
        ?? SystemWallClock().now()
    } catch {
      throw ValidationError("--after: \(error.message)")
    }
    return (expression, zone, start)
  }
}

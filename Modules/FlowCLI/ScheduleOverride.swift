import ArgumentParser
import FlowCore
import FlowScheduling
import Foundation

/// `schedule --cron EXPR` / `--interval DURATION` (with `--timezone`): a schedule that replaces
/// the flow's own, and the readable lines `schedule` prints before and after.
struct ScheduleOverride: ParsableArguments {
  @Option(
    help: ArgumentHelp(
      "Run on this cron expression instead of the flow's schedule (5 fields, or 6 with "
        + "seconds first), e.g. '*/15 * * * *'.", valueName: "expr"))
  var cron: String?

  @Option(
    help: ArgumentHelp(
      "Run at this interval instead of the flow's schedule: 500ms, 30s, 5m, 2h or 1d.",
      valueName: "duration"))
  var interval: String?

  @Option(
    help: ArgumentHelp(
      "The time zone of --cron or --interval (an IANA name such as Europe/Berlin; default UTC).",
      valueName: "zone"))
  var timezone: String?

  func validate() throws {
    if cron != nil, interval != nil {
      throw ValidationError("--cron and --interval both replace the flow's schedule: give one")
    }
    if timezone != nil, cron == nil, interval == nil {
      throw ValidationError("--timezone applies to --cron or --interval: give one of them")
    }
  }

  /// The schedule these options ask for, nil when they ask for none; a bad expression,
  /// duration or zone is a usage error naming what is wrong.
  func schedule() throws -> (any Schedule)? {
    var zone = TimeZone.gmt
    if let timezone {
      do {
        zone = try TimeZoneLookup.zone(named: timezone)
      } catch {
        throw ValidationError("--timezone: \(error)")
      }
    }
    if let cron {
      do {
        return try CronSchedule(cron, timeZone: zone)
      } catch {
        throw ValidationError("--cron '\(cron)': \(error.message)")
      }
    }
    if let interval { return IntervalSchedule.every(try Self.duration(interval), timeZone: zone) }
    return nil
  }

  /// `500ms`, `30s`, `5m`, `2h`, `1d` (a whole or decimal number, then the unit).
  static func duration(_ text: String) throws -> Duration {
    let units: [(String, Double)] = [
      ("ms", 0.001), ("s", 1), ("m", 60), ("h", 3600), ("d", 86_400),
    ]
    for (unit, seconds) in units where text.hasSuffix(unit) {
      let number = text.dropLast(unit.count)
      // "5ms" also ends in "s": only a number may come before the unit.
      guard let value = Double(number), value.isFinite else { continue }
      guard value > 0 else {
        throw ValidationError("--interval must be longer than zero, got '\(text)'")
      }
      return .milliseconds(Int64((value * seconds * 1000).rounded()))
    }
    throw ValidationError(
      "--interval takes a number and a unit (ms, s, m, h or d), e.g. 30s or 5m; got '\(text)'")
  }

  /// What `schedule` prints first: the schedule (said plainly for cron) and its next fire times.
  static func announcement(
    flow: String, schedule: any Schedule, overridden: Bool, now: Date, count: Int = 3
  ) -> String {
    var described = "\(schedule)"
    if let cron = schedule as? CronSchedule {
      described += ": " + cron.expression.explanation
    }
    var lines = [
      "Scheduling flow '\(flow)': \(described)"
        + (overridden ? " (from the command line, instead of the flow's own)" : "")
    ]
    let zone = (schedule as? CronSchedule)?.timeZone ?? (schedule as? IntervalSchedule)?.timeZone
    let format = ISO8601OffsetFormat(timeZone: zone ?? .gmt)
    // To the millisecond: an interval anchored at "now" would print binary fractions.
    let upcoming = schedule.events(after: now, count: count).map {
      format.string(
        from: Date(timeIntervalSince1970: ($0.date.timeIntervalSince1970 * 1000).rounded() / 1000))
    }
    if upcoming.isEmpty {
      lines.append("The schedule has no fire time after now: nothing will run.")
    } else {
      lines.append("Next fire times: " + upcoming.joined(separator: ", "))
    }
    return lines.joined(separator: "\n") + "\n"
  }

  /// What `schedule` prints last: what ran, how it ended and why the schedule stopped.
  static func report(_ summary: ScheduleRunnerSummary) -> String {
    let reasons: [ScheduleRunnerSummary.StopReason: String] = [
      .scheduleEnded: "the schedule has no more fire times",
      .maxRunsReached: "--max-runs was reached",
      .pausedAfterFailures: "too many runs failed in a row",
      .stopRequested: "a stop was requested (Ctrl-C or SIGTERM)",
      .cancelled: "it was cancelled",
    ]
    func count(_ n: Int, _ noun: String) -> String { "\(n) \(noun)\(n == 1 ? "" : "s")" }
    var text =
      "Schedule stopped because \(reasons[summary.stopReason] ?? summary.stopReason.name): "
      + "\(count(summary.runsStarted, "run")) started, \(summary.succeeded) succeeded, "
      + "\(summary.failed) failed, \(summary.cancelled) cancelled"
    if summary.skipped > 0 || summary.missed > 0 {
      text += "; \(count(summary.skipped, "fire time")) skipped, \(summary.missed) missed"
    }
    if let last = summary.lastFireDate {
      text += "; last fire time \(ISO8601OffsetFormat(timeZone: .gmt).string(from: last))"
    }
    return text + ".\n"
  }
}

import FlowCore
import FlowScheduling
import Foundation

extension DeploymentScheduleSpec {
  /// The stored specification as a schedule; throws an error naming the problem.
  public func makeSchedule() throws(DeploymentScheduleError) -> any Schedule {
    let zone = timeZone.flatMap(TimeZone.init(identifier:)) ?? .gmt
    switch kind {
    case "cron":
      do {
        return try CronSchedule(expression, timeZone: zone)
      } catch {
        throw DeploymentScheduleError(message: "the cron expression is invalid: \(error)")
      }
    case "interval":
      guard let seconds = intervalSeconds, seconds > 0, seconds.isFinite else {
        throw DeploymentScheduleError(
          message: "the interval '\(expression)' is not a positive number of seconds")
      }
      return IntervalSchedule(
        start: anchor ?? Date(timeIntervalSince1970: 0),
        interval: .milliseconds(Int64((seconds * 1000).rounded())))
    default:
      throw DeploymentScheduleError(
        message: "schedule kind '\(kind)' is unknown to this binary (it knows cron and interval)")
    }
  }
}

/// A stored schedule that cannot be used.
public struct DeploymentScheduleError: Error, Sendable, CustomStringConvertible {
  /// What is wrong.
  public let message: String

  /// The message.
  public var description: String { message }
}

extension DeploymentScheduleSpec {
  /// The specification of a flow's declared schedule, so that `deploy` registers the schedule
  /// the flow was written with; nil for a schedule a deployment cannot store (filters, dates,
  /// unions, an end, a multi-day interval kept at a wall-clock time in a time zone).
  public init?(declared schedule: any Schedule) {
    if let cron = schedule as? CronSchedule, cron.start == nil, cron.end == nil {
      let zone = cron.timeZone.identifier
      self = .cron(cron.expression.text, timeZone: ["GMT", "UTC"].contains(zone) ? nil : zone)
      return
    }
    if let interval = schedule as? IntervalSchedule, interval.end == nil {
      let fixedOffset = ["GMT", "UTC"].contains(interval.timeZone.identifier)
      // A whole-day interval in a zone with clock changes keeps its wall-clock time: a stored
      // interval counts plain seconds, so it cannot say that.
      guard fixedOffset || !interval.isWallClock else { return nil }
      let (whole, fraction) = interval.interval.components
      self = .interval(seconds: Double(whole) + Double(fraction) * 1e-18, anchor: interval.anchor)
      return
    }
    return nil
  }
}

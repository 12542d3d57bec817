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

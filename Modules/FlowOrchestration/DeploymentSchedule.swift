import FlowCore
import Foundation

/// What the scheduler service needs to know about one deployment: its schedule, how far back
/// missed fire times are still run, and the last fire time it already created a run for.
public struct DeploymentSchedule: Sendable {
  /// The deployment's ID.
  public let deploymentID: UUID
  /// When its runs are due.
  public let schedule: any Schedule
  /// Fire times older than this before now are not run (they are counted as missed).
  public let catchUpWindow: Duration
  /// The latest fire time that already has a run (from the store), if any.
  public let lastScheduled: Date?

  /// Creates a deployment's schedule.
  public init(
    deploymentID: UUID, schedule: any Schedule, catchUpWindow: Duration = .seconds(300),
    lastScheduled: Date? = nil
  ) {
    self.deploymentID = deploymentID
    self.schedule = schedule
    self.catchUpWindow = catchUpWindow
    self.lastScheduled = lastScheduled
  }
}

/// A fire time the scheduler service wants a run for. The store creates the run keyed by
/// (deployment, fire time), doing nothing when it exists: however many schedulers propose it,
/// there is one run.
public struct ScheduledFireTime: Sendable {
  /// The deployment.
  public let deploymentID: UUID
  /// The fire time (the run's scheduled start).
  public let date: Date
  /// Parameter defaults the schedule carries for this fire time.
  public let parameters: [String: any Sendable]

  /// Creates a fire time.
  public init(deploymentID: UUID, date: Date, parameters: [String: any Sendable] = [:]) {
    self.deploymentID = deploymentID
    self.date = date
    self.parameters = parameters
  }
}

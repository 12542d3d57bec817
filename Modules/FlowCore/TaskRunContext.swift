import Foundation

/// What a running task body can know about its run: names, IDs, attempt, clock and randomness.
///
/// Read it inside a task body as `TaskRunContext.current` (Prefect's `prefect.context`).
public struct TaskRunContext: Sendable {
  /// The flow's name.
  public let flowName: String
  /// The flow run's ID.
  public let flowRunID: UUID
  /// The task's name.
  public let taskName: String
  /// The task's unique slug in the flow (`name`, `name-2`…).
  public let taskSlug: String
  /// This task run's ID.
  public let taskRunID: UUID
  /// For a mapped child, its index.
  public let mapIndex: Int?
  /// The attempt number, from 1.
  public let attempt: Int
  /// The flow run's parameter values by name.
  public let parameters: [String: any Sendable]
  /// The run's clock, random source and IDs: use them instead of `Date()` or `.random`.
  public let environment: RunEnvironment

  /// Creates a context.
  public init(
    flowName: String, flowRunID: UUID, taskName: String, taskSlug: String, taskRunID: UUID,
    mapIndex: Int?, attempt: Int, parameters: [String: any Sendable], environment: RunEnvironment
  ) {
    self.flowName = flowName
    self.flowRunID = flowRunID
    self.taskName = taskName
    self.taskSlug = taskSlug
    self.taskRunID = taskRunID
    self.mapIndex = mapIndex
    self.attempt = attempt
    self.parameters = parameters
    self.environment = environment
  }

  /// The context of the task body running in the current Swift task, if any.
  @TaskLocal public static var current: TaskRunContext?
}

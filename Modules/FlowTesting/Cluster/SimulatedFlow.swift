import FlowCore
import Foundation

/// A flow as the simulated cluster runs it: named tasks with upstream dependencies, retries,
/// a simulated duration and a failure rate. No user code travels: like a real worker, a
/// simulated worker looks the task up by flow and task name.
public struct SimulatedFlow: Sendable {
  /// The flow's name.
  public var name: String
  /// The tasks; `upstream` indices point into this array and must come before the task.
  public var tasks: [SimulatedTask]

  /// A flow named `name` with `tasks`.
  public init(name: String, tasks: [SimulatedTask]) {
    self.name = name
    self.tasks = tasks
  }

  /// The `flow demo` workload: a `plan` task, then `count` independent `work[i]` tasks mapped
  /// over its output; each work attempt takes `duration`, fails with probability
  /// `failureRate`, and retries as `retries` says.
  public static func demo(
    tasks count: Int,
    duration: SimulatedTaskDuration = .distribution(
      .uniform(.milliseconds(200) ... .seconds(2))),
    failureRate: Double = 0.05, retries: RetryPolicy = .simulationDefault
  ) -> SimulatedFlow {
    let plan = SimulatedTask(name: "plan", duration: .fixed(.milliseconds(5)))
    let work = (0..<count).map { index in
      SimulatedTask(
        name: "work[\(index)]", upstream: [0], retries: retries, duration: duration,
        failureRate: failureRate)
    }
    return SimulatedFlow(name: "flow-demo", tasks: [plan] + work)
  }

  /// A layered DAG of `count` tasks: layers of 10, each task after the first layer depending
  /// on two tasks of the layer before (failures propagate as TriggerFailed).
  public static func layered(
    tasks count: Int,
    duration: SimulatedTaskDuration = .distribution(
      .uniform(.milliseconds(200) ... .seconds(2))),
    failureRate: Double = 0.05, retries: RetryPolicy = .simulationDefault
  ) -> SimulatedFlow {
    let width = 10
    let tasks = (0..<count).map { index in
      let upstream =
        index < width
        ? [] : [index - width, index - width + (index % width == width - 1 ? -1 : 1)]
      return SimulatedTask(
        name: "task-\(index)", upstream: upstream, retries: retries, duration: duration,
        failureRate: failureRate)
    }
    return SimulatedFlow(name: "layered", tasks: tasks)
  }
}

extension RetryPolicy {
  /// The simulated demo's retries: 3, from 100 ms doubling up to 5 s, ±20 % jitter.
  public static let simulationDefault = RetryPolicy(
    maxRetries: 3, delay: .milliseconds(100), backoff: .exponential(maxDelay: .seconds(5)),
    jitter: .proportional(0.2))
}

/// One task of a ``SimulatedFlow``.
public struct SimulatedTask: Sendable {
  /// The task's name (its slug in the flow).
  public var name: String
  /// Indices of the tasks whose results it needs; it runs when all succeeded (the
  /// `allSuccessful` trigger) and ends TriggerFailed when one did not.
  public var upstream: [Int]
  /// How it retries a failed attempt.
  public var retries: RetryPolicy
  /// How long an attempt takes on a worker.
  public var duration: SimulatedTaskDuration
  /// The probability that an attempt fails (decided from the seed, the run, the task and the
  /// attempt number, so it does not depend on which worker runs it).
  public var failureRate: Double

  /// Creates a task.
  public init(
    name: String, upstream: [Int] = [], retries: RetryPolicy = .none,
    duration: SimulatedTaskDuration = .distribution(.fixed(.milliseconds(10))),
    failureRate: Double = 0
  ) {
    self.name = name
    self.upstream = upstream
    self.retries = retries
    self.duration = duration
    self.failureRate = failureRate
  }
}

/// What a simulated task body knows: which run, task and attempt it is, and the simulation's
/// clock to sleep on.
public struct SimulatedTaskContext: Sendable {
  /// The flow run's number (from 1).
  public let run: Int
  /// The task's index in its flow.
  public let task: Int
  /// The attempt number (from 1).
  public let attempt: Int
  /// The simulation's clock: sleep on it to take simulated time.
  public let clock: SimulationClock
  /// How much slower the worker runs now (1: normal speed); multiply your sleeps by it.
  public let slowdown: Double
}

/// How long a simulated task attempt takes on a worker.
public struct SimulatedTaskDuration: Sendable {
  enum Kind: Sendable {
    case distribution(DurationDistribution)
    case body(@Sendable (SimulatedTaskContext) async throws -> Void)
  }
  let kind: Kind

  /// Drawn from `distribution` (use `.fixed` for a fixed duration), times the worker's slowdown.
  public static func distribution(_ distribution: DurationDistribution) -> SimulatedTaskDuration {
    SimulatedTaskDuration(kind: .distribution(distribution))
  }

  /// A fixed duration, times the worker's slowdown.
  public static func fixed(_ duration: Duration) -> SimulatedTaskDuration {
    .distribution(.fixed(duration))
  }

  /// As long as `body` takes, sleeping on the simulation's clock; a thrown error fails the
  /// attempt. Bodies run on the simulator's serial executor.
  public static func body(
    _ body: @escaping @Sendable (SimulatedTaskContext) async throws -> Void
  ) -> SimulatedTaskDuration {
    SimulatedTaskDuration(kind: .body(body))
  }

  var isBody: Bool {
    if case .body = kind { return true }
    return false
  }
}

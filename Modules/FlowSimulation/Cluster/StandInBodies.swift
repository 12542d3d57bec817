import FlowCore
import Foundation

/// How the stand-in bodies of ``Flow/withStandInBodies(_:)`` behave: each attempt fails with
/// probability `failureRate` (drawn from the attempt's seeded random source, so the seed
/// decides), and every output maps to `mapWidth` children.
public struct StandInBodies: Sendable {
  /// The probability that an attempt fails.
  public var failureRate: Double
  /// How many children a mapped task gets when it maps over a task's output or a parameter.
  public var mapWidth: Int

  /// Stand-ins that fail with probability `failureRate` and map to `mapWidth` children.
  public init(failureRate: Double = 0, mapWidth: Int = 4) {
    self.failureRate = failureRate
    self.mapWidth = mapWidth
  }
}

/// What a stand-in body returns: a value that maps to `width` children.
public struct StandInValue: Codable, Sendable, Hashable {
  /// How many children a mapped task over this value gets.
  public var width: Int

  /// A value that maps to `width` children.
  public init(width: Int) { self.width = width }
}

/// The error a stand-in body throws when the seed says its attempt fails.
public struct StandInFailure: Error, Codable, Sendable, CustomStringConvertible {
  /// The task's slug (and map index).
  public let task: String
  /// The failed attempt's number.
  public let attempt: Int

  /// `attempt 2 of 'work[3]' failed (simulated)`.
  public var description: String { "attempt \(attempt) of '\(task)' failed (simulated)" }
}

extension RetryPolicy {
  /// The simulated demo's retries: 3, from 100 ms doubling up to 5 s, ±20 % jitter.
  public static let simulationDefault = RetryPolicy(
    maxRetries: 3, delay: .milliseconds(100), backoff: .exponential(maxDelay: .seconds(5)),
    jitter: .proportional(0.2))
}

extension Flow {
  /// This flow's graph with every task body replaced by a stand-in: the same tasks, edges,
  /// mapping, retry policies, triggers, timeouts and reference tasks, run by the real engine,
  /// but each attempt only draws from its seeded random source whether it fails (with
  /// ``StandInBodies/failureRate``) and returns a ``StandInValue``. Parameters become constants
  /// (no values are needed); side effects are dropped: checkpoints, caches, result stores,
  /// state handlers and resource requests (simulated workers offer none). Attempts take
  /// simulated time on a simulated cluster (``ClusterSimulation/Options/taskDuration``).
  public func withStandInBodies(_ standIns: StandInBodies = .init()) -> Flow {
    let width = standIns.mapWidth
    let rate = standIns.failureRate
    let serializer = ResultSerializer.automatic(for: StandInValue.self)
    let nodes = graph.nodes
    func isStandIn(_ source: Int) -> Bool {
      guard source >= 0, source < nodes.count else { return false }
      switch nodes[source].kind {
      case .task, .parameter: return true
      case .constant: return false
      }
    }
    let split: @Sendable (any Sendable) -> [any Sendable] = { value in
      let count = (value as? StandInValue)?.width ?? 0
      return Array(repeating: StandInValue(width: width) as any Sendable, count: count)
    }
    return rewritingNodes(resultStore: nil, stateHandlers: []) { node in
      switch node.kind {
      case .constant:
        return nil
      case .parameter:
        return NodeRewrite(kind: .constant(StandInValue(width: width)), arguments: [])
      case .task(let config):
        let original = config.body
        var inputSerializers: [ResultSerializer?] = []
        var arguments: [GraphArgument] = []
        for (index, argument) in node.arguments.enumerated() {
          // An outcome input is made from the upstream's state: its type stays the original.
          guard isStandIn(argument.source), !argument.isOutcome else {
            inputSerializers.append(
              index < original.inputSerializers.count ? original.inputSerializers[index] : nil)
            arguments.append(argument)
            continue
          }
          inputSerializers.append(serializer)
          if case .mapped = argument.mode {
            arguments.append(argument.with(mode: .mapped(split: split)))
          } else {
            arguments.append(argument)
          }
        }
        let body = TaskBody(
          call: { _ in
            if rate > 0, let context = TaskRunContext.current,
              context.environment.random.nextUnitDouble() < rate
            {
              let label = context.mapIndex.map { "\(context.taskSlug)[\($0)]" } ?? context.taskSlug
              throw StandInFailure(task: label, attempt: context.attempt)
            }
            return StandInValue(width: width)
          },
          collect: { outputs in StandInValue(width: outputs.count) },
          outputType: "StandInValue", serializer: serializer, inputCount: original.inputCount,
          inputSerializers: inputSerializers)
        var options = config.options
        options.checkpoint = nil
        options.cache = nil
        options.stateHandlers = []
        options.resources = [:]
        return NodeRewrite(
          kind: .task(TaskConfig.make(body: body, options: options)), arguments: arguments)
      }
    }
  }
}

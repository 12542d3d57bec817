import FlowCore
import Foundation

/// Which task runs a batch session may start ahead, on the worker of the attempt they follow
/// (a cluster's conditional starts, ``RemoteTaskCall/runsAfter``): for each task, the one task
/// its machine would certainly start once it succeeds, with its output as the only input.
///
/// A task `b` follows `a` when `a`'s only downstream task is `b`, `b`'s only upstream task is
/// `a`, `b` takes `a`'s whole output as its one argument, and nothing but `a`'s success decides
/// whether and how `b` starts: its trigger is `allSuccessful`, it has no branch conditions, no
/// state handlers, no cache, checkpoint or result store, no timeout, and neither maps. Retries
/// and loops are fine: an attempt after the first is started the ordinary way.
struct RemoteStartsAhead: Sendable {
  /// The most task runs started ahead of one attempt: with it, one assignment message of the
  /// scheduler (at most 512 by default), so that a chain makes one round trip per 512 tasks
  /// (its worker runs them back to back and sends their results in batches meanwhile).
  static let depth = 511

  /// For each node, the node that follows it (nil: none).
  private let follower: [Int?]

  init(_ settings: RunSettings) {
    let graph = settings.graph
    var follower = [Int?](repeating: nil, count: graph.nodes.count)
    if !settings.resuming {
      for index in graph.nodes.indices {
        guard graph.nodes[index].task != nil, !graph.nodes[index].isMapped,
          graph.downstream[index].count == 1
        else { continue }
        let next = graph.downstream[index][0]
        if Self.follows(next, index, settings) { follower[index] = next }
      }
    }
    self.follower = follower
  }

  /// Whether task `node` may start ahead after `upstream`.
  private static func follows(_ node: Int, _ upstream: Int, _ settings: RunSettings) -> Bool {
    let graph = settings.graph
    let candidate = graph.nodes[node]
    guard let config = candidate.task, let source = graph.nodes[upstream].task,
      !candidate.isMapped, graph.upstream[node].elementsEqual([upstream]),
      candidate.conditions.isEmpty,
      candidate.arguments.count == 1, candidate.arguments[0].source == upstream,
      case .direct = candidate.arguments[0].mode, settings.resultPlans[node] == nil
    else { return false }
    let options = config.options
    guard options.trigger.runsWhenAllSucceeded, options.stateHandlers.isEmpty,
      options.timeout == nil, options.cache == nil, options.checkpoint == nil,
      !options.logStdout, config.body.inputCount == 1,
      let output = source.body.serializer, let input = config.body.inputSerializers.first,
      let input, output.typeName == input.typeName
    else { return false }
    return true
  }

  /// The nodes that follow `node`, in order, at most ``depth``.
  func chain(after node: Int) -> [Int] {
    var nodes: [Int] = []
    var current = node
    while nodes.count < Self.depth, let next = follower[current] {
      nodes.append(next)
      current = next
    }
    return nodes
  }

  /// True when no task has a follower (nothing ever starts ahead).
  var isEmpty: Bool { follower.allSatisfy { $0 == nil } }
}

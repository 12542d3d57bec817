import FlowCore
import FlowLogging
import FlowState
import Foundation

/// A finished flow run: its final state and every task run, with typed access to results.
public struct FlowRunResult: Sendable {
  /// The flow's name.
  public let flowName: String
  /// The flow run's ID.
  public let flowRunID: UUID
  /// The flow run's final state.
  public let state: RunState
  /// Every task run, in flow order; mapped children follow their parent in index order.
  public let taskRuns: [TaskRun]
  /// When the run started and finished, on the run's clock.
  public let startedAt: Date
  /// When the run reached its final state.
  public let finishedAt: Date
  /// Every log record of the run (the oldest dropped past the log's capacity).
  public var logs: [LogRecord] { log.records }
  /// How many records were dropped because the run's log was full.
  public var droppedLogCount: Int { log.droppedCount }
  let log: RunLog
  /// The final state of every node (tasks, parameters, constants), by node index.
  let nodeStates: NodeStates
  let slugs: NodeSlugs
  let flowID: UInt32

  /// The run of the task with this slug (for a mapped task, the parent; pass `mapIndex` for a
  /// child).
  public func taskRun(_ slug: String, mapIndex: Int? = nil) -> TaskRun? {
    taskRuns.first { $0.slug == slug && $0.mapIndex == mapIndex }
  }

  /// The children of a mapped task, in index order.
  public func mappedRuns(_ slug: String) -> [TaskRun] {
    taskRuns.filter { $0.slug == slug && $0.mapIndex != nil }
  }

  /// Final state kinds by task slug (the parent's for mapped tasks), for `flow.graphviz(states:)`.
  public var taskStates: [String: RunState.Kind] {
    Dictionary(
      taskRuns.filter { $0.mapIndex == nil }.map { ($0.slug, $0.state.kind) },
      uniquingKeysWith: { first, _ in first })
  }

  /// The run of the task `ref` points to (for a mapped task, the parent; pass `mapIndex` for a
  /// child); throws for a reference of another flow or one that is not a task.
  public func taskRun<Value>(of ref: Ref<Value>, mapIndex: Int? = nil) throws(ResultAccessError)
    -> TaskRun
  {
    let slug = try slug(of: ref)
    guard let run = taskRun(slug, mapIndex: mapIndex) else {
      throw ResultAccessError(
        "'\(slug)' has no task run\(mapIndex.map { " at map index \($0)" } ?? ""): "
          + "it is a parameter or a constant, or that map index does not exist")
    }
    return run
  }

  /// The children of the mapped task `ref` points to, in map-index order.
  public func mappedRuns<Value>(of ref: Ref<Value>) throws(ResultAccessError) -> [TaskRun] {
    mappedRuns(try slug(of: ref))
  }

  private func slug<Value>(of ref: Ref<Value>) throws(ResultAccessError) -> String {
    guard ref.flowID == flowID, Int(ref.node) < slugs.count else {
      throw ResultAccessError(
        "the reference belongs to another flow; ask the result of the flow that built it")
    }
    return slugs[Int(ref.node)]
  }

  /// The final state of the node `ref` points to (task, parameter or constant).
  public func state<Value>(of ref: Ref<Value>) throws(ResultAccessError) -> RunState {
    _ = try slug(of: ref)
    return nodeStates.state(of: Int(ref.node), in: taskRuns)
  }

  /// The typed value `ref` produced; throws when the task ended without one.
  public func result<Value>(of ref: Ref<Value>) throws(ResultAccessError) -> Value {
    let state = try state(of: ref)
    guard let value = state.result as? Value else {
      throw ResultAccessError(
        "'\(slugs[Int(ref.node)])' has no result: it ended \(state); "
          + "check `taskRuns` for the failure")
    }
    return value
  }
}

/// The final state of every node of a run, read from its task runs: no copy of a state per
/// node.
struct NodeStates: Sendable {
  /// For each node, the position of its run in the result's task runs (-1: none).
  let runPositions: [Int32]
  /// The states of nodes without a run (parameters, constants).
  let values: [Int: RunState]

  /// The state of `node` (Pending when it never finished).
  func state(of node: Int, in runs: [TaskRun]) -> RunState {
    let position = runPositions[node]
    if position >= 0 { return runs[Int(position)].state }
    return values[node] ?? .pending
  }
}

/// The slugs of a graph's nodes by node index, read from the graph (not copied per run).
struct NodeSlugs: Sendable {
  let graph: FlowGraph

  var count: Int { graph.nodes.count }

  subscript(node: Int) -> String { graph.nodes[node].slug }
}

/// Asking a flow run for a result it does not have.
public struct ResultAccessError: Error, Sendable, CustomStringConvertible {
  /// What is wrong.
  public let description: String

  init(_ description: String) { self.description = description }
}

import FlowState
import Foundation
import Synchronization

/// A type-erased task body: takes the inputs in order and returns the output.
package final class TaskBody: Sendable {
  /// Calls the typed body with `inputs`, whose types the typed graph guarantees.
  package let call: @Sendable ([any Sendable]) async throws -> any Sendable
  /// Turns the outputs of mapped children into the typed `[Output]` the downstream receives.
  package let collect: @Sendable ([any Sendable]) -> any Sendable
  /// The output type's name, for rendering and messages.
  package let outputType: String
  /// Persists the output; nil when the output type cannot be persisted.
  package let serializer: ResultSerializer?
  /// How many inputs the body takes.
  package let inputCount: Int
  /// Encodes and decodes each input when the task runs in another process (a cluster worker);
  /// nil for an input type that is not `Codable`.
  package let inputSerializers: [ResultSerializer?]

  package init(
    call: @escaping @Sendable ([any Sendable]) async throws -> any Sendable,
    collect: @escaping @Sendable ([any Sendable]) -> any Sendable, outputType: String,
    serializer: ResultSerializer?, inputCount: Int, inputSerializers: [ResultSerializer?] = []
  ) {
    self.call = call
    self.collect = collect
    self.outputType = outputType
    self.serializer = serializer
    self.inputCount = inputCount
    self.inputSerializers = inputSerializers
  }
}

/// One argument of a task node: which node feeds it, and how.
package struct GraphArgument: Sendable {
  package enum Mode: Sendable {
    /// The upstream output is passed as is.
    case direct
    /// The upstream output is a collection; each mapped child gets one element.
    case mapped(split: @Sendable (any Sendable) -> [any Sendable])
    /// Under `map`, the upstream output is passed whole to every child.
    case unmapped
    /// The upstream's outcome (its output, or how it failed or skipped), made by `wrap` from
    /// its final state (see `Ref.outcome`).
    case outcome(wrap: @Sendable (RunState) -> any Sendable)
    /// The outcomes of a mapped upstream's children by map index, made by `wrap` from their
    /// states (nil when the upstream did not map) and the upstream's own state.
    case outcomes(wrap: @Sendable ([RunState]?, RunState) -> any Sendable)
  }

  package let source: Int
  package let mode: Mode

  package var isMapped: Bool {
    if case .mapped = mode { return true }
    return false
  }

  /// True for an `Outcome` input (`ref.outcome`, `ref.outcomes()`).
  package var isOutcome: Bool {
    switch mode {
    case .outcome, .outcomes: true
    case .direct, .mapped, .unmapped: false
    }
  }
}

/// A condition a task was built under (`when(...)`): the node whose value decides, and whether
/// the value lets the branch run.
package struct BranchCondition: Sendable {
  /// The node whose value is tested.
  package let source: Int
  /// How the condition reads in messages: `when(model == "tree")`.
  package let label: String
  /// True when the value lets the branch run.
  package let holds: @Sendable (any Sendable) -> Bool

  package init(source: Int, label: String, holds: @escaping @Sendable (any Sendable) -> Bool) {
    self.source = source
    self.label = label
    self.holds = holds
  }
}

/// A node of a flow's graph: a task call, a constant or a parameter.
///
/// A value kept contiguously in the graph's node array (a run of a million tasks holds a
/// million of these): the builder appends them and the finished graph keeps that same array,
/// with no second object per node. A constant's value and a parameter's spec are boxed, so a
/// node stays small whatever they hold. On a hot path read stored fields in place
/// (`graph.nodes[i].task`, `.slug`): a copy of a node, or a computed property of one in an
/// array, retains every field.
package struct GraphNode: Sendable {
  package enum Kind: Sendable {
    case task(TaskConfig)
    indirect case constant(any Sendable)
    indirect case parameter(ParameterSpec)
  }

  package let kind: Kind
  /// The body and options of a task node; nil for parameters and constants. Stored (the
  /// `kind`'s payload once more), so that `graph.nodes[i].task` reads one field in place: a
  /// computed property of an array element copies the whole node first.
  package let task: TaskConfig?
  /// The task or parameter name; for a constant, a short rendering of its value.
  package let name: String
  /// Unique within the flow: `name`, `name-2`, `name-3`… (tasks only; others use `name`).
  package var slug: String
  package var arguments: [GraphArgument]
  /// Upstream-only dependencies: nodes that must finish first without passing a value.
  package var waitsFor: [Int]
  /// True for the result of `map`: one child run per element.
  package var isMapped: Bool
  /// The branch conditions the task was built under (`when`): all must hold for it to run.
  package var conditions: [BranchCondition] = []

  package init(
    kind: Kind, name: String, slug: String, arguments: [GraphArgument], waitsFor: [Int],
    isMapped: Bool, conditions: [BranchCondition] = []
  ) {
    self.kind = kind
    if case .task(let config) = kind { task = config } else { task = nil }
    self.name = name
    self.slug = slug
    self.arguments = arguments
    self.waitsFor = waitsFor
    self.isMapped = isMapped
    self.conditions = conditions
  }

  package var isTask: Bool { task != nil }

  package var body: TaskBody? { task?.body }

  package var options: TaskOptions? { task?.options }
}

/// A node while the flow is being built: the same value the finished graph keeps.
package typealias NodeDraft = GraphNode

/// A task definition's body and options, shared by reference by every call of it.
package final class TaskConfig: Sendable {
  package let body: TaskBody
  package let options: TaskOptions

  init(body: TaskBody, options: TaskOptions) {
    self.body = body
    self.options = options
  }
}

/// The finished, immutable graph of a flow with everything the engine derives from it once.
package final class FlowGraph: Sendable {
  /// The nodes, in the order they were added (the builder's array itself).
  package let nodes: [GraphNode]
  /// For each node, the distinct nodes it waits for (arguments and upstream-only).
  package let upstream: GraphEdges
  /// For each node, the distinct nodes that wait for it.
  package let downstream: GraphEdges
  /// Node indices in topological order, or nil when the graph has a cycle.
  package let order: [Int]?
  /// Problems found while building or checking the graph, in the order found.
  package let problems: [FlowValidationError]
  /// Parameter node index by parameter name.
  package let parameterIndex: [String: Int]
  /// The task nodes whose states decide the flow run's final state.
  package let referenceNodes: [Int]
  /// The builder's ID, carried by every reference made for this graph.
  package let flowID: UInt32
  /// The flow's record (graph document, version hash, parameter schema) once built, for the
  /// flow name it was built with (``Flow/record``).
  package let record = Mutex<FlowRecord?>(nil)

  package init(draft: GraphDraft, flowID: UInt32) {
    self.flowID = flowID
    let nodes = draft.nodes
    self.nodes = nodes
    // Both directions in flat arrays (see ``GraphEdges``): no array per node.
    var upstreamStarts: [Int32] = [0]
    upstreamStarts.reserveCapacity(nodes.count + 1)
    var upstreamTargets: [Int32] = []
    var downstreamCounts = [Int32](repeating: 0, count: nodes.count)
    var sources: [Int] = []
    for index in nodes.indices {
      if !nodes[index].arguments.isEmpty || !nodes[index].waitsFor.isEmpty {
        // A negative source is a foreign reference, recorded as a problem: it has no edge.
        sources.removeAll(keepingCapacity: true)
        for argument in nodes[index].arguments where argument.source >= 0 {
          sources.append(argument.source)
        }
        for source in nodes[index].waitsFor where source >= 0 { sources.append(source) }
        for source in Self.distinct(sources) {
          upstreamTargets.append(Int32(source))
          downstreamCounts[source] += 1
        }
      }
      upstreamStarts.append(Int32(upstreamTargets.count))
    }
    let upstream = GraphEdges(starts: upstreamStarts, targets: upstreamTargets)
    // Each node's downstream list in node order, as appending them one by one would give.
    var downstreamStarts = [Int32](repeating: 0, count: nodes.count + 1)
    for index in nodes.indices {
      downstreamStarts[index + 1] = downstreamStarts[index] + downstreamCounts[index]
    }
    var next = downstreamStarts
    var downstreamTargets = [Int32](repeating: 0, count: upstreamTargets.count)
    for index in nodes.indices {
      for source in upstream[index] {
        downstreamTargets[Int(next[source])] = Int32(index)
        next[source] += 1
      }
    }
    let downstream = GraphEdges(starts: downstreamStarts, targets: downstreamTargets)
    self.upstream = upstream
    self.downstream = downstream
    var problems = draft.problems
    switch TopologicalOrder.sort(nodes: nodes, upstream: upstream, downstream: downstream) {
    case .success(let order): self.order = order
    case .failure(let cycle):
      self.order = nil
      problems.append(cycle)
    }
    self.problems = problems
    parameterIndex = draft.parameterIndex
    // Resource clean-up tasks never decide the final state, and a task that only they wait
    // for still counts as terminal.
    let cleanup = draft.cleanupNodes
    referenceNodes =
      draft.referenceNodes
      ?? nodes.indices.filter { index in
        nodes[index].isTask && (cleanup.isEmpty || !cleanup.contains(index))
          && !downstream[index].contains {
            nodes[$0].isTask && (cleanup.isEmpty || !cleanup.contains($0))
          }
      }
  }

  /// `sources` without repeats, in order of first appearance.
  private static func distinct(_ sources: [Int]) -> [Int] {
    // Most nodes have a handful of inputs: a scan beats hashing them.
    if sources.count <= 16 {
      var distinct: [Int] = []
      distinct.reserveCapacity(sources.count)
      for source in sources where !distinct.contains(source) { distinct.append(source) }
      return distinct
    }
    var seen = Set<Int>(minimumCapacity: sources.count)
    return sources.filter { seen.insert($0).inserted }
  }
}

/// For each node of a graph, a list of nodes (its upstream or its downstream), all kept in one
/// flat array: two narrow offsets per node rather than an array of its own per node.
package struct GraphEdges: RandomAccessCollection, Sendable {
  /// Where each node's list starts in `targets`; one more entry, `targets.count`, at the end.
  private let starts: [Int32]
  private let targets: [Int32]

  init(starts: [Int32], targets: [Int32]) {
    self.starts = starts
    self.targets = targets
  }

  package var startIndex: Int { 0 }
  package var endIndex: Int { starts.count - 1 }

  /// The list of `node`, indexed from 0.
  package subscript(node: Int) -> Neighbors {
    Neighbors(
      targets: targets, start: Int(starts[node]), count: Int(starts[node + 1] - starts[node]))
  }

  /// One node's list: node indices, indexed from 0.
  package struct Neighbors: RandomAccessCollection, Sendable {
    fileprivate let targets: [Int32]
    fileprivate let start: Int
    package let count: Int

    package var startIndex: Int { 0 }
    package var endIndex: Int { count }

    package subscript(position: Int) -> Int { Int(targets[start + position]) }
  }
}

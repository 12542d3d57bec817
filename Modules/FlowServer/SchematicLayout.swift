import FlowCore
import Foundation
import Synchronization

/// A flow's DAG laid out in layers for drawing: parameters on top, each task one layer below
/// its lowest upstream node, a layer's nodes ordered by where their upstream nodes are, and a
/// layer wider than ``maximumRowWidth`` wrapped into several rows (so 10,000 independent tasks
/// make a tall page, not a 2-million-pixel-wide one). Mapped children are one node.
struct SchematicLayout: Sendable {
  struct Node: Sendable {
    /// The task's slug or the parameter's name.
    var slug: String
    /// What the node shows (the task's name).
    var name: String
    var isParameter: Bool
    var isMapped: Bool
    var x: Int
    var y: Int
  }

  struct Edge: Sendable {
    var from: Int
    var to: Int
  }

  static let nodeWidth = 168
  static let nodeHeight = 40
  static let horizontalGap = 16
  static let verticalGap = 44
  static let margin = 12
  static let maximumRowWidth = 24

  var nodes: [Node] = []
  var edges: [Edge] = []
  var width = 0
  var height = 0

  init(_ document: FlowGraphDocument) {
    var index: [String: Int] = [:]
    var layer: [Int] = []
    var upstream: [[Int]] = []
    for parameter in document.parameters where index[parameter.name] == nil {
      index[parameter.name] = nodes.count
      nodes.append(
        Node(
          slug: parameter.name, name: parameter.name, isParameter: true, isMapped: false, x: 0,
          y: 0))
      layer.append(0)
      upstream.append([])
    }
    // Tasks are recorded in the order they were added, so an upstream task comes first; a
    // reference to a later node (never expected) is drawn without raising the layer.
    for task in document.tasks where index[task.slug] == nil {
      let id = nodes.count
      index[task.slug] = id
      let sources = task.upstream.compactMap { index[$0] }
      nodes.append(
        Node(
          slug: task.slug, name: task.name, isParameter: false, isMapped: task.mapped, x: 0,
          y: 0))
      layer.append((sources.map { layer[$0] }.max() ?? -1) + 1)
      upstream.append(sources)
      for source in sources { edges.append(Edge(from: source, to: id)) }
    }
    // Layers, each ordered by the mean position of its nodes' upstream nodes.
    let layerCount = (layer.max() ?? -1) + 1
    var layers = [[Int]](repeating: [], count: layerCount)
    for id in nodes.indices { layers[layer[id]].append(id) }
    var order = [Double](repeating: 0, count: nodes.count)
    var y = Self.margin
    var widest = 0
    for ids in layers {
      let sorted = ids.enumerated().map { position, id -> (Double, Int, Int) in
        let sources = upstream[id]
        let key =
          sources.isEmpty
          ? Double(position) : sources.reduce(0.0) { $0 + order[$1] } / Double(sources.count)
        return (key, position, id)
      }.sorted { ($0.0, $0.1) < ($1.0, $1.1) }
      for (column, entry) in sorted.enumerated() {
        let id = entry.2
        let row = column / Self.maximumRowWidth
        let place = column % Self.maximumRowWidth
        order[id] = Double(column)
        nodes[id].x = Self.margin + place * (Self.nodeWidth + Self.horizontalGap)
        nodes[id].y = y + row * (Self.nodeHeight + Self.verticalGap)
        widest = max(widest, place + 1)
      }
      let rows = (sorted.count + Self.maximumRowWidth - 1) / Self.maximumRowWidth
      y += max(rows, 1) * (Self.nodeHeight + Self.verticalGap)
    }
    width = 2 * Self.margin + max(widest, 1) * (Self.nodeWidth + Self.horizontalGap)
    height = max(y - Self.verticalGap + Self.margin, 2 * Self.margin + Self.nodeHeight)
  }
}

/// What a schematic node shows of a run: the task's own state, or for a mapped task its
/// children's states counted.
struct NodeStates: Sendable {
  /// State by slug of the unmapped task runs (and mapped parents).
  var states: [String: String] = [:]
  /// Children's state counts by slug, for mapped tasks.
  var childCounts: [String: [String: Int]] = [:]

  init(_ taskRuns: [TaskRunRecord]) {
    for run in taskRuns {
      if run.mapIndex >= 0 {
        childCounts[run.slug, default: [:]][run.state, default: 0] += 1
      } else {
        states[run.slug] = run.state
      }
    }
  }

  /// The state a node is coloured by: for a mapped task with children, the most pressing of
  /// its children's states (failure, then activity, then success).
  func display(_ slug: String) -> String? {
    if let counts = childCounts[slug], !counts.isEmpty { return Self.summary(counts) }
    return states[slug]
  }

  static let precedence = [
    "Failed", "Crashed", "TimedOut", "TriggerFailed", "Running", "Retrying", "Paused",
    "Scheduled", "Pending", "Cancelled", "Skipped", "Cached", "Success", "Mapped",
  ]

  static func summary(_ counts: [String: Int]) -> String {
    for state in precedence where (counts[state] ?? 0) > 0 {
      return state == "Cached" || state == "Mapped" ? "Success" : state
    }
    return counts.keys.sorted().first ?? "Pending"
  }
}

/// Laid-out schematics by flow name and version: a version is a hash of the graph, so its
/// layout never changes, and the run page of a large flow need not read and lay out its graph
/// again for every view.
final class SchematicCache: Sendable {
  private let layouts = Mutex<[String: SchematicLayout]>([:])
  /// Flow versions kept at most.
  static let capacity = 32

  /// The layout of flow `name` at `version`, or nil when its graph was not recorded.
  func layout(name: String, version: String, store: any RunStoreBrowsing) async throws
    -> SchematicLayout?
  {
    let key = "\(version) \(name)"
    if let known = layouts.withLock({ $0[key] }) { return known }
    guard let flow = try await store.flow(name: name, version: version),
      let document = FlowGraphDocument(json: flow.graphJSON)
    else { return nil }
    let layout = SchematicLayout(document)
    layouts.withLock { layouts in
      if layouts.count >= Self.capacity { layouts.removeAll() }
      layouts[key] = layout
    }
    return layout
  }
}

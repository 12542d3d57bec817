/// Kahn's algorithm over the graph, stable in insertion order; reports a cycle by its tasks.
enum TopologicalOrder {
  static func sort(nodes: [GraphNode], upstream: GraphEdges, downstream: GraphEdges)
    -> Result<[Int], FlowValidationError>
  {
    var remaining = upstream.map(\.count)
    var order: [Int] = []
    order.reserveCapacity(nodes.count)
    var ready = remaining.indices.filter { remaining[$0] == 0 }
    var cursor = 0
    // `ready` only grows; the cursor walks it, so nodes come out in a stable order.
    while cursor < ready.count {
      let node = ready[cursor]
      cursor += 1
      order.append(node)
      for next in downstream[node] {
        remaining[next] -= 1
        if remaining[next] == 0 { ready.append(next) }
      }
    }
    guard order.count < nodes.count else { return .success(order) }
    let cycle = findCycle(among: Set(remaining.indices.filter { remaining[$0] > 0 }), upstream)
    let names = cycle.map { nodes[$0].slug }
    return .failure(
      FlowValidationError(
        code: .cycle, culprits: names,
        message:
          "the flow's graph has a cycle: \((names + [names[0]]).joined(separator: " → ")); "
          + "remove one of these dependencies (an `.after(...)` usually closes the loop)"))
  }

  /// Walks upstream from a node left over by Kahn's algorithm until a node repeats.
  private static func findCycle(among stuck: Set<Int>, _ upstream: GraphEdges) -> [Int] {
    var path: [Int] = []
    var position: [Int: Int] = [:]
    var node = stuck.min()!
    while position[node] == nil {
      position[node] = path.count
      path.append(node)
      node = upstream[node].first { stuck.contains($0) }!
    }
    // The path walked upstream; reverse it so the cycle reads in data-flow order.
    return Array(path[position[node]!...].reversed())
  }
}

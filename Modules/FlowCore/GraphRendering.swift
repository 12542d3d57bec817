import FlowState

extension Flow {
  /// The graph as Graphviz DOT, without running anything; with `states` (by task slug), each
  /// task is filled with its state's colour (Prefect's `flow.visualize(flow_state=...)`).
  public func graphviz(states: [String: RunState.Kind] = [:]) -> String {
    var lines = ["digraph \(quoted(name)) {", "  rankdir=TB;", "  node [fontname=\"Helvetica\"];"]
    for (index, node) in graph.nodes.enumerated() {
      var attributes = ["label=\(quoted(label(node)))"]
      switch node.kind {
      case .task: attributes.append("shape=box")
      case .parameter: attributes.append("shape=ellipse, style=dashed")
      case .constant: attributes.append("shape=plaintext")
      }
      if let kind = states[node.slug], node.isTask {
        attributes.append("style=filled, fillcolor=\(quoted(Self.colour(kind)))")
        attributes[0] = "label=\(quoted("\(label(node))\n\(kind.name)"))"
      }
      lines.append("  n\(index) [\(attributes.joined(separator: ", "))];")
    }
    for (target, source, style) in edges() {
      let attributes: String
      switch style {
      case .data: attributes = ""
      case .mapped: attributes = " [label=\"mapped\", style=bold]"
      case .unmapped: attributes = " [label=\"unmapped\"]"
      case .waits: attributes = " [style=dashed]"
      }
      lines.append("  n\(source) -> n\(target)\(attributes);")
    }
    lines.append("}")
    return lines.joined(separator: "\n") + "\n"
  }

  /// The graph as a Mermaid flowchart, optionally coloured by task states (by slug).
  public func mermaid(states: [String: RunState.Kind] = [:]) -> String {
    var lines = ["flowchart TD"]
    for (index, node) in graph.nodes.enumerated() {
      var text = label(node).replacingOccurrences(of: "\"", with: "#quot;")
      if let kind = states[node.slug], node.isTask { text += "<br/>\(kind.name)" }
      switch node.kind {
      case .task: lines.append("  n\(index)[\"\(text)\"]")
      case .parameter: lines.append("  n\(index)([\"\(text)\"])")
      case .constant: lines.append("  n\(index)>\"\(text)\"]")
      }
    }
    for (target, source, style) in edges() {
      switch style {
      case .data: lines.append("  n\(source) --> n\(target)")
      case .mapped: lines.append("  n\(source) ==>|mapped| n\(target)")
      case .unmapped: lines.append("  n\(source) -->|unmapped| n\(target)")
      case .waits: lines.append("  n\(source) -.-> n\(target)")
      }
    }
    let used = Set(graph.nodes.filter(\.isTask).compactMap { states[$0.slug] })
    for kind in RunState.Kind.all where used.contains(kind) {
      lines.append("  classDef \(kind.name) fill:\(Self.colour(kind))")
      let members = graph.nodes.indices.filter {
        graph.nodes[$0].isTask && states[graph.nodes[$0].slug] == kind
      }
      lines.append("  class \(members.map { "n\($0)" }.joined(separator: ",")) \(kind.name)")
    }
    return lines.joined(separator: "\n") + "\n"
  }

  /// The fill colour for a state kind (green for success, red for failure…).
  public static func colour(_ kind: RunState.Kind) -> String {
    switch kind {
    case .success, .mapped: "#28a745"
    case .cached: "#66cc99"
    case .skipped: "#cccccc"
    case .failed, .crashed: "#dc3545"
    case .timedOut: "#ff8c00"
    case .triggerFailed: "#e0a0a0"
    case .cancelled: "#6c757d"
    case .paused: "#f0e68c"
    case .running, .retrying: "#1e90ff"
    default: "#ffffff"
    }
  }

  private enum EdgeStyle { case data, mapped, unmapped, waits }

  private func edges() -> [(target: Int, source: Int, style: EdgeStyle)] {
    let all = graph.nodes.enumerated().flatMap { target, node in
      node.arguments.map { argument -> (Int, Int, EdgeStyle) in
        switch argument.mode {
        case .direct, .outcome, .outcomes: (target, argument.source, .data)
        case .mapped: (target, argument.source, .mapped)
        case .unmapped: (target, argument.source, .unmapped)
        }
      } + node.waitsFor.map { (target, $0, .waits) }
    }
    return all.filter { $0.1 >= 0 }  // foreign references have no edge
  }

  private func label(_ node: GraphNode) -> String {
    switch node.kind {
    case .task: node.isMapped ? "\(node.slug) (mapped)" : node.slug
    case .parameter(let spec): "\(spec.name): \(spec.typeName)"
    case .constant: node.name
    }
  }

  private func quoted(_ text: String) -> String {
    "\""
      + text.replacingOccurrences(of: "\\", with: "\\\\")
      .replacingOccurrences(of: "\"", with: "\\\"")
      .replacingOccurrences(of: "\n", with: "\\n") + "\""
  }
}

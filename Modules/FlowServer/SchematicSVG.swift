import FlowCore
import Foundation

/// The schematic as inline SVG: one `<g class="node s-STATE">` per node (`data-slug` names
/// it, so the page's script recolours it from the live stream), edges as curves behind.
enum SchematicSVG {
  static func render(_ layout: SchematicLayout, states: NodeStates) -> HTML {
    var text = ""
    text.reserveCapacity(layout.nodes.count * 420 + layout.edges.count * 90)
    text +=
      "<svg class=\"schematic\" xmlns=\"http://www.w3.org/2000/svg\" width=\"\(layout.width)\" "
      + "height=\"\(layout.height)\" viewBox=\"0 0 \(layout.width) \(layout.height)\" "
      + "role=\"img\" aria-label=\"The flow's schematic\"><g class=\"edges\">"
    let w = SchematicLayout.nodeWidth
    let h = SchematicLayout.nodeHeight
    for edge in layout.edges {
      let from = layout.nodes[edge.from]
      let to = layout.nodes[edge.to]
      let x1 = from.x + w / 2
      let y1 = from.y + h
      let x2 = to.x + w / 2
      let y2 = to.y
      let middle = (y1 + y2) / 2
      text += "<path d=\"M\(x1) \(y1)C\(x1) \(middle) \(x2) \(middle) \(x2) \(y2)\"/>"
    }
    text += "</g>"
    for (id, node) in layout.nodes.enumerated() {
      let state = node.isParameter ? "Parameter" : (states.display(node.slug) ?? "Pending")
      let counts = states.childCounts[node.slug] ?? [:]
      text += "<g class=\"node s-\(Layout.cssState(state))"
      text += node.isMapped ? " mapped" : ""
      text += node.isParameter ? " parameter" : ""
      text += "\" id=\"node-\(id)\" data-slug=\""
      HTML.escape(node.slug, into: &text)
      text += "\" data-state=\""
      HTML.escape(state, into: &text)
      text += "\""
      if node.isMapped {
        text += " data-counts=\""
        HTML.escape(ServerJSON.encode(counts), into: &text)
        text += "\""
      }
      text += " transform=\"translate(\(node.x),\(node.y))\"><title>"
      HTML.escape(
        node.isParameter ? "parameter \(node.name)" : "\(node.slug): \(state)", into: &text)
      text += "</title>"
      if node.isParameter {
        text += "<rect width=\"\(w)\" height=\"\(h)\" rx=\"20\"/>"
      } else {
        text += "<rect width=\"\(w)\" height=\"\(h)\" rx=\"4\"/>"
      }
      text += "<text x=\"8\" y=\"17\">"
      HTML.escape(shortened(node.isMapped ? "\(node.name) [map]" : node.name), into: &text)
      text += "</text><text class=\"detail\" x=\"8\" y=\"32\">"
      HTML.escape(
        node.isParameter ? "parameter" : countsLabel(state: state, counts: counts), into: &text)
      text += "</text></g>"
    }
    text += "</svg>"
    return HTML(trusted: text)
  }

  /// `Success` or, for mapped children, `12 Success · 1 Failed`.
  static func countsLabel(state: String, counts: [String: Int]) -> String {
    guard !counts.isEmpty else { return state }
    return counts.sorted { $0.value > $1.value || ($0.value == $1.value && $0.key < $1.key) }
      .map { "\($0.value) \($0.key)" }.joined(separator: " · ")
  }

  /// At most 24 characters, with an ellipsis.
  static func shortened(_ text: String) -> String {
    text.count <= 24 ? text : String(text.prefix(23)) + "…"
  }
}

/// One bar per task-run attempt, packed into lanes (a lane holds attempts that did not
/// overlap), so the timeline's height follows the run's concurrency, not its task count.
struct Timeline: Sendable {
  struct Bar: Sendable {
    var label: String
    var attempt: Int
    var start: Date
    var end: Date
    var state: String
    var lane: Int
    /// Still running: the page's script extends it until its task's next transition.
    var isOpen = false
  }

  var bars: [Bar] = []
  var lanes = 0
  var start: Date
  var end: Date
  static let maximumLanes = 64

  /// The attempts of `transitions`: each `→ Running` starts one, the subject's next transition
  /// ends it with its state; an attempt still running ends at `now`.
  init(transitions: [TransitionRecord], runStart: Date, runEnd: Date?, now: Date) {
    struct Key: Hashable {
      let slug: String
      let mapIndex: Int
    }
    var open: [Key: (start: Date, attempt: Int)] = [:]
    var attempts: [Key: Int] = [:]
    var found: [Bar] = []
    found.reserveCapacity(transitions.count / 2)
    for transition in transitions {
      guard let slug = transition.slug else { continue }
      let key = Key(slug: slug, mapIndex: transition.mapIndex)
      if let started = open.removeValue(forKey: key) {
        let label = transition.mapIndex >= 0 ? "\(slug)[\(transition.mapIndex)]" : slug
        found.append(
          Bar(
            label: label, attempt: started.attempt, start: started.start, end: transition.time,
            state: transition.to, lane: 0))
      }
      if transition.to == "Running" {
        let attempt = attempts[key, default: 0] + 1
        attempts[key] = attempt
        open[key] = (transition.time, attempt)
      }
    }
    let end = runEnd ?? now
    for (key, started) in open {
      let label = key.mapIndex >= 0 ? "\(key.slug)[\(key.mapIndex)]" : key.slug
      found.append(
        Bar(
          label: label, attempt: started.attempt, start: started.start,
          end: max(end, started.start),
          state: "Running", lane: 0, isOpen: true))
    }
    found.sort { ($0.start, $0.end) < ($1.start, $1.end) }
    var laneEnds: [Date] = []
    for index in found.indices {
      let bar = found[index]
      if let free = laneEnds.firstIndex(where: { $0 <= bar.start }) {
        found[index].lane = free
        laneEnds[free] = bar.end
      } else if laneEnds.count < Self.maximumLanes {
        found[index].lane = laneEnds.count
        laneEnds.append(bar.end)
      } else {
        let earliest = laneEnds.indices.min { laneEnds[$0] < laneEnds[$1] } ?? 0
        found[index].lane = earliest
        laneEnds[earliest] = max(laneEnds[earliest], bar.end)
      }
    }
    bars = found
    lanes = laneEnds.count
    start = min(runStart, found.first?.start ?? runStart)
    self.end = max(end, found.map(\.end).max() ?? end)
  }

  static let width = 1000
  static let laneHeight = 14

  func svg() -> HTML {
    let span = max(end.timeIntervalSince(start), 0.001)
    let height = max(lanes, 1) * Self.laneHeight + 20
    // Times are milliseconds: the start's since 1970, the bars' since the start, so that the
    // page's script can add and stretch bars as transitions arrive.
    let origin = Int64((start.timeIntervalSince1970 * 1000).rounded())
    var text =
      "<svg class=\"timeline\" id=\"timeline\" xmlns=\"http://www.w3.org/2000/svg\" "
      + "width=\"\(Self.width)\" height=\"\(height)\" viewBox=\"0 0 \(Self.width) \(height)\" "
      + "data-start=\"\(origin)\" data-span=\"\(Int64((span * 1000).rounded()))\" role=\"img\" "
      + "aria-label=\"Timeline of the task-run attempts\">"
    text.reserveCapacity(bars.count * 220 + 1000)
    // One buffer, appended piece by piece: no temporary string per attribute (10,000 bars).
    let scale = Double(Self.width) / span
    for bar in bars {
      let startOffset = bar.start.timeIntervalSince(start)
      let length = bar.end.timeIntervalSince(bar.start)
      text += "<rect class=\"s-"
      text += Layout.cssState(bar.state)
      text += "\" data-label=\""
      HTML.escape(bar.label, into: &text)
      text += "\" data-s=\""
      text += String(Int64((startOffset * 1000).rounded()))
      text += "\" data-e=\""
      text += String(Int64((bar.end.timeIntervalSince(start) * 1000).rounded()))
      text += "\" data-lane=\""
      text += String(bar.lane)
      text += bar.isOpen ? "\" data-open=\"1\" x=\"" : "\" x=\""
      Layout.appendFixed(startOffset * scale, digits: 1, to: &text)
      text += "\" y=\""
      text += String(bar.lane * Self.laneHeight)
      text += "\" width=\""
      Layout.appendFixed(max(length * scale, 1), digits: 1, to: &text)
      text += "\" height=\"\(Self.laneHeight - 2)\"><title>"
      HTML.escape(bar.label, into: &text)
      text += " attempt "
      text += String(bar.attempt)
      text += ": "
      HTML.escape(bar.state, into: &text)
      text += ", "
      text += Layout.duration(length)
      text += "</title></rect>"
    }
    let axis = max(lanes, 1) * Self.laneHeight + 14
    text += "<text class=\"axis-start\" x=\"0\" y=\"\(axis)\">0 s</text>"
    text +=
      "<text class=\"axis-end\" x=\"\(Self.width)\" y=\"\(axis)\" text-anchor=\"end\">"
      + "\(HTML.escaped(Layout.duration(span)))</text></svg>"
    return HTML(trusted: text)
  }
}

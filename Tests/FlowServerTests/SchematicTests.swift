import FlowCore
import Foundation
import Testing

@testable import FlowServer

@Suite("The schematic and the timeline")
struct SchematicTests {
  static func document(tasks: [String], parameters: [String] = []) throws -> FlowGraphDocument {
    let parameterJSON = parameters.map {
      "{\"name\":\"\($0)\",\"type\":\"Int\",\"defaultJSON\":\"1\"}"
    }
    let json =
      "{\"name\":\"f\",\"tasks\":[\(tasks.joined(separator: ","))],"
      + "\"parameters\":[\(parameterJSON.joined(separator: ","))],\"referenceTasks\":[]}"
    return try #require(FlowGraphDocument(json: json))
  }

  static func node(_ slug: String, _ upstream: [String] = [], mapped: Bool = false) -> String {
    "{\"name\":\"\(slug)\",\"slug\":\"\(slug)\",\"mapped\":\(mapped),"
      + "\"upstream\":\(upstream.description)}"
  }

  @Test("layers follow the edges: every edge goes down")
  func layersFollowEdges() throws {
    let layout = SchematicLayout(
      try Self.document(
        tasks: [
          Self.node("a", ["p"]), Self.node("b", ["a"]), Self.node("c", ["a"]),
          Self.node("d", ["b", "c"]),
        ], parameters: ["p"]))
    #expect(layout.nodes.count == 5)
    #expect(layout.edges.count == 5)
    for edge in layout.edges { #expect(layout.nodes[edge.from].y < layout.nodes[edge.to].y) }
  }

  @Test("10,000 independent tasks wrap into rows and render in one SVG")
  func tenThousandTasks() throws {
    let tasks = (0..<10_000).map { Self.node("t\($0)") }
    let layout = SchematicLayout(try Self.document(tasks: tasks))
    #expect(layout.nodes.count == 10_000)
    #expect(layout.width <= SchematicLayout.maximumRowWidth * 200)
    #expect(Set(layout.nodes.map { "\($0.x),\($0.y)" }).count == 10_000)
    let svg = SchematicSVG.render(layout, states: NodeStates([]))
    #expect(svg.text.components(separatedBy: "<g class=\"node").count - 1 == 10_000)
  }

  @Test("mapped children are one node with counts per state, coloured by the most pressing")
  func mappedChildrenCollapse() {
    let id = UUID()
    func run(_ index: Int, _ state: String) -> TaskRunRecord {
      TaskRunRecord(
        flowRunID: id, slug: "square", mapIndex: index, taskRunID: nil, state: state,
        message: nil, attempts: 1, crashedAttempts: 0, startedAt: nil, endedAt: nil,
        resultLocation: nil, position: 1)
    }
    let states = NodeStates(
      [run(-1, "Mapped"), run(0, "Success"), run(1, "Failed"), run(2, "Success")])
    #expect(states.childCounts["square"] == ["Success": 2, "Failed": 1])
    #expect(states.display("square") == "Failed")
    #expect(
      SchematicSVG.countsLabel(state: "Failed", counts: ["Success": 2, "Failed": 1])
        == "2 Success · 1 Failed")
  }

  @Test("the timeline has one bar per attempt, packed into lanes by overlap")
  func timelineLanes() {
    let id = UUID()
    let t0 = Date(timeIntervalSince1970: 1000)
    func transition(_ seq: Int64, _ slug: String, _ to: String, _ at: Double) -> TransitionRecord {
      TransitionRecord(
        flowRunID: id, sequence: seq, slug: slug, mapIndex: -1, from: "", to: to,
        time: t0.addingTimeInterval(at), message: nil)
    }
    let timeline = Timeline(
      transitions: [
        transition(1, "a", "Running", 0), transition(2, "b", "Running", 0.5),
        transition(3, "a", "Retrying", 1), transition(4, "a", "Running", 2),
        transition(5, "b", "Success", 2.5), transition(6, "a", "Success", 3),
      ], runStart: t0, runEnd: t0.addingTimeInterval(3), now: t0.addingTimeInterval(3))
    #expect(timeline.bars.count == 3)
    #expect(timeline.lanes == 2)
    #expect(timeline.bars.map(\.attempt).sorted() == [1, 1, 2])
    #expect(timeline.bars.first { $0.label == "a" && $0.attempt == 1 }?.state == "Retrying")
  }
}

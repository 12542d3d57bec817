import FlowCore
import FlowExecutors
import FlowState
import FlowTesting
import Foundation
import Synchronization
import Testing

@Suite("Graphs coloured by a run", .timeLimit(.minutes(1)))
struct VisualizationTests {
  /// The DOT line of the node labelled `slug`.
  private static func line(for slug: String, in dot: String) -> String? {
    dot.split(separator: "\n").map(String.init).first { $0.contains("label=\"\(slug)\\n") }
  }

  @Test("graphviz(run:) fills each task with its state's colour")
  func graphvizColours() async throws {
    let ok = task("ok") { () -> Int in 1 }
    let bad = task("bad") { (_: Int) throws -> Int in throw Boom() }
    let after = task("after") { (x: Int) in x }
    let flow = Flow("coloured") { after(bad(ok())) }
    let result = try await flow.run(environment: testEnvironment())
    let dot = flow.graphviz(run: result)

    let okLine = try #require(Self.line(for: "ok", in: dot))
    #expect(okLine.contains("fillcolor=\"\(Flow.colour(.success))\""))
    #expect(okLine.contains("\\nSuccess"))
    let badLine = try #require(Self.line(for: "bad", in: dot))
    #expect(badLine.contains("fillcolor=\"\(Flow.colour(.failed))\""))
    #expect(badLine.contains("\\nFailed"))
    let afterLine = try #require(Self.line(for: "after", in: dot))
    #expect(afterLine.contains("fillcolor=\"\(Flow.colour(.triggerFailed))\""))
    #expect(Flow.colour(.success) != Flow.colour(.failed))
    #expect(dot.contains("#dc3545"))
    #expect(dot.contains("#28a745"))

    // Without a run, nothing is filled.
    #expect(!flow.graphviz().contains("fillcolor"))
  }

  @Test("mermaid(run:) classes tasks by state")
  func mermaidClasses() async throws {
    let ok = task("ok") { () -> Int in 1 }
    let bad = task("bad") { () throws -> Int in throw Boom() }
    let flow = Flow("coloured") {
      ok()
      bad()
    }
    let result = try await flow.run(environment: testEnvironment())
    let chart = flow.mermaid(run: result)
    #expect(chart.contains("classDef Success fill:\(Flow.colour(.success))"))
    #expect(chart.contains("classDef Failed fill:\(Flow.colour(.failed))"))
    #expect(chart.contains("ok<br/>Success"))
    #expect(chart.contains("bad<br/>Failed"))
  }
}

import FlowCore
import FlowState
import Testing

@Suite("Rendering a flow as Graphviz DOT and Mermaid")
struct RenderingTests {
  /// A parameter, a task, a constant, a mapped task with an unmapped argument, a string literal
  /// and an `.after` edge.
  private func sampleFlow() -> Flow {
    let load = task("load") { (n: Int) in Array(0..<n) }
    let scale = task("scale") { (x: Int, factor: Double) in Double(x) * factor }
    let report = task("report") { (xs: [Double], title: String) in "\(title): \(xs)" }
    let cleanup = task("cleanup") { () in }
    return Flow("render") {
      let n = Parameter("n", default: 3)
      let xs = load(n)
      let factor = Ref<Double>.constant(2.5)
      let scaled = scale.map(xs, unmapped(factor))
      let summary = report(scaled, "total")
      cleanup().after(summary)
    }
  }

  @Test("DOT of the sample flow")
  func graphviz() {
    let expected = #"""
      digraph "render" {
        rankdir=TB;
        node [fontname="Helvetica"];
        n0 [label="n: Int", shape=ellipse, style=dashed];
        n1 [label="load", shape=box];
        n2 [label="2.5", shape=plaintext];
        n3 [label="scale (mapped)", shape=box];
        n4 [label="total", shape=plaintext];
        n5 [label="report", shape=box];
        n6 [label="cleanup", shape=box];
        n0 -> n1;
        n1 -> n3 [label="mapped", style=bold];
        n2 -> n3 [label="unmapped"];
        n3 -> n5;
        n4 -> n5;
        n5 -> n6 [style=dashed];
      }

      """#
    #expect(sampleFlow().graphviz() == expected)
  }

  @Test("Mermaid of the sample flow")
  func mermaid() {
    let expected = #"""
      flowchart TD
        n0(["n: Int"])
        n1["load"]
        n2>"2.5"]
        n3["scale (mapped)"]
        n4>"total"]
        n5["report"]
        n6["cleanup"]
        n0 --> n1
        n1 ==>|mapped| n3
        n2 -->|unmapped| n3
        n3 --> n5
        n4 --> n5
        n5 -.-> n6

      """#
    #expect(sampleFlow().mermaid() == expected)
  }

  @Test("rendering with empty states is rendering without states")
  func emptyStates() {
    let flow = sampleFlow()
    #expect(flow.graphviz(states: [:]) == flow.graphviz())
    #expect(flow.mermaid(states: [:]) == flow.mermaid())
  }

  @Test("DOT with states fills tasks and adds the state to the label; parameters stay plain")
  func graphvizWithStates() {
    let states: [String: RunState.Kind] = [
      "n": .success, "load": .success, "scale": .mapped, "report": .failed,
    ]
    let expected = #"""
      digraph "render" {
        rankdir=TB;
        node [fontname="Helvetica"];
        n0 [label="n: Int", shape=ellipse, style=dashed];
        n1 [label="load\nSuccess", shape=box, style=filled, fillcolor="#28a745"];
        n2 [label="2.5", shape=plaintext];
        n3 [label="scale (mapped)\nMapped", shape=box, style=filled, fillcolor="#28a745"];
        n4 [label="total", shape=plaintext];
        n5 [label="report\nFailed", shape=box, style=filled, fillcolor="#dc3545"];
        n6 [label="cleanup", shape=box];
        n0 -> n1;
        n1 -> n3 [label="mapped", style=bold];
        n2 -> n3 [label="unmapped"];
        n3 -> n5;
        n4 -> n5;
        n5 -> n6 [style=dashed];
      }

      """#
    #expect(sampleFlow().graphviz(states: states) == expected)
  }

  @Test("Mermaid with states adds the state to the label and one classDef/class pair per kind")
  func mermaidWithStates() {
    let states: [String: RunState.Kind] = [
      "n": .failed, "load": .success, "scale": .mapped, "report": .success, "cleanup": .skipped,
      "unknown": .crashed,
    ]
    let expected = #"""
      flowchart TD
        n0(["n: Int"])
        n1["load<br/>Success"]
        n2>"2.5"]
        n3["scale (mapped)<br/>Mapped"]
        n4>"total"]
        n5["report<br/>Success"]
        n6["cleanup<br/>Skipped"]
        n0 --> n1
        n1 ==>|mapped| n3
        n2 -->|unmapped| n3
        n3 --> n5
        n4 --> n5
        n5 -.-> n6
        classDef Success fill:#28a745
        class n1,n5 Success
        classDef Mapped fill:#28a745
        class n3 Mapped
        classDef Skipped fill:#cccccc
        class n6 Skipped

      """#
    #expect(sampleFlow().mermaid(states: states) == expected)
  }

  @Test("states are matched by slug, so repeated calls can differ")
  func statesBySlug() {
    let step = task("step") { () in 0 }
    let flow = Flow("slugs") {
      step()
      step()
    }
    let states: [String: RunState.Kind] = ["step": .success, "step-2": .timedOut]
    let expected = #"""
      digraph "slugs" {
        rankdir=TB;
        node [fontname="Helvetica"];
        n0 [label="step\nSuccess", shape=box, style=filled, fillcolor="#28a745"];
        n1 [label="step-2\nTimedOut", shape=box, style=filled, fillcolor="#ff8c00"];
      }

      """#
    #expect(flow.graphviz(states: states) == expected)
    #expect(
      flow.mermaid(states: states)
        == "flowchart TD\n  n0[\"step<br/>Success\"]\n  n1[\"step-2<br/>TimedOut\"]\n"
        + "  classDef Success fill:#28a745\n  class n0 Success\n"
        + "  classDef TimedOut fill:#ff8c00\n  class n1 TimedOut\n")
  }

  @Test("quotes, backslashes and newlines in names are escaped")
  func quoting() {
    let greet = task(#"greet "you""#) { (s: String) in s }
    let flow = Flow(#"say "hi" \ bye"#) {
      greet(.constant(#"a"b"#))
    }
    let dot = #"""
      digraph "say \"hi\" \\ bye" {
        rankdir=TB;
        node [fontname="Helvetica"];
        n0 [label="a\"b", shape=plaintext];
        n1 [label="greet \"you\"", shape=box];
        n0 -> n1;
      }

      """#
    #expect(flow.graphviz() == dot)
    let mermaid = #"""
      flowchart TD
        n0>"a#quot;b"]
        n1["greet #quot;you#quot;"]
        n0 --> n1

      """#
    #expect(flow.mermaid() == mermaid)
    #expect(
      flow.graphviz(states: [#"greet "you""#: .cancelled]).contains(
        ##"n1 [label="greet \"you\"\nCancelled", shape=box, style=filled, fillcolor="#6c757d"];"##))
  }

  @Test("a newline in a task name becomes \\n in DOT")
  func newlineInName() {
    let twoLines = task("two\nlines") { () in 0 }
    let flow = Flow("newline") { twoLines() }
    #expect(flow.graphviz().contains(#"n0 [label="two\nlines", shape=box];"#))
  }

  @Test(
    "a constant's label is its value, shortened to 21 characters and ... past 24",
    arguments: [
      ("short", "short"),
      (String(repeating: "a", count: 24), String(repeating: "a", count: 24)),
      (String(repeating: "b", count: 25), String(repeating: "b", count: 21) + "..."),
      (String(repeating: "c", count: 100), String(repeating: "c", count: 21) + "..."),
    ])
  func constantLabels(value: String, label: String) {
    let echo = task("echo") { (s: String) in s }
    let flow = Flow("constants") { echo(.constant(value)) }
    #expect(flow.mermaid().hasPrefix("flowchart TD\n  n0>\"\(label)\"]\n"))
  }

  @Test(
    "fill colours by state kind",
    arguments: [
      (RunState.Kind.success, "#28a745"), (.mapped, "#28a745"), (.cached, "#66cc99"),
      (.skipped, "#cccccc"), (.failed, "#dc3545"), (.crashed, "#dc3545"),
      (.timedOut, "#ff8c00"), (.triggerFailed, "#e0a0a0"), (.cancelled, "#6c757d"),
      (.paused, "#f0e68c"), (.running, "#1e90ff"), (.retrying, "#1e90ff"),
      (.pending, "#ffffff"), (.scheduled, "#ffffff"),
    ])
  func colours(kind: RunState.Kind, colour: String) {
    #expect(Flow.colour(kind) == colour)
  }
}

import FlowCore
import FlowState
import Testing

@Suite("Building a flow graph")
struct GraphBuildingTests {
  @Test("the build closure runs exactly once, at construction")
  func closureRunsOnce() throws {
    var runs = 0
    let flow = Flow("once") { runs += 1 }
    #expect(runs == 1)
    #expect(flow.name == "once")
    #expect(flow.tasks.isEmpty)
    #expect(flow.parameters.isEmpty)
    #expect(flow.referenceTasks.isEmpty)
    #expect(throws: Never.self) { try flow.validate() }
    #expect(try flow.topologicalOrder() == [])
  }

  @Test("calling a task inside a flow adds a node and runs no body")
  func callingAddsNodeWithoutRunning() async throws {
    let counter = CallCounter()
    let double = task("double") { (x: Int) in
      counter.increment()
      return x * 2
    }
    let flow = Flow("build-only") {
      let n = Parameter("n", default: 4)
      double(double(n))
    }
    #expect(counter.value == 0)
    #expect(flow.tasks.count == 2)
    #expect(flow.tasks.map(\.name) == ["double", "double"])
    // The counter itself works: running the body directly increments it.
    #expect(try await double.run(21) == 42)
    #expect(counter.value == 1)
  }

  @Test("mapping a task inside a flow runs no body either")
  func mappingRunsNoBody() {
    let counter = CallCounter()
    let square = task("square") { (x: Int) in
      counter.increment()
      return x * x
    }
    let flow = Flow("map-only") { square.map(.constant([1, 2, 3])) }
    #expect(counter.value == 0)
    #expect(flow.tasks.map(\.slug) == ["square"])
    #expect(flow.tasks.map(\.isMapped) == [true])
  }

  @Test("literal String, Int, Double, Bool and nil arguments become constant nodes")
  func literalsBecomeConstants() {
    let describe = task("describe") { (label: String, count: Int, rate: Double, on: Bool) in
      "\(label) \(count) \(rate) \(on)"
    }
    let orZero = task("or-zero") { (x: Int?) in x ?? 0 }
    let flow = Flow("literals") {
      describe("label", 3, 2.5, true)
      orZero(nil)
    }
    #expect(flow.parameters.isEmpty)
    #expect(flow.tasks.map(\.slug) == ["describe", "or-zero"])
    // A constant is listed by its rendered value.
    #expect(flow.tasks.map(\.upstream) == [["label", "3", "2.5", "true"], ["nil"]])
    let expected = """
      digraph "literals" {
        rankdir=TB;
        node [fontname="Helvetica"];
        n0 [label="label", shape=plaintext];
        n1 [label="3", shape=plaintext];
        n2 [label="2.5", shape=plaintext];
        n3 [label="true", shape=plaintext];
        n4 [label="describe", shape=box];
        n5 [label="nil", shape=plaintext];
        n6 [label="or-zero", shape=box];
        n0 -> n4;
        n1 -> n4;
        n2 -> n4;
        n3 -> n4;
        n5 -> n6;
      }

      """
    #expect(flow.graphviz() == expected)
  }

  @Test("`.constant(_:)` makes a constant node of any Sendable value")
  func explicitConstant() {
    let sum = task("sum") { (xs: [Int]) in xs.reduce(0, +) }
    let flow = Flow("constant") { sum(.constant([1, 2, 3])) }
    #expect(flow.tasks.map(\.slug) == ["sum"])
    #expect(flow.tasks[0].upstream.count == 1)
    #expect(flow.mermaid() == "flowchart TD\n  n0>\"[1, 2, 3]\"]\n  n1[\"sum\"]\n  n0 --> n1\n")
  }

  @Test("repeated calls of one definition get the slugs name, name-2, name-3")
  func slugsForRepeatedCalls() {
    let inc = task("inc") { (x: Int) in x + 1 }
    let flow = Flow("slugs") {
      let start = Parameter("start", default: 0)
      inc(inc(inc(start)))
    }
    #expect(flow.tasks.map(\.name) == ["inc", "inc", "inc"])
    #expect(flow.tasks.map(\.slug) == ["inc", "inc-2", "inc-3"])
    #expect(flow.tasks.map(\.upstream) == [["start"], ["inc"], ["inc-2"]])
  }

  @Test("slugs count per name, independently for each definition")
  func slugsPerName() {
    let a = task("a") { () in 1 }
    let b = task("b") { () in 2 }
    let flow = Flow("interleaved") {
      a()
      b()
      a()
      b()
      a()
    }
    #expect(flow.tasks.map(\.slug) == ["a", "b", "a-2", "b-2", "a-3"])
  }

  @Test("a task named like another call's slug still gets a unique slug")
  func slugsStayUnique() {
    let x = task("x") { () in 1 }
    let x2 = task("x-2") { () in 2 }
    let flow = Flow("slug-clash") {
      x()
      x()
      x2()
    }
    let slugs = flow.tasks.map(\.slug)
    #expect(flow.tasks.map(\.name) == ["x", "x", "x-2"])
    #expect(Set(slugs).count == 3, "\(slugs)")
    #expect(slugs[0] == "x")
    #expect(slugs[1] == "x-2")
    #expect(slugs[2].hasPrefix("x-2"))
  }

  @Test("slugs stay unique whichever of the clashing tasks comes first")
  func slugsStayUniqueReversed() {
    let x = task("x") { () in 1 }
    let x2 = task("x-2") { () in 2 }
    let flow = Flow("slug-clash") {
      x2()
      x()
      x()
      x()
    }
    let slugs = flow.tasks.map(\.slug)
    #expect(Set(slugs).count == 4, "\(slugs)")
    #expect(slugs[0] == "x-2")
    #expect(slugs[1] == "x")
  }

  @Test("a constant input is listed upstream by its rendered value")
  func constantUpstream() {
    let inc = task("inc") { (x: Int) in x + 1 }
    let flow = Flow("constant-upstream") {
      inc(3)
      inc(.constant(41))
    }
    #expect(flow.tasks.map(\.upstream) == [["3"], ["41"]])
  }

  @Test("upstream lists arguments then `.after` dependencies, each once")
  func upstreamDeduplicates() {
    let make = task("make") { () in 1 }
    let pair = task("pair") { (x: Int, y: Int) in x + y }
    let flow = Flow("upstream") {
      let first = make()
      let second = make()
      pair(first, first).after(second, first)
    }
    let info = flow.tasks.first { $0.slug == "pair" }
    #expect(info?.upstream == ["make", "make-2"])
    #expect(info?.isMapped == false)
  }

  @Test("`.after` adds an upstream-only dependency and returns the same reference")
  func afterAddsDependency() {
    let produce = task("produce") { () in 7 }
    let audit = task("audit") { () in "audited" }
    let consume = task("consume") { (x: Int) in x }
    let flow = Flow("after") {
      let checked = audit()
      let value = produce().after(checked)
      consume(value)
    }
    #expect(flow.tasks.map(\.slug) == ["audit", "produce", "consume"])
    #expect(flow.tasks.map(\.upstream) == [[], ["audit"], ["produce"]])
  }

  @Test("a mapped call is one task node marked as mapped; unmapped arguments are upstream too")
  func mappedCall() {
    let load = task("load") { (n: Int) in Array(0..<n) }
    let scale = task("scale") { (x: Int, factor: Double) in Double(x) * factor }
    let total = task("total") { (xs: [Double]) in xs.reduce(0, +) }
    let flow = Flow("map") {
      let factor = Parameter("factor", default: 1.5)
      total(scale.map(load(3), unmapped(factor)))
    }
    #expect(flow.tasks.map(\.slug) == ["load", "scale", "total"])
    #expect(flow.tasks.map(\.isMapped) == [false, true, false])
    #expect(flow.tasks[1].upstream == ["load", "factor"])
    #expect(flow.tasks[2].upstream == ["scale"])
    #expect(throws: Never.self) { try flow.validate() }
  }

  @Test("by default the reference tasks are the tasks no other task depends on")
  func defaultReferenceTasks() {
    let source = task("source") { () in 1 }
    let left = task("left") { (x: Int) in x }
    let right = task("right") { (x: Int) in x }
    let alone = task("alone") { () in "alone" }
    let gate = task("gate") { () in 0 }
    let last = task("last") { () in 0 }
    let flow = Flow("terminal") {
      let s = source()
      left(s)
      right(s)
      alone()
      let g = gate()
      last().after(g)
    }
    #expect(flow.referenceTasks == ["left", "right", "alone", "last"])
  }

  @Test("a parameter that waits for a task does not stop that task being terminal")
  func parameterDownstreamIsNotATask() {
    let setup = task("setup") { () in 0 }
    let flow = Flow("param-after") {
      let s = setup()
      Parameter("n", default: 1).after(s)
    }
    #expect(flow.referenceTasks == ["setup"])
  }

  @Test("setReferenceTasks overrides the default, in the given order; the last call wins")
  func setReferenceTasksOverrides() {
    let a = task("a") { () in 1 }
    let b = task("b") { (x: Int) in "\(x)" }
    let c = task("c") { (s: String) in s.count }
    let flow = Flow("refs") {
      let ra = a()
      let rb = b(ra)
      let rc = c(rb)
      setReferenceTasks(rc)
      setReferenceTasks(rb, ra)
    }
    #expect(flow.referenceTasks == ["b", "a"])
    #expect(throws: Never.self) { try flow.validate() }
  }

  @Test("setReferenceTasks uses slugs for repeated calls")
  func referenceTasksUseSlugs() {
    let step = task("step") { () in 1 }
    let flow = Flow("refs-slugs") {
      step()
      let second = step()
      step()
      setReferenceTasks(second)
    }
    #expect(flow.referenceTasks == ["step-2"])
  }

  @Test("setReferenceTasks with no tasks restores the default, the terminal tasks (Prefect 1)")
  func emptyReferenceTasks() {
    let step = task("step") { () in 1 }
    let flow = Flow("no-refs") {
      let first = step()
      step().after(first)
      setReferenceTasks(first)
      setReferenceTasks()
    }
    #expect(flow.referenceTasks == ["step-2"])
  }

  @Test("a flow built inside another flow's closure collects its own graph")
  func nestedFlows() throws {
    let a = task("a") { () in 1 }
    let b = task("b") { () in 2 }
    let c = task("c") { () in 3 }
    var inner: Flow?
    let outer = Flow("outer") {
      a()
      inner = Flow("inner") { b() }
      c()
    }
    #expect(outer.tasks.map(\.slug) == ["a", "c"])
    #expect(try #require(inner).tasks.map(\.slug) == ["b"])
    #expect(throws: Never.self) { try outer.validate() }
  }

  @Test("a flow keeps its state handlers")
  func stateHandlers() throws {
    let flow = Flow("handled", stateHandlers: [{ $0.new }, { $0.old }]) {}
    #expect(flow.stateHandlers.count == 2)
    let change = StateChange(subject: "handled", old: .pending, new: .running)
    #expect(try flow.stateHandlers[0](change).kind == .running)
    #expect(try flow.stateHandlers[1](change).kind == .pending)
  }
}

import FlowCore
import Testing

@Suite("Flow validation")
struct ValidationTests {
  @Test("a valid flow passes validation")
  func validFlow() {
    let make = task("make") { () in 1 }
    let inc = task("inc") { (x: Int) in x + 1 }
    let flow = Flow("ok") { inc(make()) }
    #expect(throws: Never.self) { try flow.validate() }
  }

  // MARK: Cycles

  @Test("a cycle closed with `.after` is reported with its path, by validate and topologicalOrder")
  func twoTaskCycle() throws {
    let first = task("a") { () in 1 }
    let second = task("b") { (x: Int) in x }
    let flow = Flow("loop") {
      let a = first()
      let b = second(a)
      a.after(b)
    }
    let error = try #require(throws: FlowValidationError.self) { try flow.validate() }
    #expect(error.code == .cycle)
    #expect(error.culprits == ["b", "a"])
    #expect(
      error.message
        == "the flow's graph has a cycle: b → a → b; remove one of these dependencies (an "
        + "`.after(...)` usually closes the loop)")
    #expect(error.description == error.message)
    let orderError = try #require(throws: FlowValidationError.self) {
      try flow.topologicalOrder()
    }
    #expect(orderError == error)
    let resolveError = try #require(throws: FlowValidationError.self) {
      try flow.resolveParameters([:])
    }
    #expect(resolveError == error)
  }

  @Test("culprits of a cycle are the tasks on it, not the tasks that feed it or hang off it")
  func longerCycle() throws {
    let source = task("source") { () in 0 }
    let a = task("a") { (x: Int) in x }
    let b = task("b") { (x: Int) in x }
    let c = task("c") { (x: Int) in x }
    let sink = task("sink") { (x: Int) in x }
    let flow = Flow("loop3") {
      let s = source()
      let ra = a(s)
      let rb = b(ra)
      let rc = c(rb)
      ra.after(rc)
      sink(rc)
    }
    let error = try #require(throws: FlowValidationError.self) { try flow.validate() }
    #expect(error.code == .cycle)
    #expect(Set(error.culprits) == ["a", "b", "c"])
    #expect(error.culprits == ["b", "c", "a"])
    #expect(error.message.hasPrefix("the flow's graph has a cycle: b → c → a → b; "))
  }

  @Test("a task waiting for itself is a one-task cycle")
  func selfCycle() throws {
    let lonely = task("lonely") { () in 1 }
    let flow = Flow("self") {
      let l = lonely()
      l.after(l)
    }
    let error = try #require(throws: FlowValidationError.self) { try flow.topologicalOrder() }
    #expect(error.code == .cycle)
    #expect(error.culprits == ["lonely"])
    #expect(error.message.contains("lonely → lonely;"))
  }

  @Test("a cycle through repeated calls names the calls by slug")
  func cycleUsesSlugs() throws {
    let inc = task("inc") { (x: Int) in x + 1 }
    let flow = Flow("slug-loop") {
      let first = inc(0)
      let second = inc(first)
      first.after(second)
    }
    let error = try #require(throws: FlowValidationError.self) { try flow.validate() }
    #expect(error.culprits == ["inc-2", "inc"])
    #expect(error.message.contains("inc-2 → inc → inc-2"))
  }

  // MARK: Names

  @Test("two different definitions with one name are a duplicateTaskName problem")
  func duplicateTaskName() throws {
    let loadCSV = task("load") { () in "csv" }
    let loadJSON = task("load") { () in "json" }
    let flow = Flow("dupe") {
      loadCSV()
      loadJSON()
    }
    let error = try #require(throws: FlowValidationError.self) { try flow.validate() }
    #expect(error.code == .duplicateTaskName)
    #expect(error.culprits == ["load"])
    #expect(
      error.message
        == "two different task definitions are both named 'load'; workers find a task by its "
        + "name, so give each definition a unique name (calling one definition several times is "
        + "fine: its runs get the slugs 'load', 'load-2', …)")
    // The slugs still count per name.
    #expect(flow.tasks.map(\.slug) == ["load", "load-2"])
  }

  @Test("calling one definition (or a copy of it) several times is fine")
  func sameDefinitionTwice() {
    let load = task("load") { () in 1 }
    let copy = load
    let flow = Flow("same") {
      load()
      load()
      copy()
    }
    #expect(throws: Never.self) { try flow.validate() }
    #expect(flow.tasks.map(\.slug) == ["load", "load-2", "load-3"])
  }

  @Test("two parameters with one name are a duplicateParameter problem, whatever their types")
  func duplicateParameter() throws {
    let use = task("use") { (a: Int, b: String) in "\(a)\(b)" }
    let flow = Flow("params") {
      let first = Parameter("size", default: 1)
      let second = Parameter("size", default: "large")
      use(first, second)
    }
    let error = try #require(throws: FlowValidationError.self) { try flow.validate() }
    #expect(error.code == .duplicateParameter)
    #expect(error.culprits == ["size"])
    #expect(
      error.message
        == "two parameters are named 'size'; parameter names must be unique in a flow: declare "
        + "it once and pass that reference to every task that needs it")
  }

  @Test("validate reports the first problem found: a build problem before a cycle")
  func firstProblemWins() throws {
    let a = task("a") { () in 1 }
    let b = task("b") { (x: Int) in x }
    let flow = Flow("two-problems") {
      let ra = a()
      let rb = b(ra)
      ra.after(rb)
      _ = Parameter("p", default: 1)
      _ = Parameter("p", default: 2)
    }
    let error = try #require(throws: FlowValidationError.self) { try flow.validate() }
    #expect(error.code == .duplicateParameter)
  }

  // MARK: References

  // A foreign reference passed as a task's argument currently crashes the build of the flow;
  // see KnownBugTests.

  @Test("a foreign reference in `.after` is a foreignReference problem naming the waiting task")
  func foreignReferenceInAfter() throws {
    let make = task("make") { () in 1 }
    let check = task("check") { () in true }
    var escaped: Ref<Int>?
    let first = Flow("first") { escaped = make() }
    let ref = try #require(escaped)
    let second = Flow("second") {
      check()
      check().after(ref)
    }
    #expect(throws: Never.self) { try first.validate() }
    let error = try #require(throws: FlowValidationError.self) { try second.validate() }
    #expect(error.code == .foreignReference)
    #expect(error.culprits == ["check-2"])
    #expect(
      error.message
        == "'check-2' was given a reference built in another flow; a flow's tasks can only take "
        + "references made inside the same `Flow { ... }` closure")
    // The foreign reference adds no dependency.
    #expect(second.tasks.map(\.upstream) == [[], []])
  }

  @Test("a foreign reference in setReferenceTasks is a foreignReference problem")
  func foreignReferenceInSetReferenceTasks() throws {
    let make = task("make") { () in 1 }
    var escaped: Ref<Int>?
    _ = Flow("first") { escaped = make() }
    let ref = try #require(escaped)
    let flow = Flow("references") {
      let local = make()
      setReferenceTasks(local, ref)
    }
    let error = try #require(throws: FlowValidationError.self) { try flow.validate() }
    #expect(error.code == .foreignReference)
    #expect(error.culprits == ["setReferenceTasks"])
    #expect(flow.referenceTasks == ["make"])
  }

  @Test("unmapped(...) passed to a plain call is an unmappedOutsideMap problem naming the task")
  func unmappedOutsideMap() throws {
    let total = task("total") { (xs: [Int]) in xs.reduce(0, +) }
    let flow = Flow("unmapped") {
      let n = Parameter("n", default: 1)
      total(unmapped(n))
    }
    let error = try #require(throws: FlowValidationError.self) { try flow.validate() }
    #expect(error.code == .unmappedOutsideMap)
    #expect(error.culprits == ["total"])
    #expect(
      error.message
        == "'total' was given `unmapped(...)`, which marks an argument of `task.map(...)`; pass "
        + "the reference itself when calling a task without mapping")
  }

  @Test("`.after(unmapped(x))` is an unmappedOutsideMap problem naming the waiting task by slug")
  func unmappedInAfter() throws {
    let make = task("make") { () in 1 }
    let check = task("check") { () in true }
    let flow = Flow("after") {
      let value = make()
      check()
      check().after(unmapped(value))
    }
    let error = try #require(throws: FlowValidationError.self) { try flow.validate() }
    #expect(error.code == .unmappedOutsideMap)
    #expect(error.culprits == ["check-2"])
    #expect(error.message.hasPrefix("'check-2' was given `unmapped(...)`"))
  }

  @Test("unmapped(...) inside map is fine")
  func unmappedInsideMap() {
    let scale = task("scale") { (x: Int, factor: Int) in x * factor }
    let flow = Flow("mapped") {
      let factor = Parameter("factor", default: 2)
      scale.map(.constant([1, 2]), unmapped(factor))
    }
    #expect(throws: Never.self) { try flow.validate() }
  }

  @Test("setReferenceTasks with a parameter is an invalidReferenceTask problem")
  func invalidReferenceTask() throws {
    let make = task("make") { (n: Int) in n }
    let flow = Flow("bad-refs") {
      let n = Parameter("n", default: 1)
      let made = make(n)
      setReferenceTasks(made, n)
    }
    let error = try #require(throws: FlowValidationError.self) { try flow.validate() }
    #expect(error.code == .invalidReferenceTask)
    #expect(error.culprits == ["n"])
    #expect(
      error.message
        == "'n' is a parameter or constant, not a task; only tasks can be reference tasks")
  }

  @Test("setReferenceTasks with a constant names the constant by its value")
  func constantAsReferenceTask() throws {
    let inc = task("inc") { (x: Int) in x + 1 }
    let flow = Flow("constant-ref") {
      let three = Ref<Int>.constant(3)
      inc(three)
      setReferenceTasks(three)
    }
    let error = try #require(throws: FlowValidationError.self) { try flow.validate() }
    #expect(error.code == .invalidReferenceTask)
    #expect(error.culprits == ["3"])
    #expect(error.message.hasPrefix("'3' is a parameter or constant, not a task"))
  }

  // MARK: The error type

  @Test("codes have stable names, and custom codes can be made")
  func codeNames() {
    let codes: [FlowValidationError.Code] = [
      .cycle, .missingParameter, .unknownParameter, .parameterType, .duplicateParameter,
      .duplicateTaskName, .foreignReference, .unmappedOutsideMap, .invalidReferenceTask,
    ]
    #expect(
      codes.map(\.description) == [
        "cycle", "missingParameter", "unknownParameter", "parameterType", "duplicateParameter",
        "duplicateTaskName", "foreignReference", "unmappedOutsideMap", "invalidReferenceTask",
      ])
    #expect(Set(codes).count == codes.count)
    let custom = FlowValidationError.Code(name: "cycle")
    #expect(custom == .cycle)
    #expect(FlowValidationError.Code(name: "mine") != .cycle)
  }

  @Test("errors compare by code, culprits and message")
  func errorEquality() {
    let error = FlowValidationError(code: .cycle, culprits: ["a"], message: "m")
    #expect(error == FlowValidationError(code: .cycle, culprits: ["a"], message: "m"))
    #expect(error != FlowValidationError(code: .cycle, culprits: ["b"], message: "m"))
    #expect(error != FlowValidationError(code: .cycle, culprits: ["a"], message: "n"))
    #expect(
      error != FlowValidationError(code: .duplicateTaskName, culprits: ["a"], message: "m"))
    #expect("\(error)" == "m")
  }
}

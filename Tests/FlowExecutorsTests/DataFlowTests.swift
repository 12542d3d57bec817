import FlowCore
import FlowExecutors
import FlowState
import FlowTesting
import Foundation
import Synchronization
import Testing

@Suite("Data flow: results, parameters, constants and ordering", .timeLimit(.minutes(1)))
struct DataFlowTests {
  @Test(
    "typed results pass from task to task and are read back by reference", arguments: bothExecutors)
  func typedResults(executor: FlowExecutor) async throws {
    let double = task("double") { (x: Int) in x * 2 }
    let describe = task("describe") { (x: Int, label: String) in "\(label)=\(x)" }
    var doubled: Ref<Int>!
    var described: Ref<String>!
    let flow = Flow("typed") {
      let value = double(21)
      doubled = value
      described = describe(value, "answer")
    }
    let result = try await flow.run(executor: executor, environment: testEnvironment())
    #expect(result.state.kind == .success)
    #expect(try result.result(of: doubled) == 42)
    #expect(try result.result(of: described) == "answer=42")
    #expect(try result.run("describe").state.value(as: String.self) == "answer=42")
    #expect(result.taskRuns.map(\.slug) == ["double", "describe"])
  }

  @Test("parameters take the given value, or their default when none is given")
  func parametersAndDefaults() async throws {
    let greet = task("greet") { (name: String, times: Int) in
      Array(repeating: name, count: times).joined(separator: " ")
    }
    var name: Parameter<String>!
    var times: Parameter<Int>!
    var greeting: Ref<String>!
    let flow = Flow("greeter") {
      let who = Parameter<String>(required: "name")
      let count = Parameter("times", default: 2)
      name = who
      times = count
      greeting = greet(who, count)
    }

    let defaulted = try await flow.run(parameters: ["name": "Ada"], environment: testEnvironment())
    #expect(try defaulted.result(of: greeting) == "Ada Ada")
    #expect(try defaulted.result(of: times) == 2)
    #expect(try defaulted.result(of: name) == "Ada")

    let given = try await flow.run(
      parameters: ["name": "Bo", "times": 3], environment: testEnvironment())
    #expect(try given.result(of: greeting) == "Bo Bo Bo")
    #expect(try given.result(of: times) == 3)
  }

  @Test("required parameters of literal-expressible types are parameters, not constants")
  func requiredParameters() async throws {
    let describe = task("describe") { (name: String, count: Int, xs: [Int]) in
      "\(name):\(count):\(xs.count)"
    }
    var described: Ref<String>!
    let flow = Flow("required") {
      described = describe(
        Parameter<String>(required: "name"), Parameter<Int>(required: "count"),
        Parameter<[Int]>(required: "xs"))
    }
    #expect(flow.parameters.map(\.name) == ["name", "count", "xs"])
    #expect(flow.parameters.map(\.isRequired) == [true, true, true])
    let result = try await flow.run(
      parameters: ["name": "n", "count": 2, "xs": [1, 2, 3]], environment: testEnvironment())
    #expect(try result.result(of: described) == "n:2:3")
  }

  @Test("an optional parameter defaults to nil and accepts a value")
  func optionalParameter() async throws {
    let show = task("show") { (limit: Int?) in limit.map { "limit \($0)" } ?? "no limit" }
    var shown: Ref<String>!
    let flow = Flow("optional-param") { shown = show(Parameter<Int?>("limit", default: nil)) }
    let defaulted = try await flow.run(environment: testEnvironment())
    #expect(try defaulted.result(of: shown) == "no limit")
    let given = try await flow.run(parameters: ["limit": 3], environment: testEnvironment())
    #expect(try given.result(of: shown) == "limit 3")
  }

  @Test("literals and explicit constants become inputs", arguments: bothExecutors)
  func constantsAndLiterals(executor: FlowExecutor) async throws {
    let format = task("format") { (text: String, ratio: Double, flag: Bool, list: [Int]) in
      "\(text)|\(ratio)|\(flag)|\(list.reduce(0, +))"
    }
    let orNone = task("orNone") { (value: Int?) in value.map(String.init) ?? "none" }
    var formatted: Ref<String>!
    var constant: Ref<[Int]>!
    var none: Ref<String>!
    let flow = Flow("literals") {
      let list = Ref<[Int]>.constant([1, 2, 3])
      constant = list
      formatted = format("x", 1.5, true, list)
      none = orNone(nil)
    }
    let result = try await flow.run(executor: executor, environment: testEnvironment())
    #expect(try result.result(of: formatted) == "x|1.5|true|6")
    #expect(try result.result(of: constant) == [1, 2, 3])
    #expect(try result.result(of: none) == "none")
    // Constants are inputs, not task runs.
    #expect(result.taskRuns.map(\.slug) == ["format", "orNone"])
  }

  @Test("a diamond runs its source once and joins both branches", arguments: bothExecutors)
  func diamond(executor: FlowExecutor) async throws {
    let sourceCalls = Counter()
    let joinCalls = Counter()
    let source = task("source") { () -> Int in
      sourceCalls.increment()
      return 10
    }
    let left = task("left") { (x: Int) in x + 1 }
    let right = task("right") { (x: Int) in x * 3 }
    let join = task("join") { (a: Int, b: Int) -> String in
      joinCalls.increment()
      return "\(a),\(b)"
    }
    var joined: Ref<String>!
    let flow = Flow("diamond") {
      let top = source()
      joined = join(left(top), right(top))
    }
    let result = try await flow.run(executor: executor, environment: testEnvironment())
    #expect(try result.result(of: joined) == "11,30")
    #expect(sourceCalls.count == 1)
    #expect(joinCalls.count == 1)
    #expect(result.state.kind == .success)
    #expect(flow.referenceTasks == ["join"])
  }

  @Test("`.after` runs the upstream first although no data passes", arguments: bothExecutors)
  func afterOrdering(executor: FlowExecutor) async throws {
    let order = Log<String>()
    let second = task("second") { () -> Int in
      order.append("second")
      return 2
    }
    let first = task("first") { () -> Int in
      order.append("first")
      return 1
    }
    let flow = Flow("after") {
      // `second` is added first: only the dependency can make it run last.
      let later = second()
      let earlier = first()
      later.after(earlier)
    }
    let result = try await flow.run(executor: executor, environment: testEnvironment())
    #expect(order.all == ["first", "second"])
    #expect(result.state.kind == .success)
    #expect(flow.tasks.first { $0.slug == "second" }?.upstream == ["first"])
    let firstFinished = try #require(try result.run("first").finishedAt)
    let secondStarted = try #require(try result.run("second").startedAt)
    #expect(firstFinished <= secondStarted)
  }

  @Test("asking for the result of a failed task throws ResultAccessError")
  func resultOfFailedTask() async throws {
    let fail = task("fail") { () throws -> Int in throw Boom(code: 1) }
    let next = task("next") { (x: Int) in x + 1 }
    var failed: Ref<Int>!
    var downstream: Ref<Int>!
    let flow = Flow("failing") {
      let failing = fail()
      failed = failing
      downstream = next(failing)
    }
    let result = try await flow.run(environment: testEnvironment())
    let error = #expect(throws: ResultAccessError.self) { try result.result(of: failed) }
    #expect(error?.description.contains("'fail'") == true)
    #expect(error?.description.contains("Failed") == true)
    #expect(throws: ResultAccessError.self) { try result.result(of: downstream) }
    // The state itself is still readable.
    #expect(try result.state(of: failed).kind == .failed)
  }

  @Test("a reference from another flow cannot be read from this run")
  func foreignReference() async throws {
    let one = task("one") { () -> Int in 1 }
    var foreign: Ref<Int>!
    var local: Ref<Int>!
    let other = Flow("other") { foreign = one() }
    let flow = Flow("this") { local = one() }
    let result = try await flow.run(environment: testEnvironment())
    #expect(try result.result(of: local) == 1)
    let error = #expect(throws: ResultAccessError.self) { try result.result(of: foreign) }
    #expect(error?.description.contains("another flow") == true)
    #expect(throws: ResultAccessError.self) { try result.state(of: foreign) }
    // The same reference works against its own flow's run.
    let otherResult = try await other.run(environment: testEnvironment())
    #expect(try otherResult.result(of: foreign) == 1)
  }

  @Test("a nil output is a result: readable and passed downstream", arguments: bothExecutors)
  func nilOutputIsAResult(executor: FlowExecutor) async throws {
    let calls = Counter()
    let lookup = task("lookup") { (key: String) -> Int? in key == "known" ? 7 : nil }
    let render = task("render") { (value: Int?) -> String in
      calls.increment()
      return value.map { "found \($0)" } ?? "missing"
    }
    var missing: Ref<Int?>!
    var found: Ref<Int?>!
    var renderedMissing: Ref<String>!
    var renderedFound: Ref<String>!
    let flow = Flow("optional") {
      let nothing = lookup("unknown")
      let something = lookup("known")
      missing = nothing
      found = something
      renderedMissing = render(nothing)
      renderedFound = render(something)
    }
    let result = try await flow.run(executor: executor, environment: testEnvironment())
    #expect(result.state.kind == .success)
    let missingValue: Int? = try result.result(of: missing)
    #expect(missingValue == nil)
    #expect(try result.state(of: missing).hasResult)
    #expect(try result.result(of: found) == 7)
    #expect(try result.result(of: renderedMissing) == "missing")
    #expect(try result.result(of: renderedFound) == "found 7")
    #expect(calls.count == 2)
  }
}

import FlowCore
import FlowExecutors
import FlowState
import FlowTesting
import Foundation
import Testing

/// Conditional branching (Prefect's `case`, `ifelse`, `merge`) on the test clock.
@Suite("Branching: when, ifElse, merge", .timeLimit(.minutes(1)))
struct BranchingTests {
  static let double = task("double") { (x: Int) -> Int in x * 2 }
  static let negate = task("negate") { (x: Int) -> Int in -x }
  static let describe = task("describe") { (x: Int) -> String in "value \(x)" }

  /// Picks an operation by a string parameter; both branches end in one merge.
  static func choosing() -> (flow: Flow, chosen: Ref<Int>, text: Ref<String>) {
    let built = Flow.building("branches") { () -> (Ref<Int>, Ref<String>) in
      let operation = Parameter("operation", default: "double")
      let x = Parameter("x", default: 21)
      let doubled = when(operation, equals: "double") { double(x) }
      let negated = when(operation, equals: "negate") { describe(negate(x)) }
      return (merge(doubled, when(operation, equals: "negate") { negate(x) }), negated)
    }
    return (built.flow, built.references.0, built.references.1)
  }

  @Test(
    "tasks under a false condition end Skipped naming it; merge takes the branch that ran",
    arguments: bothExecutors)
  func valueMatch(executor: FlowExecutor) async throws {
    let (flow, chosen, text) = Self.choosing()
    let result = try await flow.run(
      parameters: ["operation": "double"], executor: executor, environment: testEnvironment())
    #expect(result.state.kind == .success)
    #expect(try result.result(of: chosen) == 42)
    #expect(result.kind("double") == .success)
    #expect(result.kind("negate") == .skipped)
    #expect(
      try result.run("negate").state.message
        == "Branch condition when(operation == \"negate\") did not hold, so this task was skipped.")
    #expect(result.kind("describe") == .skipped)
    #expect(throws: ResultAccessError.self) { try result.result(of: text) }
    #expect(result.kind("merge") == .success)

    let other = try await flow.run(
      parameters: ["operation": "negate"], executor: executor, environment: testEnvironment())
    #expect(try other.result(of: chosen) == -21)
    #expect(try other.result(of: text) == "value -21")
    #expect(other.kind("double") == .skipped)
    #expect(
      try other.run("double").state.message?.contains("when(operation == \"double\")") == true)
  }

  @Test("a Bool condition from a task; ifElse merges the branch that ran", arguments: bothExecutors)
  func boolCondition(executor: FlowExecutor) async throws {
    let isLarge = task("is-large") { (x: Int) -> Bool in x > 10 }
    for (input, expected) in [(21, 42), (3, -3)] {
      let (flow, value) = Flow.building("ifelse") {
        let x = Parameter("x", default: 0)
        return ifElse(isLarge(x), then: { Self.double(x) }, else: { Self.negate(x) })
      }
      let result = try await flow.run(
        parameters: ["x": input], executor: executor, environment: testEnvironment())
      #expect(try result.result(of: value) == expected)
      #expect(result.kind(input > 10 ? "negate" : "double") == .skipped)
      #expect(
        try result.run(input > 10 ? "negate" : "double").state.message?.contains(
          "when(is-large == \(input > 10 ? "false" : "true"))") == true)
      #expect(result.state.kind == .success)
    }
  }

  @Test(
    "nested branches need every condition; a mapped task under a false branch never maps",
    arguments: bothExecutors)
  func nestedAndMapped(executor: FlowExecutor) async throws {
    let calls = Counter()
    let square = task("square") { (x: Int) -> Int in
      calls.increment()
      return x * x
    }
    let (flow, refs) = Flow.building("nested") { () -> (Ref<[Int]>, Ref<Int>) in
      let outer = Parameter("outer", default: true)
      let inner = Parameter("inner", default: false)
      return when(outer) {
        let squares = square.map([1, 2, 3])
        let innerDouble = when(inner) { Self.double(2) }
        return (squares, innerDouble)
      }
    }
    let result = try await flow.run(executor: executor, environment: testEnvironment())
    #expect(try result.result(of: refs.0) == [1, 4, 9])
    #expect(try result.run("double").state.message?.contains("when(inner == true)") == true)
    let off = try await flow.run(
      parameters: ["outer": false], executor: executor, environment: testEnvironment())
    #expect(off.kind("square") == .skipped)
    #expect(off.mappedRuns("square").isEmpty)
    #expect(try off.run("double").state.message?.contains("when(outer == true)") == true)
    #expect(calls.count == 3)
  }

  @Test(
    "merge is Skipped when every branch was, and TriggerFailed when the chosen one failed",
    arguments: bothExecutors)
  func mergeEdges(executor: FlowExecutor) async throws {
    let broken = task("broken") { (x: Int) throws -> Int in throw Boom(code: x) }
    let (flow, merged) = Flow.building("merge-edges") {
      let mode = Parameter("mode", default: "none")
      return merge(
        when(mode, equals: "fail") { broken(1) }, when(mode, equals: "ok") { Self.double(4) })
    }
    let none = try await flow.run(executor: executor, environment: testEnvironment())
    #expect(none.kind("merge") == .skipped)
    #expect(none.state.kind == .success)
    let failing = try await flow.run(
      parameters: ["mode": "fail"], executor: executor, environment: testEnvironment())
    #expect(failing.kind("broken") == .failed)
    #expect(failing.kind("merge") == .triggerFailed)
    #expect(failing.state.kind == .failed)
    let ok = try await flow.run(
      parameters: ["mode": "ok"], executor: executor, environment: testEnvironment())
    #expect(try ok.result(of: merged) == 8)
  }

  @Test("a condition whose task failed skips the branch and says why")
  func failedCondition() async throws {
    let check = task("check") { () throws -> Bool in throw Boom() }
    let flow = Flow("failed-condition") {
      let ok = check()
      when(ok) { Self.double(1) }
    }
    let result = try await flow.run(environment: testEnvironment())
    #expect(result.kind("double") == .skipped)
    #expect(
      try result.run("double").state.message?.contains("'check' ended Failed without a result")
        == true)
  }

  @Test("a branching run replays through the machine from its recorded history")
  func replays() async throws {
    let (flow, _, _) = Self.choosing()
    let recorder = FlowRunRecorder(flowName: flow.name)
    let result = try await flow.run(
      parameters: ["operation": "negate"], environment: testEnvironment(),
      observer: recorder.observer)
    let history = recorder.history
    #expect(
      history.steps.contains {
        if case .conditionsChecked = $0.event { true } else { false }
      })
    let machine = try FlowRunReplayer.replay(
      FlowRunHistory.decode(json: history.json()), flow: flow)
    #expect(machine.taskRuns.map(\.state.kind) == result.taskRuns.map(\.state.kind))
  }

  @Test("a version-1 history (before branches, outcomes and loops) still decodes and replays")
  func versionOneReplays() async throws {
    let flow = Flow("plain") { Self.describe(Self.double(Parameter("x", default: 2))) }
    let recorder = FlowRunRecorder(flowName: flow.name)
    _ = try await flow.run(environment: testEnvironment(), observer: recorder.observer)
    var history = recorder.history
    history.version = 1
    var json = try JSONSerialization.jsonObject(with: history.json()) as! [String: Any]
    var steps = json["steps"] as! [[String: Any]]
    for index in steps.indices { steps[index]["version"] = 1 }
    json["steps"] = steps
    let decoded = try FlowRunHistory.decode(json: JSONSerialization.data(withJSONObject: json))
    #expect(decoded.version == 1)
    #expect(try FlowRunReplayer.replay(decoded, flow: flow).isFinished)
  }
}

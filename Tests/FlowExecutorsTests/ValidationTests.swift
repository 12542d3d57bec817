import FlowCore
import FlowExecutors
import FlowState
import FlowTesting
import Foundation
import Synchronization
import Testing

@Suite("Validation before a run starts", .timeLimit(.minutes(1)))
struct ValidationTests {
  @Test("a missing required parameter throws and no body runs", arguments: bothExecutors)
  func missingParameter(executor: FlowExecutor) async throws {
    let calls = Counter()
    let independent = task("independent") { () -> Int in calls.increment() }
    let greet = task("greet") { (name: String) -> String in
      calls.increment()
      return name
    }
    let handled = Counter()
    let flow = Flow(
      "needs-name",
      stateHandlers: [
        { change in
          handled.increment()
          return change.new
        }
      ]
    ) {
      independent()
      greet(Parameter<String>(required: "name"))
    }
    let error = await #expect(throws: FlowValidationError.self) {
      try await flow.run(executor: executor, environment: testEnvironment())
    }
    #expect(error?.code == .missingParameter)
    #expect(error?.culprits == ["name"])
    #expect(calls.count == 0)
    #expect(handled.count == 0)
  }

  @Test("an unknown parameter or a wrong type throws and no body runs")
  func badParameters() async throws {
    let calls = Counter()
    let double = task("double") { (x: Int) -> Int in
      calls.increment()
      return x * 2
    }
    let flow = Flow("typed") { double(Parameter("x", default: 1)) }
    let unknown = await #expect(throws: FlowValidationError.self) {
      try await flow.run(parameters: ["y": 2], environment: testEnvironment())
    }
    #expect(unknown?.code == .unknownParameter)
    let wrongType = await #expect(throws: FlowValidationError.self) {
      try await flow.run(parameters: ["x": "two"], environment: testEnvironment())
    }
    #expect(wrongType?.code == .parameterType)
    #expect(calls.count == 0)
  }

  @Test("a cycle made with `.after` throws and no body runs")
  func cycle() async throws {
    let calls = Counter()
    let one = task("one") { () -> Int in calls.increment() }
    let two = task("two") { (x: Int) -> Int in
      calls.increment()
      return x
    }
    let flow = Flow("loop") {
      let first = one()
      let second = two(first)
      first.after(second)
    }
    let error = await #expect(throws: FlowValidationError.self) {
      try await flow.run(environment: testEnvironment())
    }
    #expect(error?.code == .cycle)
    #expect(Set(error?.culprits ?? []) == ["one", "two"])
    #expect(calls.count == 0)
  }

  @Test("a reference from another flow is rejected before running")
  func foreignReference() async throws {
    let calls = Counter()
    let make = task("make") { () -> Int in calls.increment() }
    let use = task("use") { (x: Int) -> Int in
      calls.increment()
      return x
    }
    var foreign: Ref<Int>!
    _ = Flow("other") { foreign = make() }
    let flow = Flow("borrower") {
      make()
      use(foreign)
    }
    let error = await #expect(throws: FlowValidationError.self) {
      try await flow.run(environment: testEnvironment())
    }
    #expect(error?.code == .foreignReference)
    #expect(calls.count == 0)
  }

  @Test("two definitions sharing a name are rejected before running")
  func duplicateTaskName() async throws {
    let calls = Counter()
    let first = task("same") { () -> Int in calls.increment() }
    let second = task("same") { () -> Int in calls.increment() }
    let flow = Flow("dupes") {
      first()
      second()
    }
    let error = await #expect(throws: FlowValidationError.self) {
      try await flow.run(environment: testEnvironment())
    }
    #expect(error?.code == .duplicateTaskName)
    #expect(calls.count == 0)
  }
}

import FlowCore
import FlowExecutors
import FlowResults
import FlowState
import FlowTesting
import Foundation
import Testing

/// Configuration problems of targets, stores and caches are found before any body runs.
@Suite("Result configuration is validated before the run", .timeLimit(.minutes(2)))
struct ValidationTests {
  /// Runs a flow whose first task is valid and counts, and whose second task has `target`;
  /// returns the validation error.
  private func validate(target: String, inputs: [String] = []) async -> FlowValidationError? {
    let store = MemoryResultStore()
    let calls = Counter()
    let first = task("first") { () -> Int in
      calls.increment()
      return 1
    }
    var second = task("second") { (x: Int) -> Int in
      calls.increment()
      return x
    }.checkpoint(to: store, target: target)
    second.options.inputNames = inputs
    let flow = Flow("validate") {
      second(first())
      _ = Parameter("size", default: 3)
    }
    let error = await #expect(throws: FlowValidationError.self) {
      try await flow.run(environment: environment())
    }
    #expect(calls.count == 0, "no body runs when validation fails")
    #expect(store.locations.isEmpty)
    return error
  }

  @Test(
    "an unknown placeholder is .badTarget, naming the placeholder",
    arguments: [
      ("{nope}", "{nope}"),
      ("out/{flow_name}/{taskname}", "{taskname}"),
      ("{date}", "{date}"),
      ("{parameters}", "{parameters}"),
      ("{Task_Name}", "{Task_Name}"),
      ("{x}", "{x}"),  // an input name, but the task did not name its inputs
    ])
  func unknownPlaceholder(template: String, placeholder: String) async throws {
    let error = try #require(await validate(target: template))
    #expect(error.code == .badTarget)
    #expect(error.culprits == ["second"])
    #expect(error.message.contains(placeholder))
    #expect(error.message.contains("second"))
  }

  @Test("a placeholder for an input is accepted once `.inputs(...)` names it")
  func inputPlaceholderNeedsNames() async throws {
    let error = try #require(await validate(target: "{x}"))
    #expect(error.message.contains(".inputs("))
    let store = MemoryResultStore()
    let echo = task("echo") { (x: Int) -> Int in x }.inputs("x")
      .checkpoint(to: store, target: "{x}")
    let flow = Flow("named") { echo(4) }
    let result = try await flow.run(environment: environment())
    #expect(result.state.kind == .success)
    #expect(store.locations == ["4"])
  }

  @Test("an unknown {parameters[X]} is .badTarget, naming X and the known parameters")
  func unknownParameter() async throws {
    let error = try #require(await validate(target: "{parameters[region]}/out"))
    #expect(error.code == .badTarget)
    #expect(error.message.contains("'region'"))
    #expect(error.message.contains("'size'"))
  }

  @Test(
    "a bad strftime directive is .badTarget, naming it",
    arguments: [
      ("{date:%Y-%Q}", "%Q"), ("{date:%D}", "%D"), ("{date:%Y%}", "lone '%'"),
      ("{date:%c}", "%c"),
    ])
  func badDirective(template: String, named: String) async throws {
    let error = try #require(await validate(target: template))
    #expect(error.code == .badTarget)
    #expect(error.message.contains(named))
  }

  @Test(
    "unbalanced braces are .badTarget",
    arguments: ["{task_name", "task_name}", "a}b", "{flow_name}/{"])
  func unbalancedBraces(template: String) async throws {
    let error = try #require(await validate(target: template))
    #expect(error.code == .badTarget)
    #expect(error.message.contains(template))
  }

  @Test("a non-Codable output with a flow's result store is .notPersistable")
  func notPersistableFlowStore() async throws {
    let calls = Counter()
    let make = task("make") { () -> Opaque in
      calls.increment()
      return Opaque(value: 1)
    }
    let flow = Flow("opaque", resultStore: MemoryResultStore()) { make() }
    let error = await #expect(throws: FlowValidationError.self) {
      try await flow.run(environment: environment())
    }
    #expect(error?.code == .notPersistable)
    #expect(error?.culprits == ["make"])
    #expect(error?.message.contains("Opaque") == true)
    #expect(calls.count == 0)
  }

  @Test("a non-Codable output with a task's checkpoint or cache is .notPersistable")
  func notPersistableTask() async throws {
    let calls = Counter()
    let base = task("make") { () -> Opaque in
      calls.increment()
      return Opaque(value: 1)
    }
    let store = MemoryResultStore()
    for configured in [
      base.checkpoint(to: store), base.checkpoint(to: store, target: "x"),
      base.cached(for: .seconds(60), validator: .durationOnly, in: store),
    ] {
      let flow = Flow("opaque") { configured() }
      let error = await #expect(throws: FlowValidationError.self) {
        try await flow.run(environment: environment())
      }
      #expect(error?.code == .notPersistable)
    }
    #expect(calls.count == 0)
  }

  @Test("a non-Codable output without any store runs normally")
  func notPersistableWithoutStore() async throws {
    let make = task("make") { () -> Opaque in Opaque(value: 5) }
    var ref: Ref<Opaque>!
    let flow = Flow("opaque") { ref = make() }
    let result = try await flow.run(environment: environment())
    #expect(try result.result(of: ref).value == 5)
  }

  @Test(
    "`.inputs(...)` with the wrong number of names is .badInputNames",
    arguments: [[], ["a"], ["a", "b", "c"]])
  func inputCountMismatch(names: [String]) async throws {
    let calls = Counter()
    var add = task("add") { (a: Int, b: Int) -> Int in
      calls.increment()
      return a + b
    }.checkpoint(to: MemoryResultStore())
    add.options.inputNames = names
    let flow = Flow("count") { add(1, 2) }
    if names.isEmpty {
      // No names at all is fine: the task simply has no input placeholders.
      let result = try await flow.run(environment: environment())
      #expect(result.state.kind == .success)
      #expect(calls.count == 1)
      return
    }
    let error = await #expect(throws: FlowValidationError.self) {
      try await flow.run(environment: environment())
    }
    #expect(error?.code == .badInputNames)
    #expect(error?.culprits == ["add"])
    #expect(error?.message.contains("2 inputs") == true)
    #expect(calls.count == 0)
  }

  @Test(
    "a cache validator naming an unknown input or parameter is .badInputNames",
    arguments: [
      (CacheValidator.partialInputs(["y"]), "'y'"),
      (CacheValidator.partialInputs(["x", "z"]), "'z'"),
      (CacheValidator.partialParameters(["missing"]), "'missing'"),
      (CacheValidator.partialParameters(["size", "other"]), "'other'"),
    ])
  func unknownValidatorNames(validator: CacheValidator, named: String) async throws {
    let calls = Counter()
    let echo = task("echo") { (x: Int) -> Int in
      calls.increment()
      return x
    }.inputs("x").cached(for: .seconds(60), validator: validator, in: MemoryResultStore())
    let flow = Flow("validators") { echo(Parameter("size", default: 3)) }
    let error = await #expect(throws: FlowValidationError.self) {
      try await flow.run(environment: environment())
    }
    #expect(error?.code == .badInputNames)
    #expect(error?.culprits == ["echo"])
    #expect(error?.message.contains(named) == true)
    #expect(calls.count == 0)
  }

  @Test("partialInputs without `.inputs(...)` says to name the inputs")
  func partialInputsWithoutNames() async throws {
    let echo = task("echo") { (x: Int) -> Int in x }
      .cached(for: .seconds(60), validator: .partialInputs(["x"]), in: MemoryResultStore())
    let flow = Flow("unnamed") { echo(1) }
    let error = await #expect(throws: FlowValidationError.self) {
      try await flow.run(environment: environment())
    }
    #expect(error?.code == .badInputNames)
    #expect(error?.message.contains(".inputs(") == true)
  }

  @Test("valid names for every validator pass validation")
  func validNames() async throws {
    for validator in [
      CacheValidator.durationOnly, .allInputs, .allParameters, .partialInputs(["x"]),
      .partialParameters(["size"]),
    ] {
      let echo = task("echo") { (x: Int) -> Int in x }.inputs("x")
        .cached(for: .seconds(60), validator: validator, in: MemoryResultStore())
      let flow = Flow("valid") { echo(Parameter("size", default: 3)) }
      let result = try await flow.run(environment: environment())
      #expect(result.state.kind == .success, "\(validator)")
    }
  }
}

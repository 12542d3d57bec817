import FlowCore
import Foundation
import Testing

private struct Settings: Codable, Sendable, Equatable {
  var region: String
  var replicas: Int
}

@Suite("Flow parameters")
struct ParameterTests {
  private let use = task("use") { (count: Int, label: String) in "\(label)\(count)" }

  /// A flow with a required `count: Int` and an optional `label: String` (default "x").
  private func countAndLabel() -> Flow {
    Flow("needs") {
      let count = requiredParameter("count", Int.self)
      let label = Parameter("label", default: "x")
      use(count, label)
    }
  }

  // MARK: Declaration

  @Test("parameters are listed in declaration order with their type, default and requiredness")
  func declaredParameters() throws {
    let flow = Flow("declared") {
      let batch = Parameter("batch-size", default: 100)
      let tags = requiredParameter("tags", [String].self)
      let settings = Parameter("settings", default: Settings(region: "eu", replicas: 2))
      let limit = Parameter<Int?>("limit", default: nil)
      _ = (batch, tags, settings, limit)
    }
    let specs = flow.parameters
    #expect(specs.map(\.name) == ["batch-size", "tags", "settings", "limit"])
    #expect(specs.map(\.typeName) == ["Int", "Array<String>", "Settings", "Optional<Int>"])
    #expect(specs.map(\.isRequired) == [false, true, false, false])
    #expect(specs[0].defaultValue as? Int == 100)
    #expect(specs[1].defaultValue == nil)
    #expect(specs[2].defaultValue as? Settings == Settings(region: "eu", replicas: 2))
    #expect(flow.tasks.isEmpty)
  }

  @Test("a required String parameter, declared without a literal coercion, is a parameter")
  func requiredStringParameter() throws {
    let greet = task("greet") { (region: String) in "hello \(region)" }
    let flow = Flow("strings") {
      let region = Parameter<String>(required: "region")
      greet(region)
      greet(requiredParameter("zone", String.self))
    }
    #expect(flow.parameters.map(\.name) == ["region", "zone"])
    #expect(flow.parameters.map(\.isRequired) == [true, true])
    #expect(flow.tasks.map(\.upstream) == [["region"], ["zone"]])
    let error = try #require(throws: FlowValidationError.self) { try flow.resolveParameters([:]) }
    #expect(error.culprits == ["region"])
  }

  @Test("a parameter is an upstream of the tasks that take it, named by its name")
  func parameterAsUpstream() {
    let flow = countAndLabel()
    #expect(flow.tasks.map(\.upstream) == [["count", "label"]])
    #expect(flow.referenceTasks == ["use"])
  }

  @Test("a declared but unused parameter is still a parameter of the flow")
  func unusedParameter() throws {
    let flow = Flow("unused") { _ = Parameter("verbose", default: false) }
    #expect(flow.parameters.map(\.name) == ["verbose"])
    #expect(try flow.resolveParameters([:])["verbose"] as? Bool == false)
  }

  // MARK: accepts and decode

  @Test("accepts only values of the declared type")
  func accepts() throws {
    let flow = Flow("types") {
      _ = Parameter("count", default: 1)
      _ = requiredParameter("names", [String].self)
    }
    let count = try #require(flow.parameters.first)
    #expect(count.accepts(3))
    #expect(!count.accepts("3"))
    #expect(!count.accepts(3.0))
    #expect(!count.accepts(Int64(3)))
    #expect(!count.accepts([3]))
    let names = flow.parameters[1]
    #expect(names.accepts(["a", "b"]))
    #expect(names.accepts([String]()))
    #expect(!names.accepts("a"))
    #expect(!names.accepts([1, 2]))
  }

  @Test("decode(json:) decodes an Int, a [String] and a Codable struct")
  func decodeJSON() throws {
    let flow = Flow("json") {
      _ = Parameter("count", default: 1)
      _ = requiredParameter("names", [String].self)
      _ = requiredParameter("settings", Settings.self)
    }
    let specs = flow.parameters
    #expect(try specs[0].decode(json: Data("42".utf8)) as? Int == 42)
    #expect(try specs[1].decode(json: Data(#"["a", "b"]"#.utf8)) as? [String] == ["a", "b"])
    let settings = try specs[2].decode(json: Data(#"{"region": "us", "replicas": 3}"#.utf8))
    #expect(settings as? Settings == Settings(region: "us", replicas: 3))
    // A decoded value is accepted by the same spec.
    #expect(try specs[0].accepts(specs[0].decode(json: Data("7".utf8))))
  }

  @Test(
    "decode(json:) throws on malformed JSON or JSON of another type",
    arguments: ["forty-two", "\"42\"", "4.5", "[1]", "", "{\"region\": \"us\"}"])
  func decodeRejects(json: String) throws {
    let flow = Flow("bad-json") {
      _ = Parameter("count", default: 1)
      _ = requiredParameter("settings", Settings.self)
    }
    let specs = flow.parameters
    #expect(throws: (any Error).self) { try specs[0].decode(json: Data(json.utf8)) }
    #expect(throws: (any Error).self) { try specs[1].decode(json: Data(json.utf8)) }
  }

  // MARK: resolveParameters

  @Test("defaults fill in missing optional parameters")
  func defaultsFillIn() throws {
    let values = try countAndLabel().resolveParameters(["count": 3])
    #expect(values.count == 2)
    #expect(values["count"] as? Int == 3)
    #expect(values["label"] as? String == "x")
  }

  @Test("given values override defaults")
  func givenValuesOverride() throws {
    let values = try countAndLabel().resolveParameters(["count": 5, "label": "y"])
    #expect(values["count"] as? Int == 5)
    #expect(values["label"] as? String == "y")
  }

  @Test("an optional parameter with a nil default resolves to nil, and accepts a value")
  func optionalParameter() throws {
    let orZero = task("or-zero") { (x: Int?) in x ?? 0 }
    let flow = Flow("optional") { orZero(Parameter<Int?>("limit", default: nil)) }
    let defaulted = try flow.resolveParameters([:])
    #expect(defaulted.keys.sorted() == ["limit"])
    let value = try #require(defaulted["limit"] as? Int?)
    #expect(value == nil)
    #expect(try flow.resolveParameters(["limit": 9])["limit"] as? Int == 9)
  }

  @Test("a missing required parameter is named, with how to pass it")
  func missingRequired() throws {
    let flow = countAndLabel()
    let error = try #require(throws: FlowValidationError.self) {
      try flow.resolveParameters(["label": "y"])
    }
    #expect(error.code == .missingParameter)
    #expect(error.culprits == ["count"])
    #expect(
      error.message
        == "flow 'needs' needs a value for its required parameter 'count' (Int); pass it in "
        + "`parameters: [\"count\": ...]`")
    // Missing values are a run-time input problem, not a graph problem.
    #expect(throws: Never.self) { try flow.validate() }
  }

  @Test("an unknown parameter name is named, with the valid names")
  func unknownName() throws {
    let error = try #require(throws: FlowValidationError.self) {
      try countAndLabel().resolveParameters(["cuont": 3])
    }
    #expect(error.code == .unknownParameter)
    #expect(error.culprits == ["cuont"])
    #expect(error.message == "flow 'needs' has no parameter 'cuont'; it has 'count', 'label'")
  }

  @Test("of several unknown names, the first in sorted order is reported")
  func severalUnknownNames() throws {
    let error = try #require(throws: FlowValidationError.self) {
      try countAndLabel().resolveParameters(["zeta": 1, "alpha": 2, "count": 1])
    }
    #expect(error.code == .unknownParameter)
    #expect(error.culprits == ["alpha"])
  }

  @Test("a flow without parameters says it has none")
  func unknownNameNoParameters() throws {
    let flow = Flow("bare") {}
    let error = try #require(throws: FlowValidationError.self) {
      try flow.resolveParameters(["x": 1])
    }
    #expect(error.code == .unknownParameter)
    #expect(error.message == "flow 'bare' has no parameter 'x'; it has none")
    #expect(try flow.resolveParameters([:]).isEmpty)
  }

  @Test("an unknown name is reported before a missing required parameter")
  func unknownBeforeMissing() throws {
    let error = try #require(throws: FlowValidationError.self) {
      try countAndLabel().resolveParameters(["lable": "y"])
    }
    #expect(error.code == .unknownParameter)
  }

  @Test(
    "a value of the wrong type is named with both types",
    arguments: [
      ("three", "String (three)"),
      (3.0, "Double (3.0)"),
      (Int64(3), "Int64 (3)"),
      ([3], "Array<Int> ([3])"),
    ] as [(any Sendable, String)])
  func wrongType(value: any Sendable, got: String) throws {
    let error = try #require(throws: FlowValidationError.self) {
      try countAndLabel().resolveParameters(["count": value])
    }
    #expect(error.code == .parameterType)
    #expect(error.culprits == ["count"])
    #expect(
      error.message == "parameter 'count' expects a value of type Int, got \(got); pass a Int")
  }
}

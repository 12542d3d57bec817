import FlowCore
import Foundation
import Testing

@Suite("Parameter schema validation")
struct ParameterSchemaValidationTests {
  static let flow = Flow("etl") {
    let size = Parameter("size", default: 10)
    let name = Parameter<String>(required: "name")
    let ratio = Parameter("ratio", default: 0.5)
    let verbose = Parameter("verbose", default: false)
    let tags = Parameter("tags", default: ["a"])
    let echo = task("echo") {
      (size: Int, name: String, ratio: Double, verbose: Bool, tags: [String]) in
      "\(size)\(name)\(ratio)\(verbose)\(tags)"
    }
    echo(size, name, ratio, verbose, tags)
  }

  @Test("valid values pass; each bad value is one problem naming parameter, type and value")
  func problems() throws {
    let schema = try ParameterSchema(json: Self.flow.parameterSchemaJSON)
    #expect(
      schema.problems(in: [
        "size": "3", "name": "\"x\"", "ratio": "2", "verbose": "true", "tags": "[\"b\"]",
      ]).isEmpty)
    let problems = schema.problems(in: [
      "size": "\"ten\"", "ratio": "true", "verbose": "1", "tags": "{}", "colour": "1",
      "name": "not json",
    ])
    #expect(problems.map(\.parameter) == ["colour", "name", "ratio", "size", "tags", "verbose"])
    let size = try #require(problems.first { $0.parameter == "size" })
    #expect(size.expectedType == "Int" && size.value == "\"ten\"")
    #expect(size.description == "parameter 'size' expects Int, got \"ten\": not an integer")
    #expect(problems.first { $0.parameter == "colour" }!.description.contains("'size'"))
    #expect(problems.first { $0.parameter == "name" }!.reason.contains("not JSON"))
    let missing = schema.problems(in: [:])
    #expect(missing.map(\.parameter) == ["name"] && missing[0].value == nil)
    #expect(schema.problems(in: [:], requireAll: false).isEmpty)
    #expect(schema.problems(in: ["size": "2.5"]).contains { $0.parameter == "size" })
  }

  @Test("command-line text becomes JSON text: strings are quoted, other types parsed")
  func input() throws {
    let schema = try ParameterSchema(json: Self.flow.parameterSchemaJSON)
    #expect(schema.jsonText(forInput: "ann", parameter: "name") == "\"ann\"")
    #expect(schema.jsonText(forInput: "\"ann\"", parameter: "name") == "\"ann\"")
    #expect(schema.jsonText(forInput: "12", parameter: "name") == "\"12\"")
    #expect(schema.jsonText(forInput: "12", parameter: "size") == "12")
    #expect(schema.properties["size"]?.defaultJSON == "10")
    #expect(schema.properties["name"]?.isRequired == true)
    #expect(throws: ParameterSchemaError.self) { try ParameterSchema(json: "[1]") }
  }
}

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

  /// A wrapper decoded from a count or `"all"`, as the ticket sample's batch size is.
  struct Rows: Codable, Sendable, ParameterSchemaDescribing {
    var count: Int?
    static let parameterValueSchema = ParameterValueSchema.anyOf([
      .integer(in: 1...100), .string(oneOf: ["all"]),
    ])
  }

  /// A Codable wrapper that states nothing: its values are not checked by JSON type.
  struct Opaque: Codable, Sendable { var text: String }

  static let wrapped = Flow("wrapped") {
    let rows = Parameter("rows", default: Rows(count: 10))
    let seed = Parameter("seed", default: Int?.none)
    let url = Parameter("url", default: String?.none)
    let maybeRows = Parameter("maybe-rows", default: Rows?.none)
    let opaque = Parameter("opaque", default: Opaque(text: "x"))
    let echo = task("echo") { (rows: Rows, seed: Int?, url: String?, maybe: Rows?, o: Opaque) in
      "\(rows.count ?? 0)\(seed ?? 0)\(url ?? "")\(maybe?.count ?? 0)\(o.text)"
    }
    echo(rows, seed, url, maybeRows, opaque)
  }

  @Test("optionals and wrapper types that state their JSON values are checked")
  func wrappersAndOptionals() throws {
    let schema = try ParameterSchema(json: Self.wrapped.parameterSchemaJSON)
    #expect(
      schema.problems(in: [
        "rows": "100", "seed": "7", "url": "\"https://x\"", "maybe-rows": "\"all\"",
        "opaque": "{}",
      ]).isEmpty)
    #expect(
      schema.problems(in: ["rows": "\"all\"", "seed": "null", "url": "null", "maybe-rows": "null"])
        .isEmpty)
    let problems = schema.problems(in: [
      "rows": "\"lots\"", "seed": "\"seven\"", "url": "3", "maybe-rows": "0",
    ])
    #expect(problems.map(\.parameter) == ["maybe-rows", "rows", "seed", "url"])
    let rows = try #require(problems.first { $0.parameter == "rows" })
    #expect(rows.reason == "must be an integer from 1 to 100 or \"all\"", "\(rows)")
    #expect(rows.expectedType.hasSuffix("Rows"))
    #expect(problems.first { $0.parameter == "seed" }?.reason == "must be an integer or null")
    #expect(
      problems.first { $0.parameter == "maybe-rows" }?.reason
        == "must be an integer from 1 to 100 or \"all\" or null")
    #expect(schema.problems(in: ["rows": "101"]).map(\.parameter) == ["rows"])
    // Form text: a string for optional strings, JSON for integers, a string when not JSON.
    #expect(schema.jsonText(forInput: "https://x", parameter: "url") == "\"https://x\"")
    #expect(schema.jsonText(forInput: "7", parameter: "seed") == "7")
    #expect(schema.jsonText(forInput: "all", parameter: "rows") == "\"all\"")
    #expect(schema.properties["seed"]?.jsonType == "integer")
    #expect(schema.properties["opaque"]?.valueSchema == nil)
  }
}

import Foundation

/// One parameter value that does not fit a flow's parameter schema.
public struct ParameterProblem: Sendable, Equatable, CustomStringConvertible {
  /// The parameter's name.
  public var parameter: String
  /// The type it expects (its Swift type, `Int`, `[String]`…; empty for an unknown parameter).
  public var expectedType: String
  /// The value given, as text; nil when a required value is missing.
  public var value: String?
  /// What is wrong.
  public var reason: String

  /// Creates a problem.
  public init(parameter: String, expectedType: String, value: String?, reason: String) {
    self.parameter = parameter
    self.expectedType = expectedType
    self.value = value
    self.reason = reason
  }

  /// `parameter 'size' expects Int, got "ten": not an integer`.
  public var description: String {
    let got = value.map { "got \($0)" } ?? "no value given"
    if expectedType.isEmpty { return "parameter '\(parameter)' \(reason) (\(got))" }
    return "parameter '\(parameter)' expects \(expectedType), \(got): \(reason)"
  }
}

/// A flow's parameter schema as stored (``Flow/parameterSchemaJSON``), and the check of
/// parameter values against it.
///
/// ```swift
/// let schema = try ParameterSchema(json: deployment.parameterSchemaJSON)
/// let problems = schema.problems(in: ["batch-size": "\"ten\""])
/// // parameter 'batch-size' expects Int, got "ten": not an integer
/// ```
public struct ParameterSchema: Sendable, Equatable {
  /// One declared parameter.
  public struct Property: Sendable, Equatable {
    /// Its name.
    public var name: String
    /// Its Swift type's name (`Int`, `String`, `[Double]`…).
    public var swiftType: String
    /// Its JSON schema type (`integer`, `number`, `string`, `boolean`, `array`, `object`), if
    /// known.
    public var jsonType: String?
    /// Its default as JSON text, if it has one.
    public var defaultJSON: String?
    /// It has no default: a value must be given.
    public var isRequired: Bool
    /// The JSON values it accepts (types, an integer range, allowed strings, alternatives),
    /// when the schema states them.
    public var valueSchema: ParameterValueSchema?
  }

  /// The parameters, by name.
  public var properties: [String: Property]

  /// The schema in `json`; throws when it is not a parameter schema.
  public init(json: String) throws(ParameterSchemaError) {
    guard let object = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any]
    else {
      throw ParameterSchemaError(message: "the parameter schema is not a JSON object: \(json)")
    }
    let required = Set(object["required"] as? [String] ?? [])
    var properties: [String: Property] = [:]
    for (name, value) in object["properties"] as? [String: Any] ?? [:] {
      let fields = value as? [String: Any] ?? [:]
      let defaultJSON = fields["default"].flatMap(Self.jsonText)
      let valueSchema = ParameterValueSchema(jsonObject: fields)
      properties[name] = Property(
        name: name,
        swiftType: fields["x-swift-type"] as? String ?? valueSchema?.primaryType ?? "",
        jsonType: valueSchema?.primaryType
          ?? Self.containerType(fields["x-swift-type"] as? String ?? ""),
        defaultJSON: defaultJSON,
        isRequired: required.contains(name), valueSchema: valueSchema)
    }
    self.properties = properties
  }

  /// One problem per parameter whose value does not fit: unknown names, required parameters
  /// missing (unless `requireAll` is false), values that are not JSON or not of the declared
  /// type. `parameters` holds JSON text by name. Sorted by parameter name.
  public func problems(in parameters: [String: String], requireAll: Bool = true)
    -> [ParameterProblem]
  {
    var problems: [ParameterProblem] = []
    for (name, text) in parameters {
      guard let property = properties[name] else {
        let known = properties.keys.sorted().map { "'\($0)'" }.joined(separator: ", ")
        problems.append(
          ParameterProblem(
            parameter: name, expectedType: "", value: text,
            reason: "is not a parameter of this flow"
              + (known.isEmpty ? " (it has none)" : " (its parameters are \(known))")))
        continue
      }
      if let reason = Self.mismatch(text, property) {
        problems.append(
          ParameterProblem(
            parameter: name, expectedType: property.swiftType, value: text, reason: reason))
      }
    }
    if requireAll {
      for property in properties.values
      where property.isRequired && parameters[property.name] == nil {
        problems.append(
          ParameterProblem(
            parameter: property.name, expectedType: property.swiftType, value: nil,
            reason: "the parameter is required (it has no default)"))
      }
    }
    return problems.sorted { $0.parameter < $1.parameter }
  }

  /// `text` from a command line or a form as JSON text for `name`: JSON when it parses as
  /// JSON, otherwise (for a string parameter) the text as a JSON string.
  public func jsonText(forInput text: String, parameter name: String) -> String {
    let parses =
      (try? JSONSerialization.jsonObject(with: Data(text.utf8), options: .fragmentsAllowed)) != nil
    let type = properties[name]?.jsonType
    if type == "string" {
      if parses, text.hasPrefix("\"") { return text }
      return Self.jsonText(text) ?? "\"\""
    }
    if parses { return text }
    return Self.jsonText(text) ?? "\"\""
  }

  /// `array` or `object` for Swift's spelled-out container types (`Array<Int>`).
  private static func containerType(_ swiftType: String) -> String? {
    if swiftType.hasPrefix("Array<") || swiftType.hasPrefix("Set<") { return "array" }
    if swiftType.hasPrefix("Dictionary<String,") { return "object" }
    return nil
  }

  private static func jsonText(_ value: Any) -> String? {
    guard
      let data = try? JSONSerialization.data(
        withJSONObject: value, options: [.fragmentsAllowed, .sortedKeys, .withoutEscapingSlashes])
    else { return nil }
    return String(decoding: data, as: UTF8.self)
  }

  /// Why `text` does not fit `property`, or nil when it does.
  private static func mismatch(_ text: String, _ property: Property) -> String? {
    let trimmed = text.drop { $0.isWhitespace }
    guard var value = try? JSONDecoder().decode(SchemaJSONValue.self, from: Data(text.utf8))
    else {
      return "the value is not JSON (write strings in double quotes)"
    }
    // Containers by their first character: an empty `{}` or `[]` decodes as either.
    if trimmed.first == "[" { value = .array }
    if trimmed.first == "{" { value = .object }
    if let schema = property.valueSchema {
      if case .integer(let number) = value, property.jsonType == "integer",
        let reason = rangeProblem(number, property.swiftType)
      {
        return reason
      }
      return schema.mismatch(value)
    }
    guard let type = property.jsonType else { return nil }
    switch (type, value) {
    case ("integer", .integer(let number)): return rangeProblem(number, property.swiftType)
    case ("integer", _): return "not an integer"
    case ("number", .integer), ("number", .number): return nil
    case ("number", _): return "not a number"
    case ("string", .string): return nil
    case ("string", _): return "not a string"
    case ("boolean", .boolean): return nil
    case ("boolean", _): return "not true or false"
    case ("array", .array): return nil
    case ("array", _): return "not a JSON array"
    case ("object", .object): return nil
    case ("object", _): return "not a JSON object"
    default: return nil
    }
  }
}

/// Why `number` is out of the range of the Swift integer type `swiftType`, or nil.
private func rangeProblem(_ number: Int64, _ swiftType: String) -> String? {
  if swiftType.hasPrefix("U"), number < 0 { return "must not be negative" }
  if swiftType == "Int32", number < Int64(Int32.min) || number > Int64(Int32.max) {
    return "out of Int32's range"
  }
  if swiftType == "UInt32", number > Int64(UInt32.max) { return "out of UInt32's range" }
  return nil
}

/// A parameter schema that cannot be read.
public struct ParameterSchemaError: Error, Sendable, CustomStringConvertible {
  /// What is wrong.
  public let message: String

  /// The message.
  public var description: String { message }
}

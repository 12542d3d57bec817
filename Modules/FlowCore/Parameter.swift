import Foundation

/// A flow parameter: a named input given when the flow runs (Prefect's `Parameter`).
///
/// ```swift
/// let batchSize = Parameter("batch-size", default: 1000)   // optional, with a default
/// let region = Parameter<String>(required: "region")        // required
/// ```
/// A parameter is a ``Ref`` to its value, so it is passed to tasks like any other reference.
public typealias Parameter<Value> = Ref<Value>

extension Ref where Value: Codable & Sendable {
  /// Declares a parameter with a default value.
  public init(_ name: String, default value: Value) {
    self.init(parameter: ParameterSpec(name: name, type: Value.self, default: value))
  }

  /// Declares a required parameter: a run without a value for it fails validation.
  ///
  /// The label matters: Swift reads `Parameter<String>("region")` as a string-literal constant.
  public init(required name: String) {
    self.init(parameter: ParameterSpec(name: name, type: Value.self, default: nil))
  }

  private init(parameter spec: ParameterSpec) {
    let builder = FlowBuilder.active("Parameter(\"\(spec.name)\")")
    let node = NodeDraft(
      kind: .parameter(spec), name: spec.name, slug: spec.name, arguments: [], waitsFor: [],
      isMapped: false)
    self.init(node: builder.add(node), flowID: builder.id)
  }
}

/// What a flow knows about one of its parameters: name, type, default.
public struct ParameterSpec: Sendable {
  /// The parameter's name.
  public let name: String
  /// The declared type's name (`Int`, `[String]`…).
  public let typeName: String
  /// The default value; nil for a required parameter.
  public let defaultValue: (any Sendable)?
  /// The JSON values the type decodes from, when it states them (``ParameterSchemaDescribing``:
  /// the standard scalars, arrays, dictionaries, optionals of those, and types that adopt it).
  public let valueSchema: ParameterValueSchema?
  private let convert: @Sendable (any Sendable) -> (any Sendable)?
  private let decodeJSON: @Sendable (Data) throws -> any Sendable
  private let encodeJSON: @Sendable (any Sendable) -> String?

  init<Value: Codable & Sendable>(name: String, type: Value.Type, default value: Value?) {
    self.name = name
    typeName = String(describing: Value.self)
    defaultValue = value
    valueSchema = (Value.self as? any ParameterSchemaDescribing.Type)?.parameterValueSchema
    convert = { value in
      if let value = value as? Value { return value }
      // A whole number given for a floating-point parameter (`["ratio": 1]` for a `Double`), as
      // JSON and Prefect accept it, when the number converts exactly.
      if let integer = value as? any BinaryInteger,
        let floating = Value.self as? any BinaryFloatingPoint.Type
      {
        return Self.exactly(integer, as: floating) as? Value
      }
      return nil
    }
    decodeJSON = { try JSONDecoder().decode(Value.self, from: $0) }
    encodeJSON = { value in
      guard let value = value as? Value else { return nil }
      let encoder = JSONEncoder()
      encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
      return (try? encoder.encode(value)).map { String(decoding: $0, as: UTF8.self) }
    }
  }

  /// True when the parameter has no default and must be given.
  public var isRequired: Bool { defaultValue == nil }

  /// Whether `value` has the parameter's declared type (or converts to it exactly, as a whole
  /// number does to a floating-point type).
  public func accepts(_ value: any Sendable) -> Bool { convert(value) != nil }

  /// `value` as the declared type: itself, or a whole number converted exactly to a
  /// floating-point type; nil when it is neither.
  public func converted(_ value: any Sendable) -> (any Sendable)? { convert(value) }

  private static func exactly<Integer: BinaryInteger, Floating: BinaryFloatingPoint>(
    _ integer: Integer, as _: Floating.Type
  ) -> Floating? {
    Floating(exactly: integer)
  }

  /// Decodes a value of the declared type from JSON (as the command line's `--param` does).
  public func decode(json: Data) throws -> any Sendable { try decodeJSON(json) }

  /// Parses a command-line value into the declared type, as `prefect run --param` does: the
  /// text is read as JSON (`42`, `0.5`, `true`, `[1, 2]`, `{"a": 1}`); when that fails, as a
  /// JSON string, so `--param region=eu` needs no quotes for a `String` (or for any type that
  /// decodes from a string, such as an enum).
  public func parse(_ text: String) throws(ParameterValueError) -> any Sendable {
    var reason: String?
    do {
      return try decodeJSON(Data(text.utf8))
    } catch DecodingError.dataCorrupted(let context)
      where !context.debugDescription.contains("not valid JSON")
    {
      // The type's own check (a range, a format) said why: keep its words.
      reason = context.debugDescription
    } catch {}
    let quoted = String(decoding: (try? JSONEncoder().encode(text)) ?? Data(), as: UTF8.self)
    if let value = try? decodeJSON(Data(quoted.utf8)) { return value }
    throw ParameterValueError(parameter: name, typeName: typeName, text: text, reason: reason)
  }

  /// A value of the declared type as JSON (`1000`, `"all"`, `[1,2]`); nil for another type.
  public func json(_ value: any Sendable) -> String? { encodeJSON(value) }

  /// The default value as JSON, or nil for a required parameter.
  public var defaultJSON: String? { defaultValue.flatMap(encodeJSON) }
}

/// A command-line value that does not parse as its parameter's declared type.
public struct ParameterValueError: Error, Sendable, CustomStringConvertible {
  /// The parameter's name.
  public let parameter: String
  /// The declared type's name.
  public let typeName: String
  /// The text that was given.
  public let text: String
  /// Why the type refused the value, when it said (e.g. a value out of its range).
  public var reason: String? = nil

  /// Names the parameter, the type and the bad text.
  public var description: String {
    if let reason {
      return "parameter '\(parameter)' expects a value of type \(typeName): \(reason)"
    }
    return "parameter '\(parameter)' expects a value of type \(typeName), and '\(text)' is not "
      + "one (values are read as JSON: 42, 0.5, true, \"text\", [1, 2], {\"key\": 1})"
  }
}

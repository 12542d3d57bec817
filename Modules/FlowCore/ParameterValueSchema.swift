import Foundation

/// The JSON values a parameter type decodes from, recorded in a flow's parameter schema so that
/// a value is checked where the type's code is not at hand (the server, `run-deployment`).
///
/// ```swift
/// extension BatchSize: ParameterSchemaDescribing {
///   public static let parameterValueSchema = ParameterValueSchema.anyOf([
///     .integer(in: 1...10_000_000), .string(oneOf: ["all"]),
///   ])
/// }
/// ```
public struct ParameterValueSchema: Sendable, Equatable {
  /// The JSON types it accepts (`integer`, `number`, `string`, `boolean`, `array`, `object`,
  /// `null`); empty: any.
  public var types: [String]
  /// The smallest integer it accepts.
  public var minimum: Int64?
  /// The largest integer it accepts.
  public var maximum: Int64?
  /// The only strings it accepts; empty: any string.
  public var strings: [String]
  /// Alternatives: a value fits when it fits one of them (JSON schema's `anyOf`).
  public var alternatives: [ParameterValueSchema]

  /// A schema of `types`, optionally with an integer range and a list of allowed strings.
  public init(
    types: [String] = [], minimum: Int64? = nil, maximum: Int64? = nil, strings: [String] = [],
    alternatives: [ParameterValueSchema] = []
  ) {
    self.types = types
    self.minimum = minimum
    self.maximum = maximum
    self.strings = strings
    self.alternatives = alternatives
  }

  /// An integer, within `range` when given.
  public static func integer(in range: ClosedRange<Int64>? = nil) -> Self {
    Self(types: ["integer"], minimum: range?.lowerBound, maximum: range?.upperBound)
  }

  /// A string, one of `choices` when given.
  public static func string(oneOf choices: [String] = []) -> Self {
    Self(types: ["string"], strings: choices)
  }

  /// A number (an integer or not).
  public static let number = Self(types: ["number"])
  /// `true` or `false`.
  public static let boolean = Self(types: ["boolean"])
  /// A JSON array.
  public static let array = Self(types: ["array"])
  /// A JSON object.
  public static let object = Self(types: ["object"])
  /// `null`.
  public static let null = Self(types: ["null"])

  /// A value that fits one of `schemas`.
  public static func anyOf(_ schemas: [Self]) -> Self { Self(alternatives: schemas) }

  /// This schema or `null` (an `Optional`).
  public var orNull: Self {
    if alternatives.isEmpty, !types.isEmpty, strings.isEmpty {
      return Self(
        types: types.contains("null") ? types : types + ["null"], minimum: minimum,
        maximum: maximum)
    }
    return .anyOf([self, .null])
  }

  /// The JSON type a form's text is read as (the first one other than `null`), if there is one.
  public var primaryType: String? {
    alternatives.isEmpty ? types.first { $0 != "null" } : nil
  }

  /// The schema's JSON fields (`"type":"integer"`, `"minimum":1`…), one `"key":value` each.
  public var jsonFields: [String] {
    var fields: [String] = []
    if types.count == 1 {
      fields.append("\"type\":\(Self.quoted(types[0]))")
    } else if !types.isEmpty {
      fields.append("\"type\":[\(types.map(Self.quoted).joined(separator: ","))]")
    }
    if let minimum { fields.append("\"minimum\":\(minimum)") }
    if let maximum { fields.append("\"maximum\":\(maximum)") }
    if !strings.isEmpty {
      fields.append("\"enum\":[\(strings.map(Self.quoted).joined(separator: ","))]")
    }
    if !alternatives.isEmpty {
      fields.append("\"anyOf\":[\(alternatives.map(\.json).joined(separator: ","))]")
    }
    return fields.sorted()
  }

  /// The schema as a JSON object (sorted keys).
  public var json: String { "{\(jsonFields.joined(separator: ","))}" }

  /// The schema in a decoded JSON object; nil when it states nothing this check understands.
  init?(jsonObject fields: [String: Any]) {
    if let type = fields["type"] as? String {
      types = [type]
    } else {
      types = fields["type"] as? [String] ?? []
    }
    minimum = (fields["minimum"] as? NSNumber)?.int64Value
    maximum = (fields["maximum"] as? NSNumber)?.int64Value
    strings = fields["enum"] as? [String] ?? []
    alternatives = (fields["anyOf"] as? [[String: Any]] ?? []).compactMap {
      ParameterValueSchema(jsonObject: $0)
    }
    if types.isEmpty, strings.isEmpty, alternatives.isEmpty { return nil }
  }

  /// `an integer from 1 to 10000000 or "all"`.
  public var summary: String {
    if !alternatives.isEmpty { return alternatives.map(\.summary).joined(separator: " or ") }
    if !strings.isEmpty {
      let choices = strings.map(Self.quoted)
      return choices.count == 1 ? choices[0] : "one of \(choices.joined(separator: ", "))"
    }
    return types.map { type in
      switch type {
      case "integer":
        switch (minimum, maximum) {
        case (let low?, let high?): return "an integer from \(low) to \(high)"
        case (let low?, nil): return "an integer ≥ \(low)"
        case (nil, let high?): return "an integer ≤ \(high)"
        default: return "an integer"
        }
      case "number": return "a number"
      case "string": return "a string"
      case "boolean": return "true or false"
      case "array": return "a JSON array"
      case "object": return "a JSON object"
      case "null": return "null"
      default: return type
      }
    }.joined(separator: " or ")
  }

  /// Why `value` does not fit, or nil when it does.
  func mismatch(_ value: SchemaJSONValue) -> String? {
    if !alternatives.isEmpty {
      return alternatives.contains { $0.mismatch(value) == nil } ? nil : "must be \(summary)"
    }
    if !types.isEmpty, !types.contains(where: { Self.matches($0, value) }) {
      let plain = types.count == 1 && minimum == nil && maximum == nil && strings.isEmpty
      return plain ? Self.plainReason(types[0]) : "must be \(summary)"
    }
    if case .integer(let number) = value,
      number < (minimum ?? .min) || number > (maximum ?? .max)
    {
      return "must be \(summary)"
    }
    if case .string(let text) = value, !strings.isEmpty, !strings.contains(text) {
      return "must be \(summary)"
    }
    return nil
  }

  private static func matches(_ type: String, _ value: SchemaJSONValue) -> Bool {
    switch (type, value) {
    case ("integer", .integer), ("number", .integer), ("number", .number), ("string", .string),
      ("boolean", .boolean), ("array", .array), ("object", .object), ("null", .null):
      return true
    default:
      return false
    }
  }

  private static func plainReason(_ type: String) -> String {
    switch type {
    case "integer": return "not an integer"
    case "number": return "not a number"
    case "string": return "not a string"
    case "boolean": return "not true or false"
    case "array": return "not a JSON array"
    case "object": return "not a JSON object"
    default: return "must be \(type)"
    }
  }

  private static func quoted(_ text: String) -> String {
    let data = try? JSONEncoder().encode(text)
    return data.map { String(decoding: $0, as: UTF8.self) } ?? "\"\""
  }
}

/// A parameter type that states the JSON values it decodes from, so that its values are
/// checked before a run starts (a wrapper such as a batch size that is a count or `"all"`).
public protocol ParameterSchemaDescribing {
  /// The JSON values the type decodes from.
  static var parameterValueSchema: ParameterValueSchema { get }
}

extension Optional: ParameterSchemaDescribing where Wrapped: ParameterSchemaDescribing {
  /// The wrapped type's values or `null`.
  public static var parameterValueSchema: ParameterValueSchema {
    Wrapped.parameterValueSchema.orNull
  }
}

extension Int: ParameterSchemaDescribing {
  /// An integer.
  public static var parameterValueSchema: ParameterValueSchema { .integer() }
}

extension Int64: ParameterSchemaDescribing {
  /// An integer.
  public static var parameterValueSchema: ParameterValueSchema { .integer() }
}

extension Int32: ParameterSchemaDescribing {
  /// An integer.
  public static var parameterValueSchema: ParameterValueSchema { .integer() }
}

extension UInt: ParameterSchemaDescribing {
  /// An integer.
  public static var parameterValueSchema: ParameterValueSchema { .integer() }
}

extension UInt64: ParameterSchemaDescribing {
  /// An integer.
  public static var parameterValueSchema: ParameterValueSchema { .integer() }
}

extension UInt32: ParameterSchemaDescribing {
  /// An integer.
  public static var parameterValueSchema: ParameterValueSchema { .integer() }
}

extension Double: ParameterSchemaDescribing {
  /// A number.
  public static var parameterValueSchema: ParameterValueSchema { .number }
}

extension Float: ParameterSchemaDescribing {
  /// A number.
  public static var parameterValueSchema: ParameterValueSchema { .number }
}

extension String: ParameterSchemaDescribing {
  /// A string.
  public static var parameterValueSchema: ParameterValueSchema { .string() }
}

extension Bool: ParameterSchemaDescribing {
  /// `true` or `false`.
  public static var parameterValueSchema: ParameterValueSchema { .boolean }
}

extension Array: ParameterSchemaDescribing {
  /// A JSON array.
  public static var parameterValueSchema: ParameterValueSchema { .array }
}

extension Set: ParameterSchemaDescribing {
  /// A JSON array.
  public static var parameterValueSchema: ParameterValueSchema { .array }
}

extension Dictionary: ParameterSchemaDescribing where Key == String {
  /// A JSON object.
  public static var parameterValueSchema: ParameterValueSchema { .object }
}

/// A JSON value's kind (and an integer's or a string's value), as the parameter check needs it.
enum SchemaJSONValue: Decodable {
  case null, boolean
  case integer(Int64)
  case number
  case string(String)
  case array, object

  init(from decoder: any Decoder) throws {
    let container = try decoder.singleValueContainer()
    if container.decodeNil() {
      self = .null
    } else if (try? container.decode(Bool.self)) != nil {
      self = .boolean
    } else if let value = try? container.decode(Int64.self) {
      self = .integer(value)
    } else if (try? container.decode(Double.self)) != nil {
      self = .number
    } else if let text = try? container.decode(String.self) {
      self = .string(text)
    } else if (try? container.decode([SchemaJSONValue].self)) != nil {
      self = .array
    } else {
      _ = try container.decode([String: SchemaJSONValue].self)
      self = .object
    }
  }
}

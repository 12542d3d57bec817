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
  private let accepts: @Sendable (any Sendable) -> Bool
  private let decodeJSON: @Sendable (Data) throws -> any Sendable

  init<Value: Codable & Sendable>(name: String, type: Value.Type, default value: Value?) {
    self.name = name
    typeName = String(describing: Value.self)
    defaultValue = value
    accepts = { $0 is Value }
    decodeJSON = { try JSONDecoder().decode(Value.self, from: $0) }
  }

  /// True when the parameter has no default and must be given.
  public var isRequired: Bool { defaultValue == nil }

  /// Whether `value` has the parameter's declared type.
  public func accepts(_ value: any Sendable) -> Bool { accepts(value) }

  /// Decodes a value of the declared type from JSON (as the command line's `--param` does).
  public func decode(json: Data) throws -> any Sendable { try decodeJSON(json) }
}

import Foundation

/// Turns a task's output into bytes and back; its name is stored with the bytes, so that
/// reading back never guesses.
public struct ResultSerializer: Sendable {
  /// The name stored with the value: `json`, `string`, `data` or `void`.
  public let name: String
  /// The output type's name.
  public let typeName: String
  private let encodeValue: @Sendable (any Sendable) throws -> Data
  private let decodeValue: @Sendable (Data) throws -> any Sendable

  /// Serializes `value` (which must have the serializer's type).
  public func encode(_ value: any Sendable) throws(ResultStoreError) -> StoredResult {
    do {
      return StoredResult(serializer: name, typeName: typeName, payload: try encodeValue(value))
    } catch {
      throw ResultStoreError(
        code: .serialization, location: typeName, message: "cannot encode the value: \(error)")
    }
  }

  /// Reads a stored value back; throws when it was written by another serializer or for
  /// another type, or when the bytes do not decode.
  public func decode(_ stored: StoredResult, at location: String) throws(ResultStoreError)
    -> any Sendable
  {
    guard stored.serializer == name, stored.typeName == typeName else {
      throw ResultStoreError(
        code: .wrongType, location: location,
        message:
          "holds a \(stored.typeName) written by the '\(stored.serializer)' serializer, but a "
          + "\(typeName) ('\(name)') was expected; point the task at another location")
    }
    do {
      return try decodeValue(stored.payload)
    } catch {
      throw ResultStoreError(
        code: .corrupt, location: location, message: "cannot decode the \(typeName): \(error)")
    }
  }

  /// True when `value` is nothing to persist: a `Void` output or `nil` (Prefect writes nothing
  /// for `None`).
  public func isNothing(_ value: any Sendable) -> Bool {
    if name == "void" { return true }
    let mirror = Mirror(reflecting: value)
    return mirror.displayStyle == .optional && mirror.children.isEmpty
  }

  /// The serializer for `type`: pass-through for `Data` and `String`, a marker for `Void`,
  /// JSON for other `Codable` types; nil for a type that cannot be persisted.
  public static func automatic<T: Sendable>(for type: T.Type) -> ResultSerializer? {
    // Without the module: `Data` is `FoundationEssentials.Data` on Linux, `Foundation.Data` on
    // macOS, and a file written on one must read on the other.
    let typeName = String(describing: T.self)
    if T.self == Data.self {
      return ResultSerializer(
        name: "data", typeName: typeName, encodeValue: { $0 as! Data }, decodeValue: { $0 })
    }
    if T.self == String.self {
      return ResultSerializer(
        name: "string", typeName: typeName, encodeValue: { Data(($0 as! String).utf8) },
        decodeValue: { String(decoding: $0, as: UTF8.self) })
    }
    if T.self == Void.self {
      return ResultSerializer(
        name: "void", typeName: typeName, encodeValue: { _ in Data() }, decodeValue: { _ in () })
    }
    guard let codable = T.self as? any Codable.Type else { return nil }
    let json = JSONCoding(type: codable)
    return ResultSerializer(
      name: "json", typeName: typeName, encodeValue: { try json.encode($0) },
      decodeValue: { try json.decode($0) as! T })
  }
}

/// JSON encoding and decoding for a `Codable` type known only as a metatype.
///
/// `@unchecked Sendable`: it holds only a metatype, an immutable reference to type metadata; the
/// compiler lacks the `SendableMetatype` proof for an existential metatype.
private struct JSONCoding: @unchecked Sendable {
  let type: any Decodable.Type

  func encode(_ value: any Sendable) throws -> Data {
    func encodeOpened<Value: Encodable>(_ value: Value) throws -> Data {
      let encoder = JSONEncoder()
      encoder.outputFormatting = [.sortedKeys]
      // A top-level nil or scalar is valid JSON with Foundation's encoder.
      return try encoder.encode(value)
    }
    let encodable = value as! any Encodable
    return try encodeOpened(encodable)
  }

  func decode(_ data: Data) throws -> Any {
    func decodeOpened<Value: Decodable>(_ type: Value.Type) throws -> Any {
      try JSONDecoder().decode(type, from: data)
    }
    let metatype: any Decodable.Type = type
    return try decodeOpened(metatype)
  }
}

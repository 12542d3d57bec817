import FlowClusterProtocol
import FlowCore
import Foundation

/// How task inputs and outputs cross the wire: common values (`Int`, `Double`, `Bool`, `String`,
/// `Data`, `Void`, and arrays of `Int`, `Double`, `Bool`, `String`) in a compact binary form,
/// anything else as its task's serializer writes it (JSON for other `Codable` types). The first
/// byte tells which; a compact value decodes only where the task expects exactly that type.
/// Stored results (result stores, checkpoints) keep their serializer's format: this is the
/// transport only.
public enum ClusterValueCoding {
  /// The value in the serializer's own bytes.
  static let serialized: UInt8 = 0
  static let int: UInt8 = 1
  static let double: UInt8 = 2
  static let bool: UInt8 = 3
  static let string: UInt8 = 4
  static let data: UInt8 = 5
  static let void: UInt8 = 6
  static let ints: UInt8 = 7
  static let doubles: UInt8 = 8
  static let bools: UInt8 = 9
  static let strings: UInt8 = 10

  /// The type names (as serializers record them) that each compact tag decodes to.
  private static let typeNames: [UInt8: String] = [
    int: String(describing: Int.self), double: String(describing: Double.self),
    bool: String(describing: Bool.self), string: String(describing: String.self),
    data: String(describing: Data.self), void: String(describing: Void.self),
    ints: String(describing: [Int].self), doubles: String(describing: [Double].self),
    bools: String(describing: [Bool].self), strings: String(describing: [String].self),
  ]

  private static let tags: [String: UInt8] = Dictionary(
    uniqueKeysWithValues: typeNames.map { ($1, $0) })

  /// Encodes `value` for the wire; throws what `serializer` throws for a value it cannot encode.
  public static func encode(_ value: any Sendable, _ serializer: ResultSerializer)
    throws(ResultStoreError) -> [UInt8]
  {
    var writer = WireWriter()
    // Only where the task's type is exactly the compact one (a `Int?` holding 5 casts to `Int`
    // too, and must stay an optional); the type decides first, so that a value is cast once.
    guard let compact = tags[serializer.typeName] else { return try serialized(value, serializer) }
    switch compact {
    case int:
      guard let value = value as? Int else { break }
      writer.bytes.append(int)
      writer.int(value)
      return writer.bytes
    case double:
      // Non-finite doubles go through the serializer, which refuses them as before.
      guard let value = value as? Double, value.isFinite else { break }
      writer.bytes.append(double)
      writer.double(value)
      return writer.bytes
    case bool:
      guard let value = value as? Bool else { break }
      return [bool, value ? 1 : 0]
    case string:
      guard let value = value as? String else { break }
      writer.bytes.append(string)
      writer.string(value)
      return writer.bytes
    case data:
      guard let value = value as? Data else { break }
      writer.bytes.reserveCapacity(value.count + 1)
      writer.bytes.append(data)
      writer.bytes.append(contentsOf: value)
      return writer.bytes
    case void:
      guard value is Void else { break }
      return [void]
    case ints:
      guard let values = value as? [Int] else { break }
      writer.bytes.append(ints)
      writer.varint(UInt64(values.count))
      for value in values { writer.int(value) }
      return writer.bytes
    case doubles:
      guard let values = value as? [Double], values.allSatisfy(\.isFinite) else { break }
      writer.bytes.reserveCapacity(values.count * 8 + 4)
      writer.bytes.append(doubles)
      writer.varint(UInt64(values.count))
      for value in values { writer.double(value) }
      return writer.bytes
    case bools:
      guard let values = value as? [Bool] else { break }
      writer.bytes.append(bools)
      writer.varint(UInt64(values.count))
      for value in values { writer.bytes.append(value ? 1 : 0) }
      return writer.bytes
    case strings:
      guard let values = value as? [String] else { break }
      writer.bytes.append(strings)
      writer.varint(UInt64(values.count))
      for value in values { writer.string(value) }
      return writer.bytes
    default:
      break
    }
    return try serialized(value, serializer)
  }

  private static func serialized(_ value: any Sendable, _ serializer: ResultSerializer)
    throws(ResultStoreError) -> [UInt8]
  {
    let payload = try serializer.encode(value).payload
    var bytes: [UInt8] = []
    bytes.reserveCapacity(payload.count + 1)
    bytes.append(serialized)
    bytes.append(contentsOf: payload)
    return bytes
  }

  /// Decodes bytes written by ``encode(_:_:)`` into a value of the serializer's type;
  /// `location` (built only for an error or the serializer) names the value in errors.
  public static func decode(
    _ bytes: [UInt8], _ serializer: ResultSerializer, at location: @autoclosure () -> String
  ) throws(ResultStoreError) -> any Sendable {
    guard let tag = bytes.first else {
      throw ResultStoreError(
        code: .corrupt, location: location(),
        message: "no bytes for the \(serializer.typeName); run the same build everywhere")
    }
    if tag == serialized {
      return try serializer.decode(
        StoredResult(
          serializer: serializer.name, typeName: serializer.typeName,
          payload: Data(bytes[1...])),
        at: location())
    }
    guard let name = typeNames[tag], name == serializer.typeName else {
      throw ResultStoreError(
        code: .wrongType, location: location(),
        message:
          "holds a \(typeNames[tag] ?? "value of unknown kind \(tag)"), but a "
          + "\(serializer.typeName) was expected; run the same build on the scheduler and workers")
    }
    var reader = WireReader(bytes)
    reader.offset = 1
    do {
      let value: any Sendable
      switch tag {
      case int: value = try reader.int()
      case double: value = try reader.double()
      case bool: value = try reader.byte() != 0
      case string: value = try reader.string()
      case data:
        reader.offset = bytes.count
        value = Data(bytes[1...])
      case void: value = ()
      case ints:
        let count = try reader.count()
        var values: [Int] = []
        values.reserveCapacity(count)
        for _ in 0..<count { values.append(try reader.int()) }
        value = values
      case doubles:
        let count = try reader.count()
        var values: [Double] = []
        values.reserveCapacity(count)
        for _ in 0..<count { values.append(try reader.double()) }
        value = values
      case bools:
        let count = try reader.count()
        var values: [Bool] = []
        values.reserveCapacity(count)
        for _ in 0..<count { values.append(try reader.byte() != 0) }
        value = values
      default:  // strings
        let count = try reader.count()
        var values: [String] = []
        values.reserveCapacity(count)
        for _ in 0..<count { values.append(try reader.string()) }
        value = values
      }
      guard reader.offset == bytes.count else {
        throw ClusterProtocolError(.malformedFrame, "stray bytes after the value")
      }
      return value
    } catch {
      throw ResultStoreError(
        code: .corrupt, location: location(), message: "cannot decode the \(name): \(error)")
    }
  }
}

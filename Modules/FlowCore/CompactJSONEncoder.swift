import Foundation

/// Encodes `Encodable` values as compact JSON written straight into bytes, for the run
/// recorder's hot path (Foundation's `JSONEncoder` builds a tree of boxed values first and
/// costs several times more per value).
///
/// The output is what `JSONDecoder` reads with its default strategies: `Date` as seconds since
/// the reference date, `Data` as Base64, `URL` as its absolute string. Keys keep the order the
/// value encodes them in (not sorted). Containers must be used in order, as synthesized
/// conformances do: writing into a container after a later sibling was opened throws.
package struct CompactJSONEncoder: Sendable {
  /// An encoder.
  package init() {}

  /// `value` as JSON.
  package func encode<T: Encodable>(_ value: T) throws -> Data {
    let sink = CompactJSONSink()
    try sink.encodeValue(value)
    return Data(sink.bytes)
  }
}

/// The bytes written so far and the containers still open.
private final class CompactJSONSink {
  // One sink per encode call on one task: no exclusivity checks on every byte.
  @exclusivity(unchecked) var bytes: [UInt8] = []
  /// Open containers, innermost last: the byte that closes each, and whether it is empty.
  @exclusivity(unchecked) var open: [(closer: UInt8, empty: Bool)] = []

  init() { bytes.reserveCapacity(256) }

  /// Closes containers opened inside the one at `depth`, then readies it for an element
  /// (a comma after the first). Throws when that container was closed already.
  func element(at depth: Int, path: [any CodingKey]) throws {
    while open.count > depth + 1 { bytes.append(open.removeLast().closer) }
    guard open.count == depth + 1 else {
      throw EncodingError.invalidValue(
        (), EncodingError.Context(codingPath: path, debugDescription: "container already closed"))
    }
    if open[depth].empty {
      open[depth].empty = false
    } else {
      bytes.append(UInt8(ascii: ","))
    }
  }

  func push(opener: UInt8, closer: UInt8) -> Int {
    bytes.append(opener)
    open.append((closer, true))
    return open.count - 1
  }

  func encodeValue<T: Encodable>(_ value: T) throws {
    // Type comparisons, not casts: a cast of every value costs more than its encoding.
    if T.self == Data.self {
      string((value as! Data).base64EncodedString())
      return
    }
    if T.self == Date.self {
      try double((value as! Date).timeIntervalSinceReferenceDate)
      return
    }
    if T.self == UUID.self {
      // What UUID's own encoding writes (`uuidString`), without its formatting.
      bytes.append(UInt8(ascii: "\""))
      bytes.append(contentsOf: RunStoreCoding.text((value as! UUID), uppercase: true).utf8)
      bytes.append(UInt8(ascii: "\""))
      return
    }
    if T.self == URL.self {
      string((value as! URL).absoluteString)
      return
    }
    let depth = open.count
    let start = bytes.count
    try value.encode(to: CompactJSONValueEncoder(sink: self, depth: depth))
    while open.count > depth { bytes.append(open.removeLast().closer) }
    if bytes.count == start { bytes.append(contentsOf: "{}".utf8) }
  }

  func string(_ text: String) {
    bytes.append(UInt8(ascii: "\""))
    let plain = text.utf8.allSatisfy {
      $0 >= 0x20 && $0 != UInt8(ascii: "\"") && $0 != UInt8(ascii: "\\")
    }
    if plain {
      bytes.append(contentsOf: text.utf8)
      bytes.append(UInt8(ascii: "\""))
      return
    }
    for byte in text.utf8 {
      switch byte {
      case UInt8(ascii: "\""): bytes.append(contentsOf: #"\""#.utf8)
      case UInt8(ascii: "\\"): bytes.append(contentsOf: #"\\"#.utf8)
      case UInt8(ascii: "\n"): bytes.append(contentsOf: #"\n"#.utf8)
      case UInt8(ascii: "\r"): bytes.append(contentsOf: #"\r"#.utf8)
      case UInt8(ascii: "\t"): bytes.append(contentsOf: #"\t"#.utf8)
      case 0..<0x20:
        let hex: [UInt8] = Array("0123456789abcdef".utf8)
        bytes.append(contentsOf: #"\u00"#.utf8)
        bytes.append(hex[Int(byte >> 4)])
        bytes.append(hex[Int(byte & 0xf)])
      default: bytes.append(byte)
      }
    }
    bytes.append(UInt8(ascii: "\""))
  }

  func integer<I: BinaryInteger>(_ value: I) {
    bytes.append(contentsOf: String(value).utf8)
  }

  func double(_ value: Double) throws {
    guard value.isFinite else {
      throw EncodingError.invalidValue(
        value, EncodingError.Context(codingPath: [], debugDescription: "\(value) is not JSON"))
    }
    bytes.append(contentsOf: value.description.utf8)
  }

  func literal(_ text: StaticString) {
    text.withUTF8Buffer { bytes.append(contentsOf: $0) }
  }
}

/// The `Encoder` handed to each value: its containers write into the shared sink.
private struct CompactJSONValueEncoder: Encoder {
  let sink: CompactJSONSink
  /// How many containers were open when the value started (its own go above).
  let depth: Int
  var codingPath: [any CodingKey] { [] }
  var userInfo: [CodingUserInfoKey: Any] { [:] }

  func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
    // A value asking for its keyed container twice writes into the same object.
    if sink.open.count == depth + 1, sink.open[depth].closer == UInt8(ascii: "}") {
      return KeyedEncodingContainer(CompactJSONKeyed<Key>(sink: sink, depth: depth))
    }
    let index = sink.push(opener: UInt8(ascii: "{"), closer: UInt8(ascii: "}"))
    return KeyedEncodingContainer(CompactJSONKeyed<Key>(sink: sink, depth: index))
  }

  func unkeyedContainer() -> any UnkeyedEncodingContainer {
    let index = sink.push(opener: UInt8(ascii: "["), closer: UInt8(ascii: "]"))
    return CompactJSONUnkeyed(sink: sink, depth: index)
  }

  func singleValueContainer() -> any SingleValueEncodingContainer {
    CompactJSONSingle(sink: sink)
  }
}

private struct CompactJSONKeyed<Key: CodingKey>: KeyedEncodingContainerProtocol {
  let sink: CompactJSONSink
  let depth: Int
  var codingPath: [any CodingKey] { [] }

  private func key(_ key: Key) throws {
    try sink.element(at: depth, path: [key])
    sink.string(key.stringValue)
    sink.bytes.append(UInt8(ascii: ":"))
  }

  mutating func encodeNil(forKey key: Key) throws {
    try self.key(key)
    sink.literal("null")
  }
  mutating func encode(_ value: Bool, forKey key: Key) throws {
    try self.key(key)
    sink.literal(value ? "true" : "false")
  }
  mutating func encode(_ value: String, forKey key: Key) throws {
    try self.key(key)
    sink.string(value)
  }
  mutating func encode(_ value: Double, forKey key: Key) throws {
    try self.key(key)
    try sink.double(value)
  }
  mutating func encode(_ value: Float, forKey key: Key) throws {
    try self.key(key)
    try sink.double(Double(value))
  }
  mutating func encode(_ value: Int, forKey key: Key) throws {
    try self.key(key)
    sink.integer(value)
  }
  mutating func encode(_ value: Int8, forKey key: Key) throws {
    try self.key(key)
    sink.integer(value)
  }
  mutating func encode(_ value: Int16, forKey key: Key) throws {
    try self.key(key)
    sink.integer(value)
  }
  mutating func encode(_ value: Int32, forKey key: Key) throws {
    try self.key(key)
    sink.integer(value)
  }
  mutating func encode(_ value: Int64, forKey key: Key) throws {
    try self.key(key)
    sink.integer(value)
  }
  mutating func encode(_ value: UInt, forKey key: Key) throws {
    try self.key(key)
    sink.integer(value)
  }
  mutating func encode(_ value: UInt8, forKey key: Key) throws {
    try self.key(key)
    sink.integer(value)
  }
  mutating func encode(_ value: UInt16, forKey key: Key) throws {
    try self.key(key)
    sink.integer(value)
  }
  mutating func encode(_ value: UInt32, forKey key: Key) throws {
    try self.key(key)
    sink.integer(value)
  }
  mutating func encode(_ value: UInt64, forKey key: Key) throws {
    try self.key(key)
    sink.integer(value)
  }
  mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
    try self.key(key)
    try sink.encodeValue(value)
  }

  mutating func nestedContainer<NestedKey: CodingKey>(
    keyedBy keyType: NestedKey.Type, forKey key: Key
  ) -> KeyedEncodingContainer<NestedKey> {
    // Out of order use is reported by the next write (the container is closed by then).
    try? self.key(key)
    let index = sink.push(opener: UInt8(ascii: "{"), closer: UInt8(ascii: "}"))
    return KeyedEncodingContainer(CompactJSONKeyed<NestedKey>(sink: sink, depth: index))
  }

  mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
    try? self.key(key)
    let index = sink.push(opener: UInt8(ascii: "["), closer: UInt8(ascii: "]"))
    return CompactJSONUnkeyed(sink: sink, depth: index)
  }

  mutating func superEncoder() -> any Encoder {
    try? sink.element(at: depth, path: [])
    sink.string("super")
    sink.bytes.append(UInt8(ascii: ":"))
    return CompactJSONValueEncoder(sink: sink, depth: sink.open.count)
  }

  mutating func superEncoder(forKey key: Key) -> any Encoder {
    try? self.key(key)
    return CompactJSONValueEncoder(sink: sink, depth: sink.open.count)
  }
}

private struct CompactJSONUnkeyed: UnkeyedEncodingContainer {
  let sink: CompactJSONSink
  let depth: Int
  var codingPath: [any CodingKey] { [] }
  private(set) var count = 0

  init(sink: CompactJSONSink, depth: Int) {
    self.sink = sink
    self.depth = depth
  }

  private mutating func next() throws {
    try sink.element(at: depth, path: [])
    count += 1
  }

  mutating func encodeNil() throws {
    try next()
    sink.literal("null")
  }
  mutating func encode(_ value: Bool) throws {
    try next()
    sink.literal(value ? "true" : "false")
  }
  mutating func encode(_ value: String) throws {
    try next()
    sink.string(value)
  }
  mutating func encode(_ value: Double) throws {
    try next()
    try sink.double(value)
  }
  mutating func encode(_ value: Float) throws {
    try next()
    try sink.double(Double(value))
  }
  mutating func encode(_ value: Int) throws {
    try next()
    sink.integer(value)
  }
  mutating func encode(_ value: Int64) throws {
    try next()
    sink.integer(value)
  }
  mutating func encode(_ value: UInt8) throws {
    try next()
    sink.integer(value)
  }
  mutating func encode<T: Encodable>(_ value: T) throws {
    try next()
    try sink.encodeValue(value)
  }

  mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type)
    -> KeyedEncodingContainer<NestedKey>
  {
    try? next()
    let index = sink.push(opener: UInt8(ascii: "{"), closer: UInt8(ascii: "}"))
    return KeyedEncodingContainer(CompactJSONKeyed<NestedKey>(sink: sink, depth: index))
  }

  mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
    try? next()
    let index = sink.push(opener: UInt8(ascii: "["), closer: UInt8(ascii: "]"))
    return CompactJSONUnkeyed(sink: sink, depth: index)
  }

  mutating func superEncoder() -> any Encoder {
    try? next()
    return CompactJSONValueEncoder(sink: sink, depth: sink.open.count)
  }
}

private struct CompactJSONSingle: SingleValueEncodingContainer {
  let sink: CompactJSONSink
  var codingPath: [any CodingKey] { [] }

  mutating func encodeNil() throws { sink.literal("null") }
  mutating func encode(_ value: Bool) throws { sink.literal(value ? "true" : "false") }
  mutating func encode(_ value: String) throws { sink.string(value) }
  mutating func encode(_ value: Double) throws { try sink.double(value) }
  mutating func encode(_ value: Float) throws { try sink.double(Double(value)) }
  mutating func encode(_ value: Int) throws { sink.integer(value) }
  mutating func encode(_ value: Int8) throws { sink.integer(value) }
  mutating func encode(_ value: Int16) throws { sink.integer(value) }
  mutating func encode(_ value: Int32) throws { sink.integer(value) }
  mutating func encode(_ value: Int64) throws { sink.integer(value) }
  mutating func encode(_ value: UInt) throws { sink.integer(value) }
  mutating func encode(_ value: UInt8) throws { sink.integer(value) }
  mutating func encode(_ value: UInt16) throws { sink.integer(value) }
  mutating func encode(_ value: UInt32) throws { sink.integer(value) }
  mutating func encode(_ value: UInt64) throws { sink.integer(value) }
  mutating func encode<T: Encodable>(_ value: T) throws { try sink.encodeValue(value) }
}

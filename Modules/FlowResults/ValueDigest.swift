import Foundation

/// Fingerprints of values for cache validation: the value's sorted-key JSON, hashed with two
/// FNV-1a lanes (128 bits; not cryptographic, and not meant to resist a chosen collision).
enum ValueDigest {
  /// The digest of `value`, or nil when it is not `Encodable`.
  static func of(_ value: any Sendable) -> String? {
    guard let encodable = value as? any Encodable else { return nil }
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    guard let data = try? encoder.encode(encodable) else { return nil }
    return hash(data)
  }

  /// The digest of several values in order, or nil when one is not `Encodable`.
  static func of(_ values: [any Sendable]) -> String? {
    var parts: [String] = []
    for value in values {
      guard let digest = of(value) else { return nil }
      parts.append(digest)
    }
    return hash(Data(parts.joined(separator: ",").utf8))
  }

  private static func hash(_ data: Data) -> String {
    var first: UInt64 = 0xCBF2_9CE4_8422_2325
    var second: UInt64 = 0x6C62_272E_07BB_0142
    for byte in data {
      first = (first ^ UInt64(byte)) &* 0x100_0000_01B3
      second = (second ^ UInt64(byte)) &* 0x100_0000_01B3
      second = (second << 5) | (second >> 59)
    }
    return String(first, radix: 16) + String(second, radix: 16)
  }
}

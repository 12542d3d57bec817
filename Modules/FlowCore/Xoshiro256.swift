import Foundation

/// The xoshiro256** generator (Blackman and Vigna): fast, 256 bits of state, not cryptographic.
/// Shared by the system ID generator and FlowTesting's seeded random source.
package struct Xoshiro256: Sendable {
  private var s0, s1, s2, s3: UInt64

  /// A generator whose state is expanded from `seed` with SplitMix64.
  package init(seed: UInt64) {
    var mixer = seed
    func splitMix() -> UInt64 {
      mixer &+= 0x9E37_79B9_7F4A_7C15
      var z = mixer
      z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
      z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
      return z ^ (z >> 31)
    }
    (s0, s1, s2, s3) = (splitMix(), splitMix(), splitMix(), splitMix())
  }

  /// The next value of the sequence.
  package mutating func next() -> UInt64 {
    let result = rotate(s1 &* 5, 7) &* 9
    let t = s1 << 17
    s2 ^= s0
    s3 ^= s1
    s1 ^= s2
    s0 ^= s3
    s2 ^= t
    s3 = rotate(s3, 45)
    return result
  }

  /// A version-4, RFC 4122 variant UUID made of the next 128 bits.
  package mutating func nextIdentifier() -> UUID {
    var uuid: uuid_t = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    let (high, low) = (next(), next())
    withUnsafeMutableBytes(of: &uuid) { bytes in
      bytes.storeBytes(of: high.littleEndian, as: UInt64.self)
      bytes.storeBytes(of: low.littleEndian, toByteOffset: 8, as: UInt64.self)
      bytes[6] = (bytes[6] & 0x0F) | 0x40  // version 4
      bytes[8] = (bytes[8] & 0x3F) | 0x80  // RFC 4122 variant
    }
    return UUID(uuid: uuid)
  }

  private func rotate(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }
}

import FlowCore
import Synchronization

/// A deterministic ``RandomSource``: the same seed gives the same sequence (xoshiro256**).
///
/// Derive independent streams for subsystems with ``derive(_:)`` so that adding draws in one
/// place does not shift the values another place sees.
public final class SeededRandomSource: RandomSource {
  /// The seed this source started from.
  public let seed: UInt64
  private let state: Mutex<(UInt64, UInt64, UInt64, UInt64)>

  /// A source seeded with `seed`.
  public init(seed: UInt64) {
    self.seed = seed
    var mixer = seed
    func splitMix() -> UInt64 {
      mixer &+= 0x9E37_79B9_7F4A_7C15
      var z = mixer
      z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
      z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
      return z ^ (z >> 31)
    }
    state = Mutex((splitMix(), splitMix(), splitMix(), splitMix()))
  }

  /// The next value of the sequence.
  public func nextUInt64() -> UInt64 {
    state.withLock { s in
      let result = rotate(s.1 &* 5, 7) &* 9
      let t = s.1 << 17
      s.2 ^= s.0
      s.3 ^= s.1
      s.1 ^= s.2
      s.0 ^= s.3
      s.2 ^= t
      s.3 = rotate(s.3, 45)
      return result
    }
  }

  /// An independent source for the subsystem `name`, derived from this seed only.
  public func derive(_ name: String) -> SeededRandomSource {
    var hash: UInt64 = 0xCBF2_9CE4_8422_2325  // FNV-1a: stable across processes, unlike Hasher
    for byte in name.utf8 {
      hash ^= UInt64(byte)
      hash &*= 0x100_0000_01B3
    }
    return SeededRandomSource(seed: seed ^ hash)
  }

  private func rotate(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }
}

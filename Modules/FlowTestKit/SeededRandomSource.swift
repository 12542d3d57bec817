import FlowCore
import Synchronization

/// A deterministic ``RandomSource``: the same seed gives the same sequence (xoshiro256**).
///
/// Derive independent streams for subsystems with ``derive(_:)`` so that adding draws in one
/// place does not shift the values another place sees.
public final class SeededRandomSource: RandomSource {
  /// The seed this source started from.
  public let seed: UInt64
  private let generator: Mutex<Xoshiro256>

  /// A source seeded with `seed`.
  public init(seed: UInt64) {
    self.seed = seed
    generator = Mutex(Xoshiro256(seed: seed))
  }

  /// The next value of the sequence.
  public func nextUInt64() -> UInt64 { generator.withLock { $0.next() } }

  /// An independent source for the subsystem `name`, derived from this seed only.
  public func derive(_ name: String) -> SeededRandomSource {
    var hash: UInt64 = 0xCBF2_9CE4_8422_2325  // FNV-1a: stable across processes, unlike Hasher
    for byte in name.utf8 {
      hash ^= UInt64(byte)
      hash &*= 0x100_0000_01B3
    }
    return SeededRandomSource(seed: seed ^ hash)
  }
}

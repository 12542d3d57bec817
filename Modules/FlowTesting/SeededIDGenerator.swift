import FlowCore
import Foundation

/// A deterministic ``IDGenerator``: version-4-shaped UUIDs drawn from a seeded source.
public struct SeededIDGenerator: IDGenerator {
  private let random: SeededRandomSource

  /// A generator seeded with `seed`.
  public init(seed: UInt64) { random = SeededRandomSource(seed: seed) }

  /// The next UUID of the sequence.
  public func next() -> UUID {
    let high = random.nextUInt64()
    let low = random.nextUInt64()
    var bytes = (0..<8).map { UInt8(truncatingIfNeeded: high >> (8 * $0)) }
    bytes += (0..<8).map { UInt8(truncatingIfNeeded: low >> (8 * $0)) }
    bytes[6] = (bytes[6] & 0x0F) | 0x40  // version 4
    bytes[8] = (bytes[8] & 0x3F) | 0x80  // RFC 4122 variant
    return UUID(
      uuid: (
        bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7],
        bytes[8], bytes[9], bytes[10], bytes[11], bytes[12], bytes[13], bytes[14], bytes[15]
      ))
  }
}

extension RunEnvironment {
  /// A fully deterministic environment: a `TestClock` and sources seeded from `seed`.
  public static func testing(seed: UInt64, clock: TestClock = TestClock()) -> RunEnvironment {
    let random = SeededRandomSource(seed: seed)
    return RunEnvironment(
      clock: clock, random: random.derive("jitter"),
      ids: SeededIDGenerator(seed: random.derive("ids").seed))
  }
}

import FlowCore
import Foundation
import Synchronization

/// A deterministic ``IDGenerator``: version-4-shaped UUIDs drawn from a seeded sequence.
public final class SeededIDGenerator: IDGenerator {
  private let generator: Mutex<Xoshiro256>

  /// A generator seeded with `seed`.
  public init(seed: UInt64) { generator = Mutex(Xoshiro256(seed: seed)) }

  /// The next UUID of the sequence.
  public func next() -> UUID { generator.withLock { $0.nextIdentifier() } }
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

import Foundation
import Synchronization

/// The real ID generator: random version-4 UUIDs.
///
/// It seeds a fast generator once from the operating system instead of calling `UUID()` per
/// ID (which opens `/dev/urandom` on Linux each time); IDs are unique, not secret.
public final class SystemIDGenerator: IDGenerator {
  private let generator: Mutex<Xoshiro256>

  /// Creates a generator with a fresh random seed.
  public init() {
    var system = SystemRandomNumberGenerator()
    generator = Mutex(Xoshiro256(seed: system.next()))
  }

  /// A random UUID.
  public func next() -> UUID { generator.withLock { $0.nextIdentifier() } }
}

import Foundation

/// The real ID generator: random version-4 UUIDs.
public struct SystemIDGenerator: IDGenerator {
  /// Creates the generator.
  public init() {}

  /// A random UUID.
  public func next() -> UUID { UUID() }
}

/// The real random source: the operating system's generator.
public struct SystemRandomSource: RandomSource {
  /// Creates the system source.
  public init() {}

  /// A value from `SystemRandomNumberGenerator`.
  public func nextUInt64() -> UInt64 {
    var generator = SystemRandomNumberGenerator()
    return generator.next()
  }
}

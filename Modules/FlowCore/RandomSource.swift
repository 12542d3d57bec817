/// The randomness port: a source of uniformly distributed 64-bit values.
///
/// Library code draws jitter and other random choices from the run's source, so that a seeded
/// source (`SeededRandomSource` in FlowTesting) makes a run repeatable.
public protocol RandomSource: Sendable {
  /// The next uniformly distributed 64-bit value.
  func nextUInt64() -> UInt64
}

extension RandomSource {
  /// A uniformly distributed value in `0 ..< 1`.
  public func nextUnitDouble() -> Double {
    Double(nextUInt64() >> 11) * 0x1.0p-53
  }

  /// A uniformly distributed value in `range`.
  public func nextDouble(in range: ClosedRange<Double>) -> Double {
    range.lowerBound + (range.upperBound - range.lowerBound) * nextUnitDouble()
  }

  /// A uniformly distributed value in `0 ..< bound` (bound must be positive).
  public func nextInt(below bound: Int) -> Int {
    precondition(bound > 0, "nextInt(below:) needs a positive bound, got \(bound)")
    let limit = UInt64(bound)
    let threshold = (0 &- limit) % limit  // rejection sampling: no modulo bias
    while true {
      let value = nextUInt64()
      if value >= threshold { return Int(value % limit) }
    }
  }
}

/// Adapts a ``RandomSource`` to Swift's `RandomNumberGenerator`, for `shuffled(using:)` and
/// friends.
public struct RandomSourceGenerator: RandomNumberGenerator {
  /// The source the values come from.
  public let source: any RandomSource

  /// Wraps `source`.
  public init(source: any RandomSource) { self.source = source }

  /// The next value of the source.
  public mutating func next() -> UInt64 { source.nextUInt64() }
}

import FlowCore

/// A seeded random stream owned by one subsystem of a simulation (the network, the faults, a
/// worker): a value type, so drawing from it costs no lock.
///
/// Streams are derived from the simulation's seed by name with ``derive(_:)`` (the same
/// derivation as ``SeededRandomSource/derive(_:)``), so that adding draws in one subsystem
/// never shifts the values another subsystem sees.
public struct SimulationRandom: Sendable {
  /// The seed this stream started from.
  public let seed: UInt64
  private var generator: Xoshiro256

  /// A stream seeded with `seed`.
  public init(seed: UInt64) {
    self.seed = seed
    generator = Xoshiro256(seed: seed)
  }

  /// An independent stream for the subsystem `name`, derived from this stream's seed only.
  public func derive(_ name: String) -> SimulationRandom {
    SimulationRandom(seed: Self.derivedSeed(seed, name))
  }

  /// The seed of the stream `name` derived from `seed`: `seed` xor the FNV-1a hash of `name`.
  public static func derivedSeed(_ seed: UInt64, _ name: String) -> UInt64 {
    var hash: UInt64 = 0xCBF2_9CE4_8422_2325
    for byte in name.utf8 {
      hash ^= UInt64(byte)
      hash &*= 0x100_0000_01B3
    }
    return seed ^ hash
  }

  /// The next 64 random bits.
  public mutating func next() -> UInt64 { generator.next() }

  /// A value uniformly distributed in `0 ..< 1`.
  public mutating func unit() -> Double { Double(generator.next() >> 11) * 0x1.0p-53 }

  /// True with probability `probability` (never draws when it is 0 or less).
  public mutating func chance(_ probability: Double) -> Bool {
    guard probability > 0 else { return false }
    return unit() < probability
  }

  /// A value uniformly distributed in `0 ..< bound` (bound must be positive).
  public mutating func int(below bound: Int) -> Int {
    precondition(bound > 0, "int(below:) needs a positive bound, got \(bound)")
    let limit = UInt64(bound)
    let threshold = (0 &- limit) % limit  // rejection sampling: no modulo bias
    while true {
      let value = generator.next()
      if value >= threshold { return Int(value % limit) }
    }
  }

  /// A value uniformly distributed in `range`.
  public mutating func int(in range: ClosedRange<Int>) -> Int {
    range.lowerBound + int(below: range.count)
  }

  /// A random element of `elements`, or nil when it is empty.
  public mutating func element<C: RandomAccessCollection>(of elements: C) -> C.Element?
  where C.Index == Int {
    elements.isEmpty ? nil : elements[elements.startIndex + int(below: elements.count)]
  }
}

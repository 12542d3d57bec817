import FlowCore
import FlowTestKit
import Synchronization
import Testing

/// xoshiro256** seeded with SplitMix64, written from the published reference, to check that
/// `SeededRandomSource` is the documented generator and stable across runs and platforms.
private struct ReferenceXoshiro {
  private var state: [UInt64]

  init(seed: UInt64) {
    var x = seed
    state = (0..<4).map { _ in
      x = x &+ 0x9E37_79B9_7F4A_7C15
      var z = x
      z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
      z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
      return z ^ (z >> 31)
    }
  }

  private static func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }

  mutating func next() -> UInt64 {
    let result = Self.rotl(state[1] &* 5, 7) &* 9
    let t = state[1] << 17
    state[2] ^= state[0]
    state[3] ^= state[1]
    state[1] ^= state[2]
    state[0] ^= state[3]
    state[2] ^= t
    state[3] = Self.rotl(state[3], 45)
    return result
  }
}

private func draws(_ source: some RandomSource, _ count: Int) -> [UInt64] {
  (0..<count).map { _ in source.nextUInt64() }
}

@Suite("SeededRandomSource")
struct SeededRandomSourceTests {
  @Test(arguments: [0, 1, 42, UInt64.max])
  func sameSeedGivesTheSameSequence(seed: UInt64) {
    #expect(
      draws(SeededRandomSource(seed: seed), 1_000) == draws(SeededRandomSource(seed: seed), 1_000))
  }

  @Test(arguments: [0, 7, 0xDEAD_BEEF, UInt64.max])
  func theSequenceIsXoshiro256StarStar(seed: UInt64) {
    var reference = ReferenceXoshiro(seed: seed)
    let expected = (0..<100).map { _ in reference.next() }
    #expect(draws(SeededRandomSource(seed: seed), 100) == expected)
  }

  @Test func differentSeedsGiveDifferentSequences() {
    let sequences = (0..<20).map { draws(SeededRandomSource(seed: UInt64($0)), 8) }
    #expect(Set(sequences).count == 20)
  }

  @Test func theSequenceDoesNotRepeatQuickly() {
    #expect(Set(draws(SeededRandomSource(seed: 3), 10_000)).count == 10_000)
  }

  @Test func seedIsKept() {
    #expect(SeededRandomSource(seed: 1234).seed == 1234)
  }

  @Test func deriveIsDeterministic() {
    let first = SeededRandomSource(seed: 42).derive("x")
    let second = SeededRandomSource(seed: 42).derive("x")
    #expect(first.seed == second.seed)
    #expect(draws(first, 100) == draws(second, 100))
  }

  @Test func derivedStreamsDifferByNameAndFromTheParent() {
    let parent = SeededRandomSource(seed: 42)
    let x = draws(parent.derive("x"), 100)
    let y = draws(parent.derive("y"), 100)
    #expect(x != y)
    #expect(x != draws(SeededRandomSource(seed: 42), 100))
    #expect(parent.derive("x").seed != parent.seed)
    #expect(parent.derive("").seed != parent.seed)
    #expect(parent.derive("ids").seed != parent.derive("jitter").seed)
  }

  @Test func deriveDependsOnTheSeedOnlyNotOnDrawsMade() {
    let used = SeededRandomSource(seed: 9)
    _ = draws(used, 500)
    let fresh = SeededRandomSource(seed: 9)
    #expect(draws(used.derive("retry"), 50) == draws(fresh.derive("retry"), 50))
  }

  @Test func deriveDependsOnTheParentSeed() {
    let a = SeededRandomSource(seed: 1).derive("x")
    let b = SeededRandomSource(seed: 2).derive("x")
    #expect(a.seed != b.seed)
    #expect(draws(a, 10) != draws(b, 10))
  }

  @Test func derivingTwiceDiffersFromDerivingOnce() {
    let parent = SeededRandomSource(seed: 5)
    #expect(parent.derive("a").derive("b").seed != parent.derive("a").seed)
    #expect(parent.derive("a").derive("b").seed != parent.derive("b").seed)
  }

  /// The derived seed is a stable hash (FNV-1a) of the name, so it is the same in every process.
  @Test func derivedSeedsAreStable() {
    #expect(SeededRandomSource(seed: 0).derive("ids").seed == 0x2B7D_EA19_2BB7_BE29)
    #expect(SeededRandomSource(seed: 0).derive("jitter").seed == 0x2E70_1E89_A7AB_0CD3)
    #expect(SeededRandomSource(seed: 0xFF).derive("x").seed == 0xAF63_F54C_8602_17F8)
  }

  @Test func concurrentDrawsAreTheSequenceShared() async {
    let shared = SeededRandomSource(seed: 77)
    let perTask = 2_000
    let drawn = await withTaskGroup(of: [UInt64].self) { group in
      for _ in 0..<4 {
        group.addTask { draws(shared, perTask) }
      }
      var all: [UInt64] = []
      for await values in group { all += values }
      return all
    }
    // Every value is drawn exactly once, whatever the interleaving.
    #expect(drawn.sorted() == draws(SeededRandomSource(seed: 77), 4 * perTask).sorted())
  }
}

@Suite("RandomSource helpers on a seeded source")
struct SeededRandomHelpersTests {
  @Test func unitDoublesAreInTheHalfOpenUnitInterval() {
    let source = SeededRandomSource(seed: 11)
    let values = (0..<20_000).map { _ in source.nextUnitDouble() }
    #expect(values.allSatisfy { $0 >= 0 && $0 < 1 })
    let mean = values.reduce(0, +) / Double(values.count)
    #expect(abs(mean - 0.5) < 0.01)
    #expect(values.contains { $0 < 0.01 })
    #expect(values.contains { $0 > 0.99 })
  }

  @Test(arguments: [1, 2, 3, 6, 7, 10, 1_000, 1 << 40, Int.max])
  func nextIntStaysBelowTheBound(bound: Int) {
    let source = SeededRandomSource(seed: UInt64(truncatingIfNeeded: bound))
    for _ in 0..<2_000 {
      let value = source.nextInt(below: bound)
      #expect(value >= 0 && value < bound)
      if value < 0 || value >= bound { return }
    }
  }

  @Test func nextIntBelowOneIsAlwaysZero() {
    let source = SeededRandomSource(seed: 3)
    #expect((0..<100).allSatisfy { _ in source.nextInt(below: 1) == 0 })
  }

  @Test(arguments: [1, 2, 3] as [UInt64])
  func nextIntIsRoughlyUniform(seed: UInt64) {
    let source = SeededRandomSource(seed: seed)
    let draws = 60_000
    var counts = [Int](repeating: 0, count: 6)
    for _ in 0..<draws { counts[source.nextInt(below: 6)] += 1 }
    let expected = Double(draws) / 6
    let chiSquare = counts.reduce(0) { $0 + pow2(Double($1) - expected) / expected }
    // 5 degrees of freedom: 20.5 is the 99.9th percentile.
    #expect(chiSquare < 20.5, "counts \(counts)")
    #expect(counts.allSatisfy { $0 > 9_500 && $0 < 10_500 }, "counts \(counts)")
  }

  @Test func nextIntIsNotBiasedTowardsSmallValuesForAHugeBound() {
    // bound = 3·2^61: plain `value % bound` would land below 2^62 with probability 3/4
    // instead of 2/3.
    let bound = 3 << 61
    let source = SeededRandomSource(seed: 8)
    let draws = 30_000
    let low = (0..<draws).count { _ in source.nextInt(below: bound) < 1 << 62 }
    #expect(abs(Double(low) / Double(draws) - 2.0 / 3.0) < 0.02)
  }

  @Test func nextDoubleStaysInTheRange() {
    let source = SeededRandomSource(seed: 21)
    let values = (0..<10_000).map { _ in source.nextDouble(in: -3...5) }
    #expect(values.allSatisfy { (-3...5).contains($0) })
    #expect(values.contains { $0 < -2.9 })
    #expect(values.contains { $0 > 4.9 })
    let mean = values.reduce(0, +) / Double(values.count)
    #expect(abs(mean - 1) < 0.1)
  }

  @Test func nextDoubleInADegenerateRangeIsItsBound() {
    let source = SeededRandomSource(seed: 2)
    #expect(source.nextDouble(in: 2.5...2.5) == 2.5)
  }

  @Test func shufflingWithTheSameSeedIsRepeatable() {
    let deck = Array(0..<52)
    var first = RandomSourceGenerator(source: SeededRandomSource(seed: 4))
    var second = RandomSourceGenerator(source: SeededRandomSource(seed: 4))
    let a = deck.shuffled(using: &first)
    let b = deck.shuffled(using: &second)
    #expect(a == b)
    #expect(a.sorted() == deck)
    #expect(a != deck)
  }
}

private func pow2(_ x: Double) -> Double { x * x }

/// A source that replays fixed values, to check the helpers at the extremes.
private final class ReplaySource: RandomSource {
  private let values: Mutex<[UInt64]>
  init(_ values: [UInt64]) { self.values = Mutex(values) }
  func nextUInt64() -> UInt64 { values.withLock { $0.removeFirst() } }
}

@Suite("RandomSource helpers at the extremes")
struct RandomHelperExtremesTests {
  @Test func unitDoubleOfZeroIsZero() {
    #expect(ReplaySource([0]).nextUnitDouble() == 0)
  }

  @Test func unitDoubleOfTheLargestValueIsBelowOne() {
    let value = ReplaySource([.max]).nextUnitDouble()
    #expect(value < 1)
    #expect(value == 1 - 0x1.0p-53)
  }

  @Test func nextDoubleAtTheExtremes() {
    #expect(ReplaySource([0]).nextDouble(in: 10...20) == 10)
    let top = ReplaySource([.max]).nextDouble(in: 10...20)
    // The range is closed: rounding may land on the upper bound itself.
    #expect(top <= 20 && top > 19.999)
  }
}

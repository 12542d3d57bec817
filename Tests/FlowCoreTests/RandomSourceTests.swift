import FlowCore
import FlowTestKit
import Testing

@Suite("RandomSource helpers")
struct RandomSourceTests {
  @Test("nextUnitDouble maps the top 53 bits to 0 ..< 1")
  func unitDouble() {
    #expect(FixedRandomSource.zero.nextUnitDouble() == 0)
    #expect(FixedRandomSource.half.nextUnitDouble() == 0.5)
    #expect(FixedRandomSource(value: 1 << 62).nextUnitDouble() == 0.25)
    #expect(FixedRandomSource.max.nextUnitDouble() == 1 - 0x1.0p-53)
    // The low 11 bits are dropped.
    #expect(FixedRandomSource(value: 0x7FF).nextUnitDouble() == 0)
  }

  @Test("nextDouble(in:) scales the unit value into the range")
  func doubleInRange() {
    #expect(FixedRandomSource.zero.nextDouble(in: 2...4) == 2)
    #expect(FixedRandomSource.half.nextDouble(in: 2...4) == 3)
    #expect(FixedRandomSource.half.nextDouble(in: -1...1) == 0)
    // The top of the closed range is reachable through rounding: 2 + 2 × (1 - 2^-53) is 4.0.
    let top = FixedRandomSource.max.nextDouble(in: 2...4)
    #expect(top > 3.999_999 && top <= 4)
  }

  @Test("nextInt(below:) reduces modulo the bound")
  func intBelow() {
    #expect(FixedRandomSource(value: 7).nextInt(below: 5) == 2)
    #expect(FixedRandomSource(value: 12).nextInt(below: 4) == 0)
    #expect(FixedRandomSource(value: .max).nextInt(below: 1) == 0)
  }

  @Test("nextInt(below:) rejects the few values that would bias the result")
  func intBelowRejects() {
    // 2^64 mod 5 == 1, so 0 is the one value below the threshold: it is drawn again.
    let source = SequenceRandomSource([0, 8])
    #expect(source.nextInt(below: 5) == 3)
  }

  @Test("seeded values stay in range and cover it", arguments: [1, 2, 7, 10])
  func seededRange(bound: Int) {
    let source = SeededRandomSource(seed: 99)
    var seen = Set<Int>()
    for _ in 0..<1000 {
      let value = source.nextInt(below: bound)
      #expect((0..<bound).contains(value))
      seen.insert(value)
    }
    #expect(seen.count == bound)
    for _ in 0..<1000 {
      let unit = source.nextUnitDouble()
      #expect(unit >= 0 && unit < 1)
    }
  }

  @Test("RandomSourceGenerator passes the source's values through, so shuffles are repeatable")
  func generatorAdapter() {
    var fixed = RandomSourceGenerator(source: FixedRandomSource(value: 123))
    #expect(fixed.next() == 123)
    var first = RandomSourceGenerator(source: SeededRandomSource(seed: 5))
    var second = RandomSourceGenerator(source: SeededRandomSource(seed: 5))
    let deck = Array(0..<20)
    let shuffled = deck.shuffled(using: &first)
    #expect(shuffled == deck.shuffled(using: &second))
    #expect(shuffled.sorted() == deck)
  }
}

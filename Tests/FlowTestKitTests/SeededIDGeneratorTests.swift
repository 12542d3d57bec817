import FlowCore
import FlowTestKit
import Foundation
import Testing

private func ids(_ generator: some IDGenerator, _ count: Int) -> [UUID] {
  (0..<count).map { _ in generator.next() }
}

@Suite("SeededIDGenerator")
struct SeededIDGeneratorTests {
  @Test(arguments: [0, 1, 99, UInt64.max])
  func sameSeedGivesTheSameIDs(seed: UInt64) {
    #expect(ids(SeededIDGenerator(seed: seed), 100) == ids(SeededIDGenerator(seed: seed), 100))
  }

  @Test func differentSeedsGiveDifferentIDs() {
    let first = (0..<20).map { SeededIDGenerator(seed: UInt64($0)).next() }
    #expect(Set(first).count == 20)
  }

  @Test func idsAreDistinct() {
    let generated = ids(SeededIDGenerator(seed: 5), 20_000)
    #expect(Set(generated).count == generated.count)
  }

  @Test(arguments: [0, 12_345] as [UInt64])
  func idsAreVersionFourWithTheRFCVariant(seed: UInt64) {
    for id in ids(SeededIDGenerator(seed: seed), 1_000) {
      let bytes = id.uuid
      #expect(bytes.6 >> 4 == 4, "\(id)")
      #expect(bytes.8 >> 6 == 0b10, "\(id)")
      let text = Array(id.uuidString)
      #expect(text[14] == "4", "\(id)")
      #expect("89AB".contains(text[19]), "\(id)")
    }
  }

  @Test func theOtherBitsVary() {
    // Apart from the six fixed bits, every bit takes both values across a thousand IDs.
    var ones = [UInt8](repeating: 0, count: 16)
    var zeros = [UInt8](repeating: 0, count: 16)
    for id in ids(SeededIDGenerator(seed: 8), 1_000) {
      let bytes = withUnsafeBytes(of: id.uuid) { Array($0) }
      for index in 0..<16 {
        ones[index] |= bytes[index]
        zeros[index] |= ~bytes[index]
      }
    }
    var expectedOnes = [UInt8](repeating: 0xFF, count: 16)
    var expectedZeros = [UInt8](repeating: 0xFF, count: 16)
    expectedOnes[6] = 0x4F
    expectedZeros[6] = 0xBF
    expectedOnes[8] = 0xBF
    expectedZeros[8] = 0x7F
    #expect(ones == expectedOnes)
    #expect(zeros == expectedZeros)
  }

  @Test func concurrentCallersNeverGetTheSameID() async {
    let generator = SeededIDGenerator(seed: 3)
    let generated = await withTaskGroup(of: [UUID].self) { group in
      for _ in 0..<4 {
        group.addTask { ids(generator, 1_000) }
      }
      var all: [UUID] = []
      for await batch in group { all += batch }
      return all
    }
    #expect(Set(generated).count == 4_000)
    #expect(Set(generated) == Set(ids(SeededIDGenerator(seed: 3), 4_000)))
  }
}

@Suite("RunEnvironment.testing")
struct RunEnvironmentTestingTests {
  @Test func theSameSeedGivesReproducibleIDsAndRandomness() {
    let first = RunEnvironment.testing(seed: 42)
    let second = RunEnvironment.testing(seed: 42)
    #expect(ids(first.ids, 50) == ids(second.ids, 50))
    let firstDraws = (0..<50).map { _ in first.random.nextUInt64() }
    let secondDraws = (0..<50).map { _ in second.random.nextUInt64() }
    #expect(firstDraws == secondDraws)
  }

  @Test func differentSeedsGiveDifferentIDs() {
    let first = RunEnvironment.testing(seed: 1)
    let second = RunEnvironment.testing(seed: 2)
    #expect(ids(first.ids, 10) != ids(second.ids, 10))
    #expect(first.random.nextUInt64() != second.random.nextUInt64())
  }

  @Test func drawingRandomNumbersDoesNotShiftTheIDs() {
    let busy = RunEnvironment.testing(seed: 7)
    for _ in 0..<100 { _ = busy.random.nextUInt64() }
    let idle = RunEnvironment.testing(seed: 7)
    #expect(ids(busy.ids, 20) == ids(idle.ids, 20))
  }

  @Test func idsAreVersionFour() {
    let environment = RunEnvironment.testing(seed: 9)
    for id in ids(environment.ids, 100) {
      #expect(id.uuid.6 >> 4 == 4)
      #expect(id.uuid.8 >> 6 == 0b10)
    }
  }

  @Test func usesTheGivenClock() throws {
    let clock = TestClock(now: clockStart)
    let environment = RunEnvironment.testing(seed: 1, clock: clock)
    let used = try #require(environment.clock as? TestClock)
    #expect(used === clock)
    #expect(environment.clock.now() == clockStart)
  }

  @Test func defaultsToAManualTestClock() throws {
    let environment = RunEnvironment.testing(seed: 1)
    let clock = try #require(environment.clock as? TestClock)
    #expect(!clock.autoAdvance)
    let start = clock.now()
    #expect(environment.clock.now() == start)
  }
}

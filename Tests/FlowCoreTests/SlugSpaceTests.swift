import FlowCore
import Testing

@Suite("Slugs of task calls")
struct SlugSpaceTests {
  /// The rule as a set of every slug string (how slugs were given before `SlugSpace`).
  struct EverySlug {
    var used: Set<String> = []
    var counts: [String: Int] = [:]

    mutating func nextSlug(for name: String) -> String {
      var count = counts[name, default: 0]
      var slug: String
      repeat {
        count += 1
        slug = count == 1 ? name : "\(name)-\(count)"
      } while !used.insert(slug).inserted
      counts[name] = count
      return slug
    }
  }

  /// Names that clash in every way a suffix can: `a-2` against `a`'s second call, `a-2-2`
  /// against `a-2`'s, a leading zero, a suffix of 1, an empty base, a huge number.
  static let names = [
    "a", "a-2", "a-3", "a-2-2", "a-02", "a-1", "a-0", "b", "b-10", "-2", "", "a-",
    "a-99999999999999999999", "é-2", "e\u{301}-2",
  ]

  @Test("the same slugs as a set of every slug, for 200 random sequences of calls and parameters")
  func sameAsEverySlug() {
    for seed in UInt64(1)...200 {
      var random = Xoshiro256(seed: seed)
      var space = SlugSpace()
      var reference = EverySlug()
      for step in 0..<60 {
        let name = Self.names[Int(random.next() % UInt64(Self.names.count))]
        if random.next() % 5 == 0 {
          let claimed = space.claim(name)
          #expect(
            claimed == reference.used.insert(name).inserted,
            "seed \(seed), step \(step): parameter '\(name)' (rerun: this test, seed \(seed))")
        } else {
          let slug = space.nextSlug(for: name).slug
          let expected = reference.nextSlug(for: name)
          #expect(
            slug == expected,
            "seed \(seed), step \(step): call of '\(name)' (rerun: this test, seed \(seed))")
          if slug != expected { break }
        }
      }
    }
  }

  @Test("a parameter named like a call's slug pushes the call to the next slug")
  func parameterTakesSlug() {
    let x = task("x") { (value: Int) in value }
    let flow = Flow("parameter-slug") {
      let size = Parameter("x-2", default: 1)
      x(size)
      x(size)
    }
    #expect(flow.tasks.map(\.slug) == ["x", "x-3"])
  }

  @Test("splitting a slug into base and count")
  func split() {
    #expect(SlugSpace.split("load-7")! == ("load", 7))
    #expect(SlugSpace.split("a-2-2")! == ("a-2", 2))
    #expect(SlugSpace.split("-2")! == ("", 2))
    #expect(SlugSpace.split("load") == nil)
    #expect(SlugSpace.split("load-1") == nil)
    #expect(SlugSpace.split("load-02") == nil)
    #expect(SlugSpace.split("load-") == nil)
    #expect(SlugSpace.split("load-2a") == nil)
  }
}

/// The slugs given so far in one flow, and the slug of each next task call: `name`, `name-2`,
/// `name-3`…, skipping any slug already taken (by a task named `name-2`, or a parameter).
///
/// Same answers as one set of every slug string, without hashing a string per call: a slug is
/// kept as its parts (`"load-7"` is `load` and 7; a slug without such a suffix is itself and
/// 1), and the slugs a name's own calls made are `name-2` up to its call count, so only slugs
/// written by hand (a task's first call, a parameter) are stored.
package struct SlugSpace: Sendable {
  /// The index of each task name, in order of first call.
  private var nameIndex: [String: Int] = [:]
  /// For each name index: the count of its last slug (`name-<count>`; 1 for `name`).
  private var counts: [Int] = []
  /// Slugs written by hand with no numeric suffix.
  private var plain: Set<String> = []
  /// Slugs written by hand as `base-<suffix>` (suffix ≥ 2), by base.
  private var suffixed: [String: Set<Int>] = [:]

  package init() {}

  /// Gives the next call of task `name` its slug; also returns the name's index (0, 1, … in
  /// order of first call) for what the caller keeps per name.
  package mutating func nextSlug(for name: String) -> (slug: String, nameIndex: Int) {
    let index: Int
    if let known = nameIndex[name] {
      index = known
    } else {
      index = counts.count
      nameIndex[name] = index
      counts.append(0)
    }
    var count = counts[index]
    while true {
      count += 1
      if count == 1 {
        // The name itself, as written: free unless it was taken by hand or by another name's
        // calls (a task named `load-2` after two calls of `load`).
        if claim(name) {
          counts[index] = 1
          return (name, index)
        }
      } else if suffixed.isEmpty || suffixed[name]?.contains(count) != true {
        // `name-<count>` can only have been taken by hand: this name's own calls made only
        // smaller counts, and no other name's calls make slugs with this base.
        counts[index] = count
        return ("\(name)-\(count)", index)
      }
    }
  }

  /// Takes `slug` as written (a parameter's name, a task's first call); false, taking nothing,
  /// when it is already taken.
  @discardableResult
  package mutating func claim(_ slug: String) -> Bool {
    guard let (base, suffix) = Self.split(slug) else { return plain.insert(slug).inserted }
    if let index = nameIndex[base], counts[index] >= suffix { return false }
    return suffixed[base, default: []].insert(suffix).inserted
  }

  /// `"base-<n>"` as its base and n, when n is written the way a count is (digits without a
  /// leading zero, at least 2); nil for any other slug.
  package static func split(_ slug: String) -> (base: String, suffix: Int)? {
    let bytes = slug.utf8
    guard let dash = bytes.lastIndex(of: UInt8(ascii: "-")) else { return nil }
    let digits = bytes[bytes.index(after: dash)...]
    // 18 digits always fit an Int; longer ones are more than a flow can have calls.
    guard let first = digits.first, first != UInt8(ascii: "0"), digits.count <= 18 else {
      return nil
    }
    var value = 0
    for byte in digits {
      guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
      value = value * 10 + Int(byte - UInt8(ascii: "0"))
    }
    guard value >= 2 else { return nil }
    return (String(slug[..<dash]), value)
  }
}

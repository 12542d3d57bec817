import Foundation
import Synchronization

/// The UTC offsets of one time zone as a sorted table of transitions, read from Foundation once
/// and extended lazily, so that converting between instants and local wall-clock seconds costs
/// a table look-up instead of a `TimeZone` call.
///
/// Local times follow PEP 495 (Python's `fold`): a wall-clock time that occurs twice maps to
/// its first occurrence with `fold == false` and to its second with `fold == true`; a wall-clock
/// time that does not exist maps with the offset in force before the transition when `fold` is
/// false, and after it when true.
package final class ZoneOffsetTable: Sendable {
  /// The zone the table describes.
  package let timeZone: TimeZone
  private let state = Mutex(Snapshot.empty)

  /// Creates an empty table for `timeZone`; transitions are read on first use.
  package init(timeZone: TimeZone) {
    self.timeZone = timeZone
  }

  /// The table covering at least `margin` on each side of `utc`.
  package func snapshot(covering utc: Int64) -> Snapshot {
    let utc = min(max(utc, Self.earliest), Self.latest)
    return state.withLock { snapshot in
      if snapshot.covers(utc) { return snapshot }
      var low = utc - Self.chunk
      var high = utc + Self.chunk
      if !snapshot.isEmpty {
        low = min(low, snapshot.low)
        high = max(high, snapshot.high)
      }
      snapshot = build(from: low, to: high)
      return snapshot
    }
  }

  private func build(from low: Int64, to high: Int64) -> Snapshot {
    var transitions: [Int64] = []
    var offsets = [offset(at: low)]
    var cursor = low
    var coveredUntil = high
    while true {
      guard
        let next = timeZone.nextDaylightSavingTimeTransition(
          after: Date(timeIntervalSince1970: TimeInterval(cursor)))
      else {
        coveredUntil = .max  // no transition after `cursor`, ever
        break
      }
      var instant = Int64(next.timeIntervalSince1970.rounded())
      if instant <= cursor { instant = cursor + 1 }
      if instant >= high { break }
      transitions.append(instant)
      offsets.append(offset(at: instant))
      cursor = instant
    }
    return Snapshot(low: low, high: coveredUntil, transitions: transitions, offsets: offsets)
  }

  private func offset(at utc: Int64) -> Int64 {
    Int64(timeZone.secondsFromGMT(for: Date(timeIntervalSince1970: TimeInterval(utc))))
  }

  /// How far a snapshot reaches on each side of a look-up: two years.
  private static let chunk: Int64 = 731 * 86_400
  /// The first instant of year 1 and the last of year 9999: look-ups are clamped to them.
  private static let earliest: Int64 = -62_135_596_800
  private static let latest: Int64 = 253_402_300_799

  /// The transitions known in `low ..< high`, with the offset in force between them.
  package struct Snapshot: Sendable {
    /// Every transition at or after `low` and before `high` is listed.
    package var low: Int64
    /// See `low`; `Int64.max` when the zone has no transition after `low`.
    package var high: Int64
    /// Transition instants, in UTC seconds, ascending.
    package var transitions: [Int64]
    /// `offsets[i]` is in force before `transitions[i]` and from `transitions[i - 1]`.
    package var offsets: [Int64]

    static let empty = Snapshot(low: 0, high: 0, transitions: [], offsets: [])

    /// Look-ups keep this far from the covered range's ends, so that the transitions around a
    /// gap or a fold are always known.
    static let margin: Int64 = 4 * 86_400

    var isEmpty: Bool { offsets.isEmpty }

    func covers(_ utc: Int64) -> Bool {
      !isEmpty && utc >= low &+ Self.margin && utc < high &- Self.margin
    }
  }
}

/// A reader of a ``ZoneOffsetTable`` that keeps its snapshot and last segment, for a search
/// that converts many nearby instants.
package struct ZoneCursor {
  private let table: ZoneOffsetTable
  private var snapshot = ZoneOffsetTable.Snapshot.empty
  private var segment = 0

  /// A cursor on `table`.
  package init(_ table: ZoneOffsetTable) {
    self.table = table
  }

  /// The segment (run of one offset) that holds `utc`.
  private mutating func index(_ utc: Int64) -> Int {
    if !snapshot.covers(utc) {
      snapshot = table.snapshot(covering: utc)
      segment = 0
    }
    if start(segment) <= utc && utc < end(segment) { return segment }
    var low = 0
    var high = snapshot.transitions.count
    while low < high {  // the number of transitions at or before `utc`
      let middle = (low + high) / 2
      if snapshot.transitions[middle] <= utc { low = middle + 1 } else { high = middle }
    }
    segment = low
    return low
  }

  private func start(_ segment: Int) -> Int64 {
    segment == 0 ? .min : snapshot.transitions[segment - 1]
  }

  private func end(_ segment: Int) -> Int64 {
    segment == snapshot.transitions.count ? .max : snapshot.transitions[segment]
  }

  /// The UTC offset in force at `utc`, in seconds.
  package mutating func offset(at utc: Int64) -> Int64 {
    snapshot.offsets[index(utc)]
  }

  /// The wall-clock seconds at `utc`, and whether that wall-clock time is the second
  /// occurrence of a repeated one.
  package mutating func local(at utc: Int64) -> (local: Int64, fold: Bool) {
    let segment = index(utc)
    let offset = snapshot.offsets[segment]
    var fold = false
    if segment > 0 {
      let previous = snapshot.offsets[segment - 1]
      fold = previous > offset && utc < snapshot.transitions[segment - 1] + (previous - offset)
    }
    return (utc + offset, fold)
  }

  /// The first instant after `utc` at which the offset changes (`Int64.max` if none is known
  /// nearby); until then, local time moves in step with UTC.
  package mutating func linearUntil(_ utc: Int64) -> Int64 {
    min(end(index(utc)), snapshot.high &- ZoneOffsetTable.Snapshot.margin)
  }

  /// How the wall-clock time `local` maps to instants.
  package mutating func resolve(_ local: Int64) -> LocalResolution {
    let guess = index(local - snapshot.offsets[index(local)])
    let last = snapshot.transitions.count
    var first: Int64?
    var second: Int64?
    for candidate in max(0, guess - 1)...min(last, guess + 1) {
      let utc = local - snapshot.offsets[candidate]
      guard start(candidate) <= utc && utc < end(candidate) else { continue }
      if first == nil { first = utc } else { second = utc }
    }
    if let first, let second {
      return LocalResolution(kind: .repeated, fold0: first, fold1: second)
    }
    if let first { return LocalResolution(kind: .unique, fold0: first, fold1: first) }
    var before = max(0, guess - 1)
    while before < min(last, guess + 1) {  // a gap: between the end of one segment and the next
      let transition = snapshot.transitions[before]
      let (old, new) = (snapshot.offsets[before], snapshot.offsets[before + 1])
      if local - old >= transition && local - new < transition {
        return LocalResolution(kind: .skipped, fold0: local - old, fold1: local - new)
      }
      before += 1
    }
    let utc = local - snapshot.offsets[guess]
    return LocalResolution(kind: .unique, fold0: utc, fold1: utc)
  }

  /// The instant of wall-clock time `local`, choosing by `fold` as PEP 495 does.
  package mutating func utc(local: Int64, fold: Bool) -> Int64 {
    let resolution = resolve(local)
    return fold ? resolution.fold1 : resolution.fold0
  }
}

/// How a wall-clock time maps to instants in a zone.
package struct LocalResolution: Equatable {
  /// Whether the wall-clock time exists once, twice or not at all.
  package enum Kind: Equatable {
    /// Exists once.
    case unique
    /// Exists twice (the clock went back): `fold0` is the first occurrence.
    case repeated
    /// Does not exist (the clock went forward): `fold0` uses the offset before the change.
    case skipped
  }

  /// Whether the wall-clock time exists once, twice or not at all.
  package let kind: Kind
  /// The instant with `fold == false`.
  package let fold0: Int64
  /// The instant with `fold == true`.
  package let fold1: Int64
}

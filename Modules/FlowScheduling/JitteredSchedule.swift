import FlowCore
import Foundation

/// A schedule whose fire times are each delayed by a pseudo-random amount below a bound, so
/// that many schedules firing at the same time spread out (Temporal's schedule jitter).
///
/// The delay of a fire time is a hash of that fire time and a seed drawn once from the
/// ``RandomSource`` given at creation: ``nextEvent(after:)`` stays a pure function, and the same
/// seed gives the same delays.
public struct JitteredSchedule: Schedule, CustomStringConvertible {
  /// The schedule whose fire times are delayed.
  public let base: any Schedule
  /// Every delay is at least zero and less than this.
  public let maxDelay: Duration
  /// The seed the delays derive from.
  public let seed: UInt64
  private let bound: Double

  /// `base` with each fire time delayed by less than `maxDelay`, seeded from `random`.
  public init(_ base: any Schedule, maxDelay: Duration, random: any RandomSource) {
    self.init(base, maxDelay: maxDelay, seed: random.nextUInt64())
  }

  /// `base` with each fire time delayed by less than `maxDelay`, derived from `seed`.
  public init(_ base: any Schedule, maxDelay: Duration, seed: UInt64) {
    self.base = base
    self.maxDelay = maxDelay
    self.seed = seed
    bound = max(0, maxDelay.timeInterval)
  }

  /// The delay of the base fire time `date`, in `0 ..< maxDelay`.
  public func delay(of date: Date) -> TimeInterval {
    var z = seed ^ UInt64(bitPattern: Int64((date.timeIntervalSince1970 * 1000).rounded()))
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9  // SplitMix64's finaliser
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    z ^= z >> 31
    return Double(z >> 11) * 0x1.0p-53 * bound
  }

  /// The earliest delayed fire time strictly after `instant`.
  public func nextEvent(after instant: Date) -> ScheduleEvent? {
    var best: ScheduleEvent?
    var after = instant.addingTimeInterval(-bound)
    for _ in 0..<1_000_000 {
      guard let event = base.nextEvent(after: after) else { break }
      // A delay is never negative: nothing from here on can come before `best`.
      if let best, event.date >= best.date { break }
      let delayed = event.date.addingTimeInterval(delay(of: event.date))
      if delayed > instant && (best.map { delayed < $0.date } ?? true) {
        best = ScheduleEvent(date: delayed, parameters: event.parameters)
      }
      after = event.date
    }
    return best
  }

  /// `<base>, jittered by up to <maxDelay>`.
  public var description: String { "\(base), jittered by up to \(maxDelay)" }
}

extension Schedule {
  /// This schedule with each fire time delayed by less than `maxDelay`, deterministically for
  /// the seed drawn from `random`.
  public func jittered(upTo maxDelay: Duration, random: any RandomSource) -> JitteredSchedule {
    JitteredSchedule(self, maxDelay: maxDelay, random: random)
  }
}

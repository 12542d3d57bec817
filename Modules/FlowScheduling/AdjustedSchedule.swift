import FlowCore
import Foundation

/// A schedule whose base fire times are moved by an adjustment; fire times that land on the
/// same instant fire once.
public struct AdjustedSchedule: ZonedSchedule, CustomStringConvertible {
  /// The schedule whose fire times are moved.
  public let base: any Schedule
  /// How each fire time moves.
  public let adjustment: ScheduleAdjustment
  /// The zone whose wall clock the adjustment reads.
  public let timeZone: TimeZone
  private let zone: ZoneOffsetTable

  /// `base` with each fire time moved by `adjustment` on the wall clock of `timeZone`.
  public init(_ base: any Schedule, adjustment: ScheduleAdjustment, timeZone: TimeZone) {
    self.base = base
    self.adjustment = adjustment
    self.timeZone = timeZone
    zone = ZoneOffsetTable(timeZone: timeZone)
  }

  /// The first adjusted fire time strictly after `instant`: the earliest of the moved fire
  /// times, since an adjustment may reorder them.
  public func nextEvent(after instant: Date) -> ScheduleEvent? {
    var cursor = ZoneCursor(zone)
    // No base fire time at or before `instant - maxShift` can be moved past `instant`, and none
    // at or after `best - minShift` can be moved before `best`.
    var after = instant.addingTimeInterval(-adjustment.maxShift)
    var best: ScheduleEvent?
    for _ in 0..<1_000_000 {
      guard let event = base.nextEvent(after: after) else { break }
      if let best, event.date.addingTimeInterval(adjustment.minShift) >= best.date { break }
      let moved = Date(
        timeIntervalSince1970: adjustment.apply(event.date.timeIntervalSince1970, &cursor))
      if moved > instant && (best.map { moved < $0.date } ?? true) {
        best = ScheduleEvent(date: moved, parameters: event.parameters)
      }
      after = event.date
    }
    return best
  }

  /// `<base>, adjusted`.
  public var description: String { "\(base), adjusted" }
}

extension Schedule {
  /// This schedule with every fire time moved by `adjustment`, read on the wall clock of
  /// `timeZone` (by default the schedule's own zone, or UTC when it has none).
  public func adjusted(by adjustment: ScheduleAdjustment, timeZone: TimeZone? = nil)
    -> AdjustedSchedule
  {
    AdjustedSchedule(self, adjustment: adjustment, timeZone: timeZone ?? defaultTimeZone)
  }
}

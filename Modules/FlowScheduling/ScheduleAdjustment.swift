import Foundation

/// A change to each fire time of a schedule (Prefect 1's schedule adjustments): move it to the
/// next weekday, or by a fixed amount. An adjustment may reorder fire times (a Saturday 21:00
/// moved to Monday 21:00 comes after Monday 09:00): ``AdjustedSchedule`` still returns them in
/// order. Chain adjustments with ``then(_:)``.
public struct ScheduleAdjustment: Sendable {
  /// Moves a fire time (UTC seconds), given the zone's offsets.
  let apply: @Sendable (Double, inout ZoneCursor) -> Double
  /// The least the adjustment moves a fire time later (negative: earlier), in seconds.
  let minShift: Double
  /// The most the adjustment moves a fire time later (negative: earlier), in seconds.
  let maxShift: Double

  private init(
    minShift: Double, maxShift: Double,
    _ apply: @escaping @Sendable (Double, inout ZoneCursor) -> Double
  ) {
    self.apply = apply
    self.minShift = minShift
    self.maxShift = maxShift
  }

  /// Moves a fire time on a Saturday or a Sunday to the Monday after it, at the same wall-clock
  /// time (the first occurrence if it repeats; later by the gap if it is skipped).
  /// (Two days, give or take a change of UTC offset: four days bound it generously.)
  public static let nextWeekday = ScheduleAdjustment(minShift: 0, maxShift: 4 * 86_400) {
    instant, cursor in
    let whole = Int64(instant.rounded(.down))
    let local = whole + cursor.offset(at: whole)
    let day = CivilCalendar.floorDiv(local, CivilCalendar.secondsPerDay)
    let shift: Int64
    switch CivilCalendar.weekday(dayNumber: day) {
    case 6: shift = 2
    case 0: shift = 1
    default: return instant
    }
    let moved = cursor.resolve(local + shift * CivilCalendar.secondsPerDay).fold0
    return Double(moved) + (instant - Double(whole))
  }

  /// Moves every fire time by `duration` (later when positive).
  public static func adding(_ duration: Duration) -> ScheduleAdjustment {
    let seconds = duration.timeInterval
    return ScheduleAdjustment(minShift: seconds, maxShift: seconds) { instant, _ in
      instant + seconds
    }
  }

  /// This adjustment, then `next`.
  public func then(_ next: ScheduleAdjustment) -> ScheduleAdjustment {
    let first = self
    return ScheduleAdjustment(
      minShift: minShift + next.minShift, maxShift: maxShift + next.maxShift
    ) { instant, cursor in
      next.apply(first.apply(instant, &cursor), &cursor)
    }
  }
}

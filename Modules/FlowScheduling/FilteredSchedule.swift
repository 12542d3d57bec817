import FlowCore
import Foundation

/// A schedule that skips the fire times of its base that a filter rejects.
public struct FilteredSchedule: ZonedSchedule, CustomStringConvertible {
  /// The schedule whose fire times are filtered.
  public let base: any Schedule
  /// The test each fire time must pass.
  public let filter: ScheduleFilter
  /// The zone whose wall clock the filter reads.
  public let timeZone: TimeZone
  /// How many rejected fire times in a row end the schedule (a filter that rejects everything
  /// would otherwise search forever).
  public let maxSkipped: Int
  private let zone: ZoneOffsetTable

  /// `base` without the fire times that `filter` rejects on the wall clock of `timeZone`.
  public init(
    _ base: any Schedule, filter: ScheduleFilter, timeZone: TimeZone, maxSkipped: Int = 100_000
  ) {
    self.base = base
    self.filter = filter
    self.timeZone = timeZone
    self.maxSkipped = maxSkipped
    zone = ZoneOffsetTable(timeZone: timeZone)
  }

  /// The base's first event after `instant` that the filter keeps; nil when the base ends or
  /// `maxSkipped` fire times in a row are rejected.
  public func nextEvent(after instant: Date) -> ScheduleEvent? {
    var cursor = ZoneCursor(zone)
    var after = instant
    for _ in 0...maxSkipped {
      guard let event = base.nextEvent(after: after) else { return nil }
      if filter.matches(LocalDateTime(event.date, cursor: &cursor)) { return event }
      after = event.date
    }
    return nil
  }

  /// `<base>, filtered`.
  public var description: String { "\(base), filtered" }
}

extension Schedule {
  /// This schedule without the fire times that `filter` rejects, read on the wall clock of
  /// `timeZone` (by default the schedule's own zone, or UTC when it has none).
  public func filter(_ filter: ScheduleFilter, timeZone: TimeZone? = nil) -> FilteredSchedule {
    FilteredSchedule(self, filter: filter, timeZone: timeZone ?? defaultTimeZone)
  }
}

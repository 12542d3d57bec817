import FlowCore
import Foundation

/// A schedule that reads the wall clock of one time zone; filters and adjustments applied to it
/// use that zone unless told otherwise.
public protocol ZonedSchedule: Schedule {
  /// The zone whose wall clock the schedule reads.
  var timeZone: TimeZone { get }
}

extension CronSchedule: ZonedSchedule {}

extension Schedule {
  /// The schedule's own zone when it has one, else UTC.
  var defaultTimeZone: TimeZone { (self as? any ZonedSchedule)?.timeZone ?? .gmt }
}

import FlowCore
import Foundation

/// A schedule that fires at explicit instants (Prefect's `DatesClock`).
public struct DateSchedule: Schedule, CustomStringConvertible {
  /// The fire times, ascending and without duplicates.
  public let dates: [Date]

  /// A schedule firing at each of `dates` (in any order; duplicates fire once).
  public init(_ dates: [Date]) {
    self.dates = Array(Set(dates)).sorted()
  }

  /// The first of the dates strictly after `instant`.
  public func nextEvent(after instant: Date) -> ScheduleEvent? {
    var low = 0
    var high = dates.count
    while low < high {
      let middle = (low + high) / 2
      if dates[middle] <= instant { low = middle + 1 } else { high = middle }
    }
    return low < dates.count ? ScheduleEvent(date: dates[low]) : nil
  }

  /// `N dates`.
  public var description: String { "\(dates.count) dates" }
}

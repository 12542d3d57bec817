import FlowCore
import FlowOrchestration
import FlowScheduling
import Foundation
import Testing

/// `deploy` registers the schedule a flow declares when it can be stored in a deployment.
@Suite("Declared schedules as deployment schedules")
struct DeclaredScheduleTests {
  let berlin = TimeZone(identifier: "Europe/Berlin")!

  /// The next `count` fire times after `instant`.
  func fireTimes(_ schedule: any Schedule, after instant: Date, count: Int = 5) -> [Date] {
    schedule.events(after: instant, count: count).map(\.date)
  }

  @Test("cron and interval schedules keep their fire times once stored")
  func storable() throws {
    let now = Date(timeIntervalSince1970: 1_764_000_123)
    let declared: [any Schedule] = [
      try .cron("*/15 9-17 * * MON-FRI", timeZone: berlin), try .cron("0 0 * * *"),
      IntervalSchedule(interval: .seconds(60)), IntervalSchedule(interval: .milliseconds(200)),
      IntervalSchedule(interval: .seconds(90), timeZone: berlin),
      IntervalSchedule(start: now.addingTimeInterval(-7), interval: .seconds(3600)),
      IntervalSchedule(interval: .seconds(86_400)),
    ]
    for schedule in declared {
      let spec = try #require(DeploymentScheduleSpec(declared: schedule), "\(schedule)")
      let stored = try spec.makeSchedule()
      #expect(
        fireTimes(stored, after: now) == fireTimes(schedule, after: now), "\(schedule) → \(spec)")
    }
    #expect(
      DeploymentScheduleSpec(declared: try CronSchedule("0 9 * * *", timeZone: berlin))?
        .timeZone == "Europe/Berlin")
  }

  @Test("schedules a deployment cannot store are refused, not approximated")
  func unstorable() throws {
    let now = Date(timeIntervalSince1970: 1_764_000_000)
    let refused: [any Schedule] = [
      DateSchedule([now]), IntervalSchedule(interval: .seconds(60), end: now),
      IntervalSchedule(interval: .seconds(86_400), timeZone: berlin),
      try CronSchedule("0 * * * *", start: now),
      UnionSchedule([IntervalSchedule(interval: .seconds(60))]),
    ]
    for schedule in refused {
      #expect(DeploymentScheduleSpec(declared: schedule) == nil, "\(schedule)")
    }
  }
}

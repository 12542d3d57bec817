import FlowCore
import FlowScheduling
import Foundation
import Testing

@Suite("Cron schedules", .timeLimit(.minutes(1)))
struct CronScheduleTests {
  private let berlin = zone("Europe/Berlin")
  private let newYork = zone("America/New_York")

  @Test("a skipped local time fires at the first minute after the gap, once")
  func springForward() throws {
    let schedule = try CronSchedule("30 2 * * *", timeZone: berlin)
    #expect(
      fireTimes(schedule, after: "2025-03-29T12:00:00+01:00", count: 3, in: berlin) == [
        "2025-03-30T03:00:00+02:00", "2025-03-31T02:30:00+02:00", "2025-04-01T02:30:00+02:00",
      ])
    let twice = try CronSchedule("0,30 2 * * *", timeZone: berlin)
    #expect(
      fireTimes(twice, after: "2025-03-30T00:00:00+01:00", count: 2, in: berlin) == [
        "2025-03-30T03:00:00+02:00", "2025-03-31T02:00:00+02:00",
      ])
  }

  @Test("a repeated local time fires once, at its first occurrence")
  func fallBack() throws {
    let schedule = try CronSchedule("30 2 * * *", timeZone: berlin)
    #expect(
      fireTimes(schedule, after: "2025-10-25T12:00:00+02:00", count: 2, in: berlin) == [
        "2025-10-26T02:30:00+02:00", "2025-10-27T02:30:00+01:00",
      ])
  }

  @Test("from inside the second occurrence of a repeated hour, the next fire time is still later")
  func insideTheRepeatedHour() throws {
    let schedule = try CronSchedule("30 2 * * *", timeZone: berlin)
    let after = instant("2025-10-26T02:10:00+01:00")  // the second 02:10
    let next = try #require(schedule.nextEvent(after: after))
    #expect(next.date > after)
    #expect(next.date == instant("2025-10-27T02:30:00+01:00"))
  }

  @Test("expressions with * in minute or hour follow elapsed time: the repeated hour runs twice")
  func elapsedTimeAcrossFallBack() throws {
    let schedule = try CronSchedule("0 * * * *", timeZone: berlin)
    #expect(
      fireTimes(schedule, after: "2025-10-26T01:30:00+02:00", count: 4, in: berlin) == [
        "2025-10-26T02:00:00+02:00", "2025-10-26T02:00:00+01:00", "2025-10-26T03:00:00+01:00",
        "2025-10-26T04:00:00+01:00",
      ])
  }

  @Test("every five minutes across spring forward is every 300 seconds")
  func everyFiveMinutesAcrossSpringForward() throws {
    let schedule = try CronSchedule("*/5 * * * *", timeZone: newYork)
    let events = schedule.events(after: instant("2025-03-09T01:50:00-05:00"), count: 4)
    #expect(
      events.map { ISO8601OffsetFormat(timeZone: newYork).string(from: $0.date) } == [
        "2025-03-09T01:55:00-05:00", "2025-03-09T03:00:00-04:00", "2025-03-09T03:05:00-04:00",
        "2025-03-09T03:10:00-04:00",
      ])
    #expect(
      zip(events, events.dropFirst()).allSatisfy { $1.date.timeIntervalSince($0.date) == 300 })
  }

  @Test(
    "special days",
    arguments: [
      ("0 12 L * *", "2024-02-29T12:00:00+00:00"),  // last day of a leap February
      ("0 12 LW * *", "2024-02-29T12:00:00+00:00"),  // a Thursday
      ("0 9 * * 5L", "2024-02-23T09:00:00+00:00"),  // last Friday of February
      ("0 9 * * MON#2", "2024-02-12T09:00:00+00:00"),  // second Monday
      ("0 9 * * 0#1", "2024-02-04T09:00:00+00:00"),  // first Sunday
      ("0 9 * * 7", "2024-02-04T09:00:00+00:00"),  // 7 is Sunday too
      ("0 0 13 * 5", "2024-02-02T00:00:00+00:00"),  // OR: a Friday comes before the 13th
      ("0 0 */5 * MON", "2024-02-26T00:00:00+00:00"),  // AND: a Monday on day 1, 6, 11…
    ])
  func specialDays(_ expression: String, _ expected: String) throws {
    let schedule = try CronSchedule(expression)
    #expect(fireTimes(schedule, after: "2024-02-01T00:00:00Z", count: 1, in: .gmt) == [expected])
  }

  @Test("LW moves off a weekend to the Friday before")
  func lastWeekdayBeforeAWeekend() throws {
    let schedule = try CronSchedule("0 12 LW * *")
    #expect(
      fireTimes(schedule, after: "2024-03-01T00:00:00Z", count: 2, in: .gmt) == [
        "2024-03-29T12:00:00+00:00",  // 2024-03-31 is a Sunday
        "2024-04-30T12:00:00+00:00",
      ])
  }

  @Test("six fields: seconds first")
  func seconds() throws {
    let schedule = try CronSchedule("15,45 * * * * *")
    #expect(
      fireTimes(schedule, after: "2025-01-01T00:00:00Z", count: 3, in: .gmt) == [
        "2025-01-01T00:00:15+00:00", "2025-01-01T00:00:45+00:00", "2025-01-01T00:01:15+00:00",
      ])
  }

  @Test("fire times are strictly after the instant, including fractions of a second")
  func strictlyAfter() throws {
    let schedule = try CronSchedule("0 9 * * *")
    let nine = instant("2025-01-01T09:00:00Z")
    #expect(schedule.nextEvent(after: nine)?.date == instant("2025-01-02T09:00:00Z"))
    #expect(schedule.nextEvent(after: nine.addingTimeInterval(-0.25))?.date == nine)
    #expect(schedule.nextEvent(after: nine.addingTimeInterval(0.25))?.date == nine + 86_400)
  }

  @Test("start and end bound the fire times; a fire time at start counts")
  func startAndEnd() throws {
    let schedule = try CronSchedule(
      "0 * * * *", start: instant("2025-01-01T10:00:00Z"), end: instant("2025-01-01T12:00:00Z"))
    #expect(
      fireTimes(schedule, after: "2024-12-01T00:00:00Z", count: 5, in: .gmt) == [
        "2025-01-01T10:00:00+00:00", "2025-01-01T11:00:00+00:00", "2025-01-01T12:00:00+00:00",
      ])
  }

  @Test("an expression that never matches within 50 years ends the schedule")
  func neverMatches() throws {
    let schedule = try CronSchedule("0 0 31 4 MON#5")  // OR: still fires on fifth Mondays
    #expect(schedule.nextEvent(after: instant("2025-01-01T00:00:00Z")) != nil)
    let never = try CronSchedule("0 0 */31 * MON#5")  // AND: day 1 is never a fifth Monday
    #expect(never.nextEvent(after: instant("2025-01-01T00:00:00Z")) == nil)
  }

  @Test("a half-hour zone keeps its offset in the output")
  func halfHourZone() throws {
    let kolkata = zone("Asia/Kolkata")
    let schedule = try CronSchedule("0 9 * * *", timeZone: kolkata)
    #expect(
      fireTimes(schedule, after: "2025-01-01T00:00:00Z", count: 1, in: kolkata) == [
        "2025-01-01T09:00:00+05:30"
      ])
  }

  @Test("the friendly constructor builds the same schedule")
  func friendlyConstructor() throws {
    let schedule: any Schedule = try .cron("0 9 * * MON-FRI", timeZone: berlin)
    let direct = try CronSchedule("0 9 * * MON-FRI", timeZone: berlin)
    let after = instant("2025-06-06T10:00:00Z")  // a Friday
    #expect(
      schedule.events(after: after, count: 5).map(\.date)
        == direct.events(after: after, count: 5).map(\.date))
    #expect(schedule.nextEvent(after: after)?.date == instant("2025-06-09T07:00:00Z"))
  }
}

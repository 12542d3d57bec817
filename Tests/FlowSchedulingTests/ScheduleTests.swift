import FlowCore
import FlowScheduling
import FlowTesting
import Foundation
import Testing

@Suite("Interval, date and union schedules; filters, adjustments, jitter", .timeLimit(.minutes(1)))
struct ScheduleTests {
  private let berlin = zone("Europe/Berlin")

  // MARK: Interval

  @Test("intervals under a day step in absolute time across both changes of offset")
  func subDayIntervals() {
    let hourly = IntervalSchedule(
      start: instant("2025-03-30T00:00:00+01:00"), interval: .seconds(3600), timeZone: berlin)
    #expect(
      fireTimes(hourly, after: "2025-03-30T00:00:00+01:00", count: 3, in: berlin) == [
        "2025-03-30T01:00:00+01:00", "2025-03-30T03:00:00+02:00", "2025-03-30T04:00:00+02:00",
      ])
    #expect(
      fireTimes(hourly, after: "2025-10-26T01:00:00+02:00", count: 3, in: berlin) == [
        "2025-10-26T02:00:00+02:00", "2025-10-26T02:00:00+01:00", "2025-10-26T03:00:00+01:00",
      ])
    let ninety = IntervalSchedule(
      start: instant("2025-03-30T00:30:00+01:00"), interval: .seconds(5400), timeZone: berlin)
    #expect(
      fireTimes(ninety, after: "2025-03-30T00:30:00+01:00", count: 2, in: berlin) == [
        "2025-03-30T03:00:00+02:00", "2025-03-30T04:30:00+02:00",
      ])
    let almostADay = IntervalSchedule(
      start: instant("2025-03-29T09:00:00+01:00"), interval: .seconds(86_399), timeZone: berlin)
    #expect(
      almostADay.nextEvent(after: instant("2025-03-29T09:00:00+01:00"))?.date
        == instant("2025-03-29T09:00:00+01:00").addingTimeInterval(86_399))
  }

  @Test("whole-day intervals keep the wall-clock time across changes of offset")
  func wholeDayIntervals() {
    let daily = IntervalSchedule(
      start: instant("2025-03-28T09:00:00+01:00"), interval: .seconds(86_400), timeZone: berlin)
    #expect(
      fireTimes(daily, after: "2025-03-28T09:00:00+01:00", count: 3, in: berlin) == [
        "2025-03-29T09:00:00+01:00", "2025-03-30T09:00:00+02:00", "2025-03-31T09:00:00+02:00",
      ])
    let events = daily.events(after: instant("2025-03-28T09:00:00+01:00"), count: 2)
    #expect(events[1].date.timeIntervalSince(events[0].date) == 23 * 3600)  // a short day
    let autumn = IntervalSchedule(
      start: instant("2025-10-25T09:00:00+02:00"), interval: .seconds(86_400), timeZone: berlin)
    #expect(
      fireTimes(autumn, after: "2025-10-25T09:00:00+02:00", count: 2, in: berlin) == [
        "2025-10-26T09:00:00+01:00", "2025-10-27T09:00:00+01:00",
      ])
    let everyOtherDay = IntervalSchedule(
      start: instant("2025-03-29T09:00:00+01:00"), interval: .seconds(2 * 86_400), timeZone: berlin)
    #expect(
      fireTimes(everyOtherDay, after: "2025-03-29T09:00:00+01:00", count: 2, in: berlin) == [
        "2025-03-31T09:00:00+02:00", "2025-04-02T09:00:00+02:00",
      ])
  }

  @Test("whole days: a skipped wall-clock time moves later by the gap, a repeated one runs once")
  func wholeDayGapsAndFolds() {
    let skipped = IntervalSchedule(
      start: instant("2025-03-29T02:30:00+01:00"), interval: .seconds(86_400), timeZone: berlin)
    #expect(
      fireTimes(skipped, after: "2025-03-29T02:30:00+01:00", count: 2, in: berlin) == [
        "2025-03-30T03:30:00+02:00", "2025-03-31T02:30:00+02:00",
      ])
    let repeated = IntervalSchedule(
      start: instant("2025-10-25T02:30:00+02:00"), interval: .seconds(86_400), timeZone: berlin)
    #expect(
      fireTimes(repeated, after: "2025-10-25T02:30:00+02:00", count: 2, in: berlin) == [
        "2025-10-26T02:30:00+02:00", "2025-10-27T02:30:00+01:00",
      ])
  }

  @Test("start, end and strictly-after bounds; without a start, aligned to 2019-01-01")
  func intervalBounds() {
    let schedule = IntervalSchedule(
      start: instant("2025-01-01T00:00:00Z"), interval: .seconds(600),
      end: instant("2025-01-01T00:30:00Z"))
    #expect(
      fireTimes(schedule, after: "2024-12-31T00:00:00Z", count: 9, in: .gmt) == [
        "2025-01-01T00:00:00+00:00", "2025-01-01T00:10:00+00:00", "2025-01-01T00:20:00+00:00",
        "2025-01-01T00:30:00+00:00",
      ])
    #expect(
      schedule.nextEvent(after: instant("2025-01-01T00:10:00Z"))?.date
        == instant("2025-01-01T00:20:00Z"))
    #expect(schedule.nextEvent(after: instant("2025-01-01T00:30:00Z")) == nil)
    let hourly = IntervalSchedule(interval: .seconds(3600))
    #expect(
      hourly.nextEvent(after: instant("2025-05-05T10:20:00Z"))?.date
        == instant("2025-05-05T11:00:00Z"))
    // Aligned to midnight of 2019-01-01 in Berlin (23:00 UTC): odd UTC hours.
    let twoHourly: any Schedule = .every(.seconds(7200), timeZone: berlin)
    #expect(
      twoHourly.nextEvent(after: instant("2025-05-05T10:20:00Z"))?.date
        == instant("2025-05-05T11:00:00Z"))
  }

  // MARK: Dates and unions

  @Test("explicit dates fire in order, once each, strictly after the instant")
  func dates() {
    let a = instant("2025-01-01T00:00:00Z")
    let b = instant("2025-02-01T00:00:00Z")
    let c = instant("2025-03-01T00:00:00Z")
    let schedule = DateSchedule([c, a, b, a])
    #expect(schedule.dates == [a, b, c])
    #expect(schedule.events(after: a.addingTimeInterval(-1), count: 5).map(\.date) == [a, b, c])
    #expect(schedule.nextEvent(after: a)?.date == b)
    #expect(schedule.nextEvent(after: c) == nil)
  }

  @Test("a union merges its members in time order, each with its own parameter defaults")
  func unionWithParameters() throws {
    let union: any Schedule = .union([
      try CronSchedule("0 9 * * MON-FRI", timeZone: berlin).withParameters(["mode": "full"]),
      try CronSchedule("0 12 * * SAT", timeZone: berlin).withParameters(["mode": "light"]),
    ])
    let events = union.events(after: instant("2025-06-05T10:00:00+02:00"), count: 3)
    let format = ISO8601OffsetFormat(timeZone: berlin)
    #expect(
      events.map { format.string(from: $0.date) } == [
        "2025-06-06T09:00:00+02:00", "2025-06-07T12:00:00+02:00", "2025-06-09T09:00:00+02:00",
      ])
    #expect(events.map { $0.parameters["mode"] as? String } == ["full", "light", "full"])
  }

  @Test("members firing at the same instant fire once, with the first member's parameters")
  func unionTies() {
    let start = instant("2025-01-01T00:00:00Z")
    let hourly = IntervalSchedule(start: start, interval: .seconds(3600))
    let twoHourly = IntervalSchedule(start: start, interval: .seconds(7200))
    let union = UnionSchedule([
      hourly.withParameters(["who": "hourly"]), twoHourly.withParameters(["who": "two"]),
    ])
    let events = union.events(after: start, count: 3)
    #expect(
      events.map(\.date) == [1, 2, 3].map { start.addingTimeInterval(TimeInterval($0 * 3600)) })
    #expect(events.map { $0.parameters["who"] as? String } == ["hourly", "hourly", "hourly"])
    let reversed = UnionSchedule([
      twoHourly.withParameters(["who": "two"]), hourly.withParameters(["who": "hourly"]),
    ])
    #expect(
      reversed.events(after: start, count: 2).map { $0.parameters["who"] as? String } == [
        "hourly", "two",
      ])
    let nested = hourly.withParameters(["x": 1, "y": 1]).withParameters(["y": 2])
    let parameters = nested.nextEvent(after: start)?.parameters
    #expect(parameters?["x"] as? Int == 1 && parameters?["y"] as? Int == 2)
  }

  // MARK: Filters

  private var hourlyInBerlin: IntervalSchedule {
    IntervalSchedule(interval: .seconds(3600), timeZone: berlin)
  }

  private func local(_ schedule: some Schedule, after: String, count: Int) -> [String] {
    fireTimes(schedule, after: after, count: count, in: berlin)
  }

  @Test("weekday and time-of-day filters read the schedule's zone; and, or, not combine")
  func filters() {
    let office = hourlyInBerlin.filter(
      .isWeekday && .between(TimeOfDay(hour: 9), TimeOfDay(hour: 11)))
    #expect(
      local(office, after: "2025-06-06T10:30:00+02:00", count: 4) == [
        "2025-06-06T11:00:00+02:00", "2025-06-09T09:00:00+02:00", "2025-06-09T10:00:00+02:00",
        "2025-06-09T11:00:00+02:00",
      ])
    // Friday 22:00 UTC is already Saturday in Berlin.
    #expect(
      local(hourlyInBerlin.filter(.isWeekend), after: "2025-06-06T22:30:00+02:00", count: 1) == [
        "2025-06-07T00:00:00+02:00"
      ])
    #expect(
      local(
        hourlyInBerlin.filter(.isWeekend, timeZone: .gmt), after: "2025-06-06T22:30:00+02:00",
        count: 1) == ["2025-06-07T02:00:00+02:00"])
    let weekendAgain = hourlyInBerlin.filter(!.isWeekday)
    let after = instant("2025-06-06T12:00:00Z")
    #expect(
      weekendAgain.events(after: after, count: 60).map(\.date)
        == hourlyInBerlin.filter(.isWeekend).events(after: after, count: 60).map(\.date))
    let twice = hourlyInBerlin.filter(
      (.atTime(TimeOfDay(hour: 9)) || .atTime(TimeOfDay(hour: 17))) && .isWeekday)
    #expect(
      local(twice, after: "2025-06-06T10:00:00+02:00", count: 3) == [
        "2025-06-06T17:00:00+02:00", "2025-06-09T09:00:00+02:00", "2025-06-09T17:00:00+02:00",
      ])
  }

  @Test("between wraps past midnight; onWeekdays and atTime pick days and times")
  func betweenAndWeekdays() {
    let night = hourlyInBerlin.filter(.between(TimeOfDay(hour: 22), TimeOfDay(hour: 2)))
    #expect(
      local(night, after: "2025-06-06T20:30:00+02:00", count: 6) == [
        "2025-06-06T22:00:00+02:00", "2025-06-06T23:00:00+02:00", "2025-06-07T00:00:00+02:00",
        "2025-06-07T01:00:00+02:00", "2025-06-07T02:00:00+02:00", "2025-06-07T22:00:00+02:00",
      ])
    let mondayWednesday = hourlyInBerlin.filter(
      .onWeekdays(.monday, .wednesday) && .atTime(TimeOfDay(hour: 9)))
    #expect(
      local(mondayWednesday, after: "2025-06-02T10:00:00+02:00", count: 2) == [
        "2025-06-04T09:00:00+02:00", "2025-06-09T09:00:00+02:00",
      ])
  }

  @Test("onDates and isMonthEnd")
  func datesAndMonthEnds() {
    let eves = hourlyInBerlin.filter(
      .onDates([
        LocalDate(year: 2025, month: 12, day: 24), LocalDate(year: 2025, month: 12, day: 31),
      ])
        && .atTime(TimeOfDay(hour: 18)))
    #expect(
      local(eves, after: "2025-12-01T00:00:00+01:00", count: 2) == [
        "2025-12-24T18:00:00+01:00", "2025-12-31T18:00:00+01:00",
      ])
    let monthEnds = hourlyInBerlin.filter(.isMonthEnd && .atTime(TimeOfDay(hour: 12)))
    #expect(
      local(monthEnds, after: "2024-01-15T00:00:00+01:00", count: 4) == [
        "2024-01-31T12:00:00+01:00", "2024-02-29T12:00:00+01:00", "2024-03-31T12:00:00+02:00",
        "2024-04-30T12:00:00+02:00",
      ])
  }

  @Test("a filter that rejects everything ends the schedule instead of searching forever")
  func rejectAll() {
    let never = FilteredSchedule(
      hourlyInBerlin, filter: .isWeekday && .isWeekend, timeZone: berlin, maxSkipped: 1000)
    #expect(never.nextEvent(after: instant("2025-01-01T00:00:00Z")) == nil)
  }

  // MARK: Adjustments

  @Test("nextWeekday moves weekend fire times to Monday at the same wall-clock time, once")
  func nextWeekday() throws {
    let daily = try CronSchedule("0 9 * * *", timeZone: berlin).adjusted(by: .nextWeekday)
    #expect(
      local(daily, after: "2025-06-05T10:00:00+02:00", count: 3) == [
        "2025-06-06T09:00:00+02:00", "2025-06-09T09:00:00+02:00", "2025-06-10T09:00:00+02:00",
      ])
    let saturdays = try CronSchedule("0 9 * * SAT", timeZone: berlin).adjusted(by: .nextWeekday)
    #expect(
      local(saturdays, after: "2025-03-27T00:00:00+01:00", count: 1) == [
        "2025-03-31T09:00:00+02:00"  // across the change: still 09:00
      ])
  }

  @Test("regression: an adjustment that reorders fire times still yields them in order")
  func adjustmentReorders() throws {
    // Saturday 21:00 moves to Monday 21:00, after Monday 09:00: Monday 09:00 must not be lost.
    let schedule = UnionSchedule([
      try CronSchedule("0 21 * * SAT"), try CronSchedule("0 9 * * MON"),
    ])
    .adjusted(by: .nextWeekday)
    #expect(
      fireTimes(schedule, after: "2025-06-06T12:00:00Z", count: 3, in: .gmt) == [
        "2025-06-09T09:00:00+00:00", "2025-06-09T21:00:00+00:00", "2025-06-16T09:00:00+00:00",
      ])
  }

  @Test("adding a duration moves every fire time, either way; adjustments chain")
  func addingDurations() throws {
    let nine = try CronSchedule("0 9 * * *")
    #expect(
      fireTimes(
        nine.adjusted(by: .adding(.seconds(1800))), after: "2025-06-02T09:10:00Z", count: 2,
        in: .gmt) == [
          "2025-06-02T09:30:00+00:00", "2025-06-03T09:30:00+00:00",
        ])
    #expect(
      fireTimes(
        nine.adjusted(by: .adding(.seconds(-600))), after: "2025-06-02T08:55:00Z", count: 1,
        in: .gmt) == [
          "2025-06-03T08:50:00+00:00"
        ])
    let chained = try CronSchedule("0 9 * * SAT").adjusted(
      by: ScheduleAdjustment.nextWeekday.then(.adding(.seconds(3600))))
    #expect(
      fireTimes(chained, after: "2025-06-02T00:00:00Z", count: 1, in: .gmt) == [
        "2025-06-02T10:00:00+00:00"  // Saturday 05-31 09:00, to Monday, then an hour on
      ])
  }

  // MARK: Jitter

  @Test("seeded jitter: the same seed gives the same times, each delay below the bound")
  func jitter() {
    let start = instant("2025-01-01T00:00:00Z")
    let base = IntervalSchedule(start: start, interval: .seconds(3600))
    let one = base.jittered(upTo: .seconds(600), random: SeededRandomSource(seed: 7))
    let two = base.jittered(upTo: .seconds(600), random: SeededRandomSource(seed: 7))
    let other = base.jittered(upTo: .seconds(600), random: SeededRandomSource(seed: 8))
    let times = one.events(after: start, count: 24).map(\.date)
    #expect(times == two.events(after: start, count: 24).map(\.date))
    #expect(times != other.events(after: start, count: 24).map(\.date))
    let baseTimes = base.events(after: start.addingTimeInterval(-1), count: 24).map(\.date)
    let delays = zip(times, baseTimes).map { $0.timeIntervalSince($1) }
    #expect(delays.allSatisfy { $0 >= 0 && $0 < 600 })
    #expect(Set(delays).count > 20)  // they spread out
  }

  @Test("jitter longer than the interval still yields every fire time once, in order")
  func jitterReorders() {
    let start = instant("2025-01-01T00:00:00Z")
    let base = IntervalSchedule(start: start, interval: .seconds(60))
    let jittered = JitteredSchedule(base, maxDelay: .seconds(600), seed: 42)
    let times = jittered.events(after: start, count: 200).map(\.date)
    #expect(zip(times, times.dropFirst()).allSatisfy { $0 < $1 })
    let expected = base.events(after: start.addingTimeInterval(-600), count: 400)
      .map { $0.date.addingTimeInterval(jittered.delay(of: $0.date)) }
      .filter { $0 > start }.sorted()
    #expect(times == Array(expected.prefix(200)))
  }
}

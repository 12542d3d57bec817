import FlowScheduling
import Foundation
import Testing

@Suite("Cron expressions: parsing and errors", .timeLimit(.minutes(1)))
struct CronExpressionTests {
  @Test(
    "well-formed expressions parse",
    arguments: [
      "* * * * *", "*/5 * * * *", "0 9 * * MON-FRI", "0 9 * * mon-fri", "1-30/2 * * * *",
      "5/15 * * * *", "0 0 L * *", "0 0 LW * *", "0 9 * * 5L", "0 9 * * MON#2", "0 0 1,15 * *",
      "0 0 * JAN-MAR *", "0 0 * * 7", "*/30 * * * * *", "0 0 12 * * MON", "0 0 * * SUN,SAT",
      "  0   9 * *   *  ", "0 0 L/2 * *", "0 0 * * 1#5,5L",
    ])
  func parses(_ text: String) throws {
    let expression = try CronExpression(text)
    #expect(expression.text == text)
  }

  @Test(
    "a bad expression names the field, the token and the valid range",
    arguments: [
      ("61 * * * *", "outOfRange", "minute", "61", "minute: 61 is outside 0-59"),
      ("0 24 * * *", "outOfRange", "hour", "24", "hour: 24 is outside 0-23"),
      ("0 0 0 * *", "outOfRange", "day-of-month", "0", "day-of-month: 0 is outside 1-31"),
      ("0 0 32 * *", "outOfRange", "day-of-month", "32", "day-of-month: 32 is outside 1-31"),
      ("0 0 * 13 *", "outOfRange", "month", "13", "month: 13 is outside 1-12"),
      ("0 0 * * 8", "outOfRange", "day-of-week", "8", "day-of-week: 8 is outside 0-7"),
      ("60 * * * * *", "outOfRange", "second", "60", "second: 60 is outside 0-59"),
      (
        "0 0 * FOO *", "unknownToken", "month", "FOO",
        "month: 'FOO' is not a number in 1-12 or a name JAN-DEC"
      ),
      (
        "0 0 * * FUN", "unknownToken", "day-of-week", "FUN",
        "day-of-week: 'FUN' is not a number in 0-7 or a name SUN-SAT"
      ),
      ("x * * * *", "unknownToken", "minute", "X", "minute: 'X' is not a number in 0-59"),
      ("1,,2 * * * *", "emptyItem", "minute", "1,,2", "minute: empty item in the list '1,,2'"),
      ("*/0 * * * *", "badStep", "minute", "*/0", "minute: step 0 in '*/0' must be at least 1"),
      ("*/x * * * *", "badStep", "minute", "*/X", "minute: step 'X' in '*/X' is not a number"),
      ("0 5-3 * * *", "badRange", "hour", "5-3", "hour: range 5-3 ends before it starts"),
      (
        "0 5- * * *", "badRange", "hour", "5-",
        "hour: range '5-' needs a start and an end, as in 1-5"
      ),
      (
        "0 0 * * MON#6", "badNth", "day-of-week", "MON#6",
        "day-of-week: #6 in 'MON#6' is outside 1-5"
      ),
      (
        "0 0 * * MON#0", "badNth", "day-of-week", "MON#0",
        "day-of-week: #0 in 'MON#0' is outside 1-5"
      ),
      (
        "0 0 * * FRIL", "badLast", "day-of-week", "FRIL",
        "day-of-week: 'FRIL' needs a day number (0-7) right before L, as in 5L for the last Friday"
      ),
      (
        "0 0 30 2 *", "impossibleDay", "day-of-month", "30",
        "day-of-month: 30 never comes: the allowed months have at most 29 days"
      ),
    ])
  func rejects(
    _ text: String, code: String, field: String, token: String, message: String
  ) {
    #expect {
      try CronExpression(text)
    } throws: { error in
      guard let error = error as? CronExpressionError else { return false }
      return error.code.name == code && error.field?.name == field && error.token == token
        && error.message == message && error.description == message && error.expression == text
    }
  }

  @Test("the wrong number of fields is rejected with the count", arguments: [0, 1, 4, 7])
  func fieldCount(_ count: Int) throws {
    let text = Array(repeating: "*", count: count).joined(separator: " ")
    let error = try #require(throws: CronExpressionError.self) { try CronExpression(text) }
    #expect(error.code == .fieldCount)
    #expect(error.field == nil)
    #expect(error.message.contains("got \(count)"))
  }

  @Test("day 30 of February is allowed when the day-of-week field is restricted too (OR rule)")
  func impossibleDayWithWeekdays() throws {
    let schedule = try CronSchedule("0 0 30 2 MON")
    let first = try #require(schedule.nextEvent(after: instant("2025-01-01T00:00:00Z")))
    #expect(first.date == instant("2025-02-03T00:00:00Z"))  // the first Monday of February
  }

  @Test("wall-clock handling applies to 5-field expressions with fixed minute and hour")
  func wallClockRule() throws {
    #expect(try CronExpression("30 2 * * *").usesWallClock)
    #expect(try CronExpression("0,30 1-3 * * *").usesWallClock)
    #expect(try !CronExpression("*/15 * * * *").usesWallClock)
    #expect(try !CronExpression("0 */2 * * *").usesWallClock)
    #expect(try !CronExpression("0 30 2 * * *").usesWallClock)  // six fields: elapsed time
    #expect(try CronExpression("0 30 2 * * *").hasSeconds)
  }
}

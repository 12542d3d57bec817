import FlowCore
import FlowScheduling
import Foundation
import Testing

/// One line of `Resources/cron-cronsim.jsonl`: an expression, a zone, a start instant and the
/// next 12 fire times that cronsim 2.8 computes.
struct ConformanceCase: Sendable, CustomTestStringConvertible {
  let line: Int
  let expression: String
  let zone: String
  let start: String
  let next: [String]

  var testDescription: String { "line \(line): '\(expression)' in \(zone) after \(start)" }

  private struct Line: Decodable {
    let expr: String
    let tz: String
    let start: String
    let next: [String]
  }

  /// Every case of the file, in order; empty when the resource is missing (a separate test
  /// checks the count).
  static let all: [ConformanceCase] = {
    guard
      let url = Bundle.module.url(forResource: "cron-cronsim", withExtension: "jsonl"),
      let text = try? String(contentsOf: url, encoding: .utf8)
    else { return [] }
    let decoder = JSONDecoder()
    return text.split(separator: "\n").enumerated().compactMap { index, line in
      guard let decoded = try? decoder.decode(Line.self, from: Data(line.utf8)) else { return nil }
      return ConformanceCase(
        line: index + 1, expression: decoded.expr, zone: decoded.tz, start: decoded.start,
        next: decoded.next)
    }
  }()
}

@Suite("Cron conformance with cronsim 2.8", .timeLimit(.minutes(1)))
struct CronConformanceTests {
  @Test("the vector file has 312 cases of 12 fire times each")
  func loadsEveryCase() {
    #expect(ConformanceCase.all.count == 312)
    #expect(ConformanceCase.all.allSatisfy { $0.next.count == 12 })
    #expect(Set(ConformanceCase.all.map(\.zone)).count == 14)
  }

  @Test(
    "the next 12 fire times match, as instants and with their UTC offsets",
    arguments: ConformanceCase.all)
  func matchesCronsim(_ vector: ConformanceCase) throws {
    let zone = try #require(TimeZone(identifier: vector.zone), "line \(vector.line): zone")
    let format = ISO8601OffsetFormat(timeZone: zone)
    let schedule = try CronSchedule(vector.expression, timeZone: zone)
    let start = try format.date(from: vector.start)
    let events = schedule.events(after: start, count: 12)
    let expected = try vector.next.map { try format.date(from: $0) }
    #expect(
      events.map(\.date) == expected,
      "line \(vector.line): '\(vector.expression)' in \(vector.zone) after \(vector.start)")
    #expect(
      events.map { format.string(from: $0.date) } == vector.next,
      "line \(vector.line): '\(vector.expression)' in \(vector.zone) after \(vector.start)")
  }
}

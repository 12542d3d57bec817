import FlowCore
import FlowExecutors
import FlowLogging
import FlowTesting
import Foundation
import Logging
import Testing

@Suite("Console and JSON-lines formats")
struct FormatTests {
  let utc = TimeZone(identifier: "UTC")!

  @Test("a console line is Prefect's: time, padded level, task context, message")
  func consoleLine() {
    let line = ConsoleLogHandler.format(
      time: start.addingTimeInterval(5), level: .info, message: "Starting task run...",
      metadata: ["flow": "etl", "task": "load_data", "attempt": "1"], timeZone: utc)
    #expect(line == "└── 08:00:05 | INFO    | Task 'load_data': Starting task run...")
  }

  @Test(
    "levels are upper-cased and padded to seven characters",
    arguments: [
      (Logger.Level.trace, "TRACE  "), (.debug, "DEBUG  "), (.info, "INFO   "),
      (.notice, "NOTICE "), (.warning, "WARNING"), (.error, "ERROR  "), (.critical, "CRITICAL"),
    ])
  func levelPadding(level: Logger.Level, padded: String) {
    let line = ConsoleLogHandler.format(
      time: start, level: level, message: "m", metadata: [:], timeZone: utc)
    #expect(line == "└── 08:00:00 | \(padded) | m")
  }

  @Test("mapped children show their index; flow records stand alone; the time zone applies")
  func context() {
    let child = ConsoleLogHandler.format(
      time: start.addingTimeInterval(3_600 * 7 + 61), level: .error, message: "boom",
      metadata: ["flow": "etl", "task": "summarize", "map_index": "2"], timeZone: utc)
    #expect(child == "└── 15:01:01 | ERROR   | Task 'summarize[2]': boom")
    let flow = ConsoleLogHandler.format(
      time: start, level: .info, message: "Flow run SUCCESS: all reference tasks succeeded",
      metadata: ["flow": "etl", "flow_run_id": "x"],
      timeZone: TimeZone(secondsFromGMT: -5 * 3_600)!)
    #expect(flow == "└── 03:00:00 | INFO    | Flow run SUCCESS: all reference tasks succeeded")
    // An agent's console shows which run a record is about.
    let agent = ConsoleLogHandler.format(
      time: start, level: .info, message: "Starting task run...",
      metadata: ["task": "load", "flow_run_id": "dd945318-73ff-4855-97c6-3a7ce78ee9d5"],
      timeZone: utc, showsRun: true)
    #expect(agent == "└── 08:00:00 | INFO    | [dd945318] Task 'load': Starting task run...")
  }

  @Test("a run's records render as console lines at the run's virtual times")
  func consoleRun() async throws {
    let clock = TestClock(now: start, autoAdvance: true)
    let wait = task("wait") { () async throws -> Int in
      try await TaskRunContext.current!.environment.clock.sleep(
        until: start.addingTimeInterval(90))
      return 1
    }
    let flow = Flow("etl") { wait() }
    let result = try await flow.run(environment: .testing(seed: 4, clock: clock))
    let lines = result.logs.map {
      ConsoleLogHandler.format(
        time: $0.time, level: $0.level, message: $0.message, metadata: $0.metadata, timeZone: utc)
    }
    #expect(
      lines == [
        "└── 08:00:00 | INFO    | Beginning Flow run for 'etl'",
        "└── 08:00:00 | INFO    | Task 'wait': Starting task run...",
        "└── 08:01:30 | INFO    | Task 'wait': Finished task run for task with final state: 'Success'",
        "└── 08:01:30 | INFO    | Flow run SUCCESS: all reference tasks succeeded",
      ])
  }

  @Test("a JSON line has time, level, message and the metadata at the top level, keys sorted")
  func jsonLine() {
    let record = LogRecord(
      time: start.addingTimeInterval(0.25), level: .info, message: "Starting task run...",
      metadata: ["flow": "etl", "task": "load", "attempt": "1"])
    #expect(
      JSONLinesLogHandler.format(record)
        == #"{"attempt":"1","flow":"etl","level":"info","message":"Starting task run...","#
        + #""task":"load","time":"2027-01-15T08:00:00.250Z"}"#)
  }

  @Test("quotes, backslashes, newlines, control characters and unicode survive a round trip")
  func jsonEscaping() throws {
    let message = "say \"hi\"\nsecond\tline \\ / é 日本 🚀 \u{1}\u{1F}\r end"
    let record = LogRecord(
      time: start, level: .warning, message: message,
      metadata: ["odd \"key\"\n": "value with \"quotes\"\n", "path": "a/b\\c", "emoji": "🙂"])
    let line = JSONLinesLogHandler.format(record)
    #expect(!line.contains("\n") && !line.contains("\r"))
    let object = try #require(
      try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: String])
    #expect(
      object == [
        "time": "2027-01-15T08:00:00.000Z", "level": "warning", "message": message,
        "odd \"key\"\n": "value with \"quotes\"\n", "path": "a/b\\c", "emoji": "🙂",
      ])
  }

  @Test("metadata never overrides time, level or message")
  func jsonReservedKeys() throws {
    let record = LogRecord(
      time: start, level: .error, message: "real",
      metadata: ["time": "fake", "level": "fake", "message": "fake", "state": "Failed"])
    let object = try #require(
      try JSONSerialization.jsonObject(with: Data(JSONLinesLogHandler.format(record).utf8))
        as? [String: String])
    #expect(
      object["message"] == "real" && object["level"] == "error" && object["state"] == "Failed")
    #expect(object["time"] == "2027-01-15T08:00:00.000Z")
  }

  @Test("every record of a run is one JSON line with the run's metadata as top-level keys")
  func jsonRun() async throws {
    let clock = TestClock(now: start)
    let chatty = task("chatty") { (value: Int) -> Int in
      TaskRunContext.current!.logger.notice("odd \"text\"\nwith a newline ✓")
      return value
    }
    let flow = Flow("json") { chatty.map(.constant([1, 2])) }
    let result = try await flow.run(environment: .testing(seed: 5, clock: clock))
    #expect(result.logs.count == 9)
    for record in result.logs {
      let line = JSONLinesLogHandler.format(record)
      #expect(!line.contains("\n"))
      let object = try #require(
        try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: String])
      #expect(object["time"] == "2027-01-15T08:00:00.000Z")
      #expect(object["level"] == record.level.rawValue)
      #expect(object["message"] == record.message)
      #expect(object["flow"] == "json")
      #expect(object["flow_run_id"] == result.flowRunID.uuidString.lowercased())
      for (key, value) in record.metadata { #expect(object[key] == value) }
      #expect(Set(object.keys) == Set(record.metadata.keys).union(["time", "level", "message"]))
    }
    let notes = result.logs.filter { $0.level == .notice }
    #expect(notes.map { $0.metadata["map_index"] } == ["0", "1"])
    #expect(notes.allSatisfy { $0.message == "odd \"text\"\nwith a newline ✓" })
  }
}

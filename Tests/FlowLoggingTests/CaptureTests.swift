import FlowCore
import FlowExecutors
import FlowLogging
import FlowTesting
import Foundation
import Logging
import Testing

@Suite("Bounded capture and log levels")
struct CaptureTests {
  let runID = UUID(uuidString: "00000000-0000-0000-0000-0000000000AB")!

  @Test("a full log drops its oldest records and counts them")
  func bounded() {
    let log = RunLog(flowName: "f", flowRunID: runID, capacity: 3)
    for index in 0..<5 {
      log.append(.message("record \(index)"), at: start.addingTimeInterval(Double(index)))
    }
    #expect(log.records.map(\.message) == ["record 2", "record 3", "record 4"])
    #expect(log.records.map { $0.time.timeIntervalSince(start) } == [2, 3, 4])
    #expect(log.droppedCount == 2)
    #expect(
      log.records.allSatisfy {
        $0.metadata == ["flow": "f", "flow_run_id": "00000000-0000-0000-0000-0000000000ab"]
      })
  }

  @Test("a capacity below one keeps one record")
  func tinyCapacity() {
    let log = RunLog(flowName: "f", flowRunID: runID, capacity: 0)
    log.append(.message("a"), at: start)
    log.append(.message("b"), at: start)
    #expect(log.records.map(\.message) == ["b"])
    #expect(log.droppedCount == 1)
  }

  @Test("a run that logs more than the capacity keeps the newest records and reports the rest")
  func runOverflow() async throws {
    let extra = 5
    let noisy = task("noisy") { () -> Int in
      let logger = TaskRunContext.current!.logger
      for index in 0..<(RunLog.defaultCapacity + extra) { logger.debug("line \(index)") }
      return 1
    }
    let flow = Flow("noisy") { noisy() }
    let result = try await flow.run(environment: .testing(seed: 1, clock: TestClock(now: start)))
    // Flow start, task start, the lines, task finish, flow finish: four more than the lines.
    #expect(result.droppedLogCount == extra + 4)
    let logs = result.logs
    #expect(logs.count == RunLog.defaultCapacity)
    #expect(logs.first?.message == "line \(extra + 2)")
    #expect(logs.last?.message == "Flow run SUCCESS: all reference tasks succeeded")
  }

  @Test("records below the log's level are neither kept nor forwarded")
  func levelFilter() {
    let (forward, store) = InMemoryLogHandler.logger(level: .warning)
    let log = RunLog(flowName: "f", flowRunID: runID, level: .info, forward: forward)
    #expect(!log.wants(.debug))
    #expect(log.wants(.info))
    log.append(.message("debug"), level: .debug, at: start)
    log.append(.message("info"), level: .info, at: start)
    log.append(.message("warning"), level: .warning, at: start)
    #expect(log.records.map(\.message) == ["info", "warning"])
    #expect(store.records.map(\.message) == ["warning"])
    #expect(store.records.first?.metadata["flow"] == "f")
  }

  @Test("a forward logger below the log's level still receives its records")
  func forwardBelowCapture() {
    let (forward, store) = InMemoryLogHandler.logger(level: .debug)
    let log = RunLog(flowName: "f", flowRunID: runID, level: .error, forward: forward)
    #expect(log.wants(.debug))
    #expect(!log.wants(.trace))
    log.append(.message("debug"), level: .debug, at: start)
    #expect(log.records.isEmpty)
    #expect(store.records.map(\.message) == ["debug"])
    let handler = RunLogHandler(log: log, subject: nil, clock: TestClock(now: start))
    #expect(handler.logLevel == .debug)
  }

  @Test("a run keeps every level, and the live logger gets only what its level lets through")
  func runLevels() async throws {
    let (logger, store) = InMemoryLogHandler.logger(level: .warning)
    let flaky = task("flaky", retries: .init(maxRetries: 1, delay: .seconds(5))) {
      () throws -> Int in
      let context = TaskRunContext.current!
      context.logger.debug("details")
      if context.attempt == 1 { throw Flaky() }
      return 1
    }
    let flow = Flow("levels") { flaky() }
    var environment = RunEnvironment.testing(
      seed: 1, clock: TestClock(now: start, autoAdvance: true))
    environment.logger = logger
    let result = try await flow.run(environment: environment)
    #expect(result.logs.filter { $0.level == .debug }.count == 2)
    #expect(store.records.map(\.level) == [.warning])
    #expect(store.records.first?.metadata["state"] == "Retrying")
  }

  @Test(
    "log level names parse in any case, with blanks, and warn means warning",
    arguments: [
      ("trace", Logger.Level.trace), ("DEBUG", .debug), (" Info ", .info), ("notice", .notice),
      ("warn", .warning), ("WARNING", .warning), ("error", .error), ("Critical", .critical),
    ])
  func parse(text: String, level: Logger.Level) throws {
    #expect(try LogLevelSetting.parse(text) == level)
  }

  @Test("a bad level name is an error that lists the valid names")
  func badLevel() {
    #expect(throws: LogLevelError(text: "loud")) { try LogLevelSetting.parse("loud") }
    let error = LogLevelError(text: "loud")
    #expect(error.code == .unknownLevel)
    #expect(
      error.description
        == "'loud' is not a log level; use one of trace, debug, info, notice, warning, error, "
        + "critical")
  }

  @Test("--log-level wins over FLOW_LOG_LEVEL, which wins over the fallback")
  func resolve() throws {
    let environment = ["FLOW_LOG_LEVEL": "error"]
    #expect(try LogLevelSetting.resolve(option: "debug", environment: environment) == .debug)
    #expect(try LogLevelSetting.resolve(option: nil, environment: environment) == .error)
    #expect(try LogLevelSetting.resolve(option: nil, environment: [:]) == .info)
    #expect(
      try LogLevelSetting.resolve(
        option: nil, environment: ["FLOW_LOG_LEVEL": "  "], fallback: .notice)
        == .notice)
  }

  @Test("a bad level names where it came from")
  func badSource() {
    do {
      _ = try LogLevelSetting.resolve(option: nil, environment: ["FLOW_LOG_LEVEL": "verbose"])
      Issue.record("a bad FLOW_LOG_LEVEL must throw")
    } catch {
      #expect(error.source == "FLOW_LOG_LEVEL")
      #expect(
        error.description.hasPrefix("FLOW_LOG_LEVEL: 'verbose' is not a log level; use one of"))
    }
    do {
      _ = try LogLevelSetting.resolve(option: "loud", environment: ["FLOW_LOG_LEVEL": "info"])
      Issue.record("a bad --log-level must throw")
    } catch {
      #expect(error.description.hasPrefix("--log-level: 'loud' is not a log level"))
    }
  }
}

import FlowCore
import FlowExecutors
import FlowLogging
import FlowState
import FlowTesting
import Foundation
import Logging
import Testing

@Suite("Run logs: transitions, metadata and order")
struct RunLogTests {
  @Test("a run with a retry, a failure and a skip logs every record in order, with metadata")
  func transitions() async throws {
    let clock = TestClock(now: start)
    let flaky = task("flaky", retries: .init(maxRetries: 1, delay: .seconds(30))) {
      () throws -> Int in
      let context = TaskRunContext.current!
      context.logger.info("attempt \(context.attempt)", metadata: ["custom": "yes"])
      if context.attempt == 1 { throw Flaky() }
      return context.attempt
    }
    let broken = task("broken") { (_: Int) throws -> Int in throw Flaky() }
    let skipper = task("skipper") { () throws -> Int in throw SkipTask("nothing to do") }
    let afterSkip = task("after_skip") { (value: Int) -> Int in value }
    let flow = Flow("logged") {
      broken(flaky())
      afterSkip(skipper())
    }
    let (logger, store) = InMemoryLogHandler.logger(level: .trace)
    var environment = RunEnvironment.testing(seed: 3, clock: clock)
    environment.logger = logger
    async let running = flow.run(environment: environment)
    await clock.waitForSleepers(1)  // flaky waits 30 s to retry
    await clock.advance(by: .seconds(30))
    let result = try await running

    let flowRun = ["flow": "logged", "flow_run_id": result.flowRunID.uuidString.lowercased()]
    func about(_ slug: String, attempt: Int, state: String? = nil) -> [String: String] {
      var metadata = flowRun
      metadata["task"] = slug
      metadata["task_run_id"] = result.taskRun(slug)!.id.uuidString.lowercased()
      metadata["attempt"] = String(attempt)
      metadata["state"] = state
      return metadata
    }
    var attempt1 = about("flaky", attempt: 1)
    attempt1["custom"] = "yes"
    var attempt2 = about("flaky", attempt: 2)
    attempt2["custom"] = "yes"
    let expected: [ReceivedRecord] = [
      .init(
        level: .info, message: "Beginning Flow run for 'logged'",
        metadata: flowRun.merging(["state": "Running"]) { $1 }),
      .init(
        level: .info, message: "Starting task run...",
        metadata: about("flaky", attempt: 1, state: "Running")),
      .init(level: .info, message: "attempt 1", metadata: attempt1),
      .init(
        level: .warning,
        message:
          "Finished task run for task with final state: 'Retrying' "
          + "(Attempt 1 of 2 failed; retrying in 30.0 seconds: Flaky())",
        metadata: about("flaky", attempt: 1, state: "Retrying")),
      // A retry's wait holds no slot, on .sequential too: skipper and after_skip run during it.
      .init(
        level: .info, message: "Starting task run...",
        metadata: about("skipper", attempt: 1, state: "Running")),
      .init(
        level: .info,
        message: "Finished task run for task with final state: 'Skipped' (nothing to do)",
        metadata: about("skipper", attempt: 1, state: "Skipped")),
      .init(
        level: .info,
        message:
          "Finished task run for task with final state: 'Skipped' (Upstream task 'skipper' was "
          + "skipped; set `skipOnUpstreamSkip: false` to run anyway.)",
        metadata: about("after_skip", attempt: 0, state: "Skipped")),
      .init(
        level: .info, message: "Starting task run...",
        metadata: about("flaky", attempt: 2, state: "Running")),
      .init(level: .info, message: "attempt 2", metadata: attempt2),
      .init(
        level: .info, message: "Finished task run for task with final state: 'Success'",
        metadata: about("flaky", attempt: 2, state: "Success")),
      .init(
        level: .info, message: "Starting task run...",
        metadata: about("broken", attempt: 1, state: "Running")),
      .init(
        level: .error,
        message: "Finished task run for task with final state: 'Failed' (Flaky())",
        metadata: about("broken", attempt: 1, state: "Failed")),
      .init(
        level: .error, message: "Flow run FAILED: some reference tasks failed: broken",
        metadata: flowRun.merging(["state": "Failed"]) { $1 }),
    ]
    #expect(result.logs.map(\.received) == expected)
    // The live handler received the same records, in the same order.
    #expect(store.records == expected)
    #expect(result.droppedLogCount == 0)
    // Records are stamped with the run's clock: the second attempt ran 30 virtual seconds later.
    let times = result.logs.map { $0.time.timeIntervalSince(start) }
    #expect(times == [0, 0, 0, 0, 0, 0, 0, 30, 30, 30, 30, 30, 30])
    #expect(result.state.kind == .failed)
  }

  @Test("a successful run ends with Prefect's final record")
  func success() async throws {
    let hello = task("hello") { () -> String in "hi" }
    let flow = Flow("fine") { hello() }
    let result = try await flow.run(environment: .testing(seed: 1, clock: TestClock(now: start)))
    #expect(
      result.logs.map(\.message) == [
        "Beginning Flow run for 'fine'", "Starting task run...",
        "Finished task run for task with final state: 'Success'",
        "Flow run SUCCESS: all reference tasks succeeded",
      ])
    #expect(result.logs.map(\.level) == [.info, .info, .info, .info])
    #expect(result.logs.last?.metadata["state"] == "Success")
  }

  @Test("a task body's logger carries its context; mapped children carry map_index")
  func mappedContext() async throws {
    let double = task("double") { (value: Int) -> Int in
      let context = TaskRunContext.current!
      context.logger.debug("doubling \(value)")
      return value * 2
    }
    let flow = Flow("mapped") { double.map(.constant([5, 6])) }
    let result = try await flow.run(environment: .testing(seed: 2, clock: TestClock(now: start)))
    let debug = result.logs.filter { $0.level == .debug }
    #expect(debug.map(\.message) == ["doubling 5", "doubling 6"])
    #expect(debug.map { $0.metadata["map_index"] } == ["0", "1"])
    #expect(debug.map { $0.metadata["task"] } == ["double", "double"])
    #expect(
      debug.map { $0.metadata["task_run_id"] }
        == result.mappedRuns("double").map { $0.id.uuidString.lowercased() })
    #expect(debug.allSatisfy { $0.metadata["attempt"] == "1" && $0.metadata["state"] == nil })
    // The parent's final record has no map_index and says Mapped.
    let parent = result.logs.filter {
      $0.metadata["task"] == "double" && $0.metadata["map_index"] == nil
    }
    #expect(
      parent.map(\.message) == [
        "Finished task run for task with final state: 'Mapped' (Mapped into 2 task runs.)"
      ])
  }

}

@Suite("Logging etiquette")
struct EtiquetteTests {
  @Test("no library module bootstraps the logging system: executables choose the handler")
  func noBootstrap() throws {
    let modules = URL(fileURLWithPath: #filePath)
      .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
      .appendingPathComponent("Modules")
    let files = try FileManager.default.subpathsOfDirectory(atPath: modules.path)
      .filter { $0.hasSuffix(".swift") }
    #expect(files.contains("FlowLogging/ConsoleLogHandler.swift"))
    for file in files {
      let text = try String(contentsOf: modules.appendingPathComponent(file), encoding: .utf8)
      let code = text.split(separator: "\n").filter {
        !$0.trimmingCharacters(in: .whitespaces).hasPrefix("//")
      }
      #expect(
        !code.contains { $0.contains("LoggingSystem.bootstrap") }, "\(file) bootstraps logging")
    }
  }
}

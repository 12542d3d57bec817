import FlowCore
import FlowExecutors
import FlowLogging
import FlowState
import FlowTesting
import Foundation
import Logging
import Synchronization
import Testing

struct Flaky: Error {}

@Suite("Run logs")
struct RunLogTests {
  @Test("a run with a retry, a failure and a skip logs every transition in order, with metadata")
  func transitions() async throws {
    let clock = TestClock(now: Date(timeIntervalSince1970: 1_800_000_000), autoAdvance: true)
    let attempts = Mutex(0)
    let flaky = task("flaky", retries: .init(maxRetries: 1, delay: .seconds(30))) {
      () throws -> Int in
      let attempt = attempts.withLock {
        $0 += 1
        return $0
      }
      TaskRunContext.current?.logger.info("attempt \(attempt)", metadata: ["custom": "yes"])
      if attempt == 1 { throw Flaky() }
      return attempt
    }
    let broken = task("broken") { (_: Int) throws -> Int in throw Flaky() }
    let skipper = task("skipper") { () throws -> Int in throw SkipTask("nothing to do") }
    let flow = Flow("logged") {
      broken(flaky())
      skipper()
    }
    let result = try await flow.run(environment: .testing(seed: 3, clock: clock))
    let lines = result.logs.map { record in
      "\(record.level) \(record.metadata["task"] ?? "-")#\(record.metadata["attempt"] ?? "-") \(record.metadata["state"] ?? "-") \(record.message)"
    }
    print(lines.joined(separator: "\n"))
    print(result.summary)
    #expect(result.logs.first?.message == "Beginning Flow run for 'logged'")
    #expect(result.logs.allSatisfy { $0.metadata["flow"] == "logged" })
    #expect(lines.contains("info flaky#1 Running Starting task run..."))
    #expect(
      result.logs.contains {
        $0.message == "attempt 2" && $0.metadata["custom"] == "yes" && $0.metadata["attempt"] == "2"
      })
    #expect(result.logs.last?.message.hasPrefix("Flow run FAILED") == true)
  }

  @Test("logStdout sends what the body prints to the task's log")
  func stdout() async throws {
    let chatty = task("chatty", logStdout: true) { () -> Int in
      print("hello from the task")
      print("second line")
      return 1
    }
    let flow = Flow("stdout") { chatty() }
    let result = try await flow.run()
    let messages = result.logs.filter { $0.metadata["task"] == "chatty" }.map(\.message)
    #expect(messages.contains("hello from the task"))
    #expect(messages.contains("second line"))
  }
}

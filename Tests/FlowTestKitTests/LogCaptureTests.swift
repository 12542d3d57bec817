import FlowCore
import FlowTestKit
import Logging
import Testing

@Suite("Log capture on swift-log's InMemoryLogging")
struct LogCaptureTests {
  @Test("records every level with its metadata, and clears")
  func recordsAndClears() {
    let logs = LogCapture()
    logs.logger.trace("t")
    logs.logger.error("e", metadata: ["task": "load"])
    #expect(logs.entries.map(\.level) == [.trace, .error])
    #expect(logs.messages(at: .error) == ["e"])
    #expect(logs.entries.last?.metadata["task"] == "load")
    logs.clear()
    #expect(logs.entries.isEmpty)
  }

  @Test("the testing environment sends the live log to the capture")
  func environmentLogsToCapture() {
    let logs = LogCapture()
    let environment = RunEnvironment.testing(seed: 1, logs: logs)
    environment.logger.info("hello")
    #expect(logs.messages(at: .info) == ["hello"])
  }
}

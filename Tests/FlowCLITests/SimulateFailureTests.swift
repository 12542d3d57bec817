import FlowCore
import FlowExecutors
import Foundation
import Testing

@testable import FlowCLI

/// `simulate` fails when the run fails and names the failing tasks in its JSON line.
@Suite("simulate: failing runs")
struct SimulateFailureTests {
  struct Broken: Error, CustomStringConvertible {
    var description: String { "the disk is full" }
  }

  func failingCommandLine() -> FlowCommandLine {
    FlowCommandLine(name: "failing", abstract: "A flow whose task fails.") { _ in
      let chatty = task("chatty") { () -> Int in
        print("a line the body prints")
        return 1
      }
      let save = task("save") { (x: Int) throws -> Int in throw Broken() }
      return [Flow("save-flow") { save(chatty()) }]
    }
  }

  @Test("--run-bodies: exit 1, failing_tasks in the JSON, the bodies' prints on stderr")
  func failingRun() async throws {
    let captured = Captured()
    let status = await failingCommandLine().execute(
      [
        "simulate", "save-flow", "--seed", "3", "--workers", "2", "--faults", "none",
        "--run-bodies",
      ],
      output: captured.output, handlingSignals: false, environment: unrecorded)
    #expect(status == 1)
    let lines = captured.out.split(separator: "\n")
    #expect(lines.count == 1)
    let object = try #require(
      try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as? [String: Any])
    #expect(object["state"] as? String == "Failed")
    let failing = try #require(object["failing_tasks"] as? [[String: String]])
    #expect(failing.count == 1)
    #expect(failing.first?["task"] == "save")
    #expect(failing.first?["state"] == "Failed")
    #expect(failing.first?["reason"]?.contains("the disk is full") == true)
    #expect(!captured.out.contains("a line the body prints"))
    #expect(captured.err.contains("a line the body prints"))
    #expect(captured.err.contains("the flow run did not succeed for seed 3"))
  }
}

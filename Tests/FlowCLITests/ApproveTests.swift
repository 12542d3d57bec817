import FlowCore
import FlowExecutors
import FlowState
import Foundation
import Testing

@testable import FlowCLI

/// `run --approve TASK`: a `manualOnly` task runs once approved.
@Suite("run --approve")
struct ApproveTests {
  func approvalCommandLine(_ recorder: Recorder) -> FlowCommandLine {
    FlowCommandLine(name: "approvals", abstract: "A flow with an approval gate.") { _ in
      let build = task("build") { () -> Int in 1 }
      let deploy = task("deploy", trigger: .manualOnly) { (version: Int) -> Int in
        recorder.record("deployed \(version)")
        return version
      }
      return [Flow("release") { deploy(build()) }]
    }
  }

  func execute(_ arguments: [String]) async -> (Int32, Captured, Recorder) {
    let recorder = Recorder()
    let captured = Captured()
    let status = await approvalCommandLine(recorder).execute(
      arguments + ["--log-level", "critical"], output: captured.output, handlingSignals: false,
      environment: unrecorded)
    return (status, captured, recorder)
  }

  @Test("without --approve the task waits, and the summary says how to approve it")
  func waits() async {
    let (_, captured, recorder) = await execute(["run", "release"])
    #expect(recorder.all.isEmpty)
    #expect(captured.err.contains("Waiting for approval (run again with --approve TASK):"))
    #expect(captured.err.contains("  deploy: Paused"))
  }

  @Test("with --approve deploy the task runs and the run succeeds")
  func approved() async {
    let (status, captured, recorder) = await execute(["run", "release", "--approve", "deploy"])
    #expect(status == 0, "\(captured.err)")
    #expect(recorder.all == ["deployed 1"])
    #expect(captured.err.contains("Flow run 'release': Success"))
  }

  @Test("an unknown task is a usage error naming the flow's tasks")
  func unknownTask() async {
    let (status, captured, _) = await execute(["run", "release", "--approve", "deplyo"])
    #expect(status == 64)
    #expect(captured.err.contains("--approve deplyo: flow 'release' has no task 'deplyo'"))
    #expect(captured.err.contains("'build', 'deploy'"))
  }
}

/// `--param` and `--param-file` errors: the usage, an example from the flow's parameters, and
/// where in the file the JSON broke.
@Suite("Parameter errors")
struct ParameterErrorTests {
  @Test("a bad --param shows the run usage and an example built from the flow's parameters")
  func usageAndExample() async {
    let (status, captured, _) = await execute("run", "main", "--param", "batch-size=lots")
    #expect(status == 64)
    #expect(captured.err.contains("expects a value of type Int, and 'lots' is not one"))
    #expect(captured.err.contains("Usage:"))
    #expect(
      captured.err.contains(
        "Example: demo run main --param batch-size=10 --param ratio=0.5 --param name=x"))
  }

  @Test("the example writes string defaults as --param reads them back, quoted for the shell")
  func exampleStrings() throws {
    let echo = task("echo") { (a: String, b: String, c: String, d: [String]) in a + b + c }
    let flow = Flow("strings") {
      echo(
        Parameter("city", default: "New York"), Parameter("code", default: "007"),
        Parameter("quote", default: "it's"), Parameter("tags", default: ["a"]))
    }
    let example = ParameterInput.example(flow)
    #expect(
      example
        == #"--param city='New York' --param code=007 --param quote='it'\''s' --param tags='["a"]'"#
    )
    let assignments = ["city=New York", "code=007", "quote=it's", #"tags=["a"]"#]
    let values = try ParameterInput.resolve(for: flow, assignments: assignments, file: nil)
    #expect(values["city"] as? String == "New York")
    #expect(values["code"] as? String == "007")
    #expect(values["quote"] as? String == "it's")
    #expect(values["tags"] as? [String] == ["a"])
  }

  @Test("a malformed --param-file names the line and column")
  func fileLineAndColumn() async throws {
    let file = FileManager.default.temporaryDirectory.appendingPathComponent(
      "params-\(UUID().uuidString).json")
    defer { try? FileManager.default.removeItem(at: file) }
    try Data("{\n  \"batch-size\": 5,\n  \"ratio\": tru\n}\n".utf8).write(to: file)
    let (status, captured, _) = await execute("run", "main", "--param-file", file.path)
    // The parser reports where it gave up: just past `tru`.
    #expect(status == 64)
    #expect(captured.err.contains("is not valid JSON at line 3, column 15"), "\(captured.err)")
  }
}

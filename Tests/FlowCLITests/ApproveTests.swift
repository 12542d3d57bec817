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

import FlowCore
import FlowExecutors
import FlowState
import Foundation
import Synchronization
import Testing

/// A backend that loses each attempt with a worker `crashes` times before running its body
/// (in this process); with `giveUp`, the last loss is not rescheduled and the attempt fails
/// as a cluster does after `allowedFailures` lost workers.
private struct CrashingBackend: FlowExecutorBackend {
  let crashes: Int
  let giveUp: Bool

  func startSession(for run: RemoteRunInfo) async throws -> any FlowExecutorSession {
    CrashingSession(crashes: crashes, giveUp: giveUp)
  }
}

private struct CrashingSession: FlowExecutorSession {
  let crashes: Int
  let giveUp: Bool

  func invoke(_ call: RemoteTaskCall) async throws -> any Sendable {
    for lost in 1...crashes {
      let last = giveUp && lost == crashes
      call.recordCrash(
        worker: "worker-\(lost)", reason: "heartbeat TTL expired", rescheduled: !last)
    }
    if giveUp {
      throw RemoteTaskError(
        code: .killedWorker, message: "the attempt was running on \(crashes) workers that were lost"
      )
    }
    return try await call.config.body.call(call.inputs)
  }

  func stop() async {}
}

private func changes(_ log: Log<(RunState.Kind, RunState.Kind)>) -> StateHandler {
  { change in
    log.append((change.old.kind, change.new.kind))
    return change.new
  }
}

@Suite("Attempts lost with a remote worker", .timeLimit(.minutes(1)))
struct RemoteCrashTests {
  @Test("a lost attempt is Crashed in the state history, then Running again")
  func crashedThenRunning() async throws {
    let seen = Log<(RunState.Kind, RunState.Kind)>()
    let double = task("double", stateHandlers: [changes(seen)]) { (value: Int) in value * 2 }
    let flow = Flow("crashy") { double(Parameter("value", default: 21)) }
    let result = try await flow.run(
      executor: FlowExecutor(
        name: "crashing", width: 4, backend: CrashingBackend(crashes: 2, giveUp: false)))
    let run = try #require(result.taskRun("double"))
    #expect(run.state.kind == .success)
    #expect(run.state.result as? Int == 42)
    #expect(run.crashedAttempts == 2)
    #expect(run.attempts == 1)  // a crash is not a failed attempt of the body
    let moves = seen.all.map { "\($0.0)→\($0.1)" }
    #expect(
      moves == [
        "Pending→Running", "Running→Crashed", "Crashed→Running", "Running→Crashed",
        "Crashed→Running", "Running→Success",
      ])
    let crashes = result.logs.filter { $0.metadata["state"] == "Crashed" }
    #expect(crashes.count == 2)
    #expect(crashes.allSatisfy { $0.metadata["cluster.worker"]?.hasPrefix("worker-") == true })
    let starts = result.logs.filter { $0.message.contains("Starting task run") }
    #expect(starts.count == 3, "\(result.logs.map(\.message))")
  }

  @Test("the last lost worker leaves the run Crashed, with the reason")
  func crashedTooOften() async throws {
    let seen = Log<(RunState.Kind, RunState.Kind)>()
    let double = task("double", retries: .init(maxRetries: 2), stateHandlers: [changes(seen)]) {
      (value: Int) in value * 2
    }
    let flow = Flow("crashy") { double(Parameter("value", default: 21)) }
    let result = try await flow.run(
      executor: FlowExecutor(
        name: "crashing", width: 4, backend: CrashingBackend(crashes: 3, giveUp: true)))
    let run = try #require(result.taskRun("double"))
    #expect(run.state.kind == .crashed)
    #expect(run.state.message?.contains("3 workers that were lost") == true)
    #expect(run.crashedAttempts == 3)
    #expect(result.state.isFailed)
    #expect(seen.all.last.map { "\($0.0)→\($0.1)" } == "Running→Crashed")
    #expect(seen.all.filter { $0.1 == .crashed }.count == 3)
  }
}

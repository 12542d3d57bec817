import FlowCore
import FlowExecutors
import FlowState
import FlowTesting
import Foundation
import Testing

/// An error that the first attempt of `replayFlaky` throws.
struct ReplayFlake: Error, CustomStringConvertible {
  var description: String { "flaky on the first attempt" }
}

/// A flow with a parameter, a retry, mapping, a skip and a failure: most of what a history holds.
func replayFlow(retries: Int = 2, extraTask: Bool = false) -> Flow {
  let numbers = task("numbers") { (count: Int) -> [Int] in Array(1...count) }
  let flaky = task(
    "flaky",
    retries: RetryPolicy(maxRetries: retries, delay: .seconds(3), jitter: .upTo(.seconds(1)))
  ) { (x: Int) throws -> Int in
    if TaskRunContext.current?.attempt == 1, x == 2 { throw ReplayFlake() }
    if x == 3 { throw SkipTask("three is skipped") }
    return x * 10
  }
  let total = task("total") { (values: [Int]) -> Int in values.reduce(0, +) }
  let broken = task("broken") { (total: Int) throws -> Int in throw ReplayFlake() }
  return Flow("replay-flow") {
    let count = Parameter("count", default: 4)
    let tens = flaky.map(numbers(count))
    let sum = total(tens)
    if extraTask { _ = broken(sum) }
  }
}

@Suite("Replaying recorded flow-run histories", .timeLimit(.minutes(1)))
struct FlowRunReplayerTests {
  private func record(_ flow: Flow, executor: FlowExecutor) async throws -> (
    FlowRunHistory, FlowRunResult
  ) {
    let recorder = FlowRunRecorder(flowName: flow.name)
    let result = try await flow.run(
      executor: executor,
      environment: .testing(
        seed: 5, clock: TestClock(now: Date(timeIntervalSince1970: 1e9), autoAdvance: true)),
      observer: recorder.observer)
    return (recorder.history, result)
  }

  @Test(
    "a recorded history, written as JSON and read back, replays to the same transitions",
    arguments: [FlowExecutor.sequential, .concurrent(width: 3)])
  func roundTrip(executor: FlowExecutor) async throws {
    let flow = replayFlow()
    let (history, result) = try await record(flow, executor: executor)
    #expect(history.steps.count > 10)
    let decoded = try FlowRunHistory.decode(json: history.json())
    let machine = try FlowRunReplayer.replay(decoded, flow: flow)
    #expect(machine.isFinished)
    #expect(machine.flowState.kind == result.state.kind)
    #expect(machine.taskRuns.map(\.state.kind) == result.taskRuns.map(\.state.kind))
    #expect(machine.taskRuns.map(\.id) == result.taskRuns.map(\.id))
    // The live history replays as well.
    try FlowRunReplayer.replay(history, flow: flow)
  }

  @Test("a deliberately changed flow (fewer retries, or one more task) is caught")
  func changedFlowDiverges() async throws {
    let (history, _) = try await record(replayFlow(), executor: .sequential)
    let decoded = try FlowRunHistory.decode(json: history.json())
    for changed in [replayFlow(retries: 0), replayFlow(extraTask: true)] {
      do {
        try FlowRunReplayer.replay(decoded, flow: changed)
        Issue.record("the replay of a changed flow did not diverge")
      } catch let error as FlowReplayError {
        #expect(error.code == .diverged)
        let sequence = try #require(error.sequence)
        #expect(error.description.contains("first differing event #\(sequence)"))
        #expect(error.expected != error.actual)
      }
    }
  }

  @Test("a history from a newer engine, or of another flow, is refused clearly")
  func refused() async throws {
    var (history, _) = try await record(replayFlow(), executor: .sequential)
    history.version = FlowRunHistory.currentVersion + 1
    #expect(throws: FlowReplayError.self) {
      try FlowRunReplayer.replay(history, flow: replayFlow())
    }
    history.version = FlowRunHistory.currentVersion
    history.flowName = "other"
    do {
      try FlowRunReplayer.replay(history, flow: replayFlow())
      Issue.record("another flow's history replayed")
    } catch let error as FlowReplayError {
      #expect(error.code == .otherFlow)
    }
  }
}

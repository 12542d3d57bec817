import FlowCore
import FlowExecutors
import FlowState
import FlowTesting
import Foundation
import Testing

/// Loops (Prefect's `LOOP`): a body throws `LoopAgain(payload)` to run again with it.
@Suite("Loops: LoopAgain", .timeLimit(.minutes(1)))
struct LoopTests {
  /// The largest Fibonacci number not above `limit`, one iteration per step.
  static let fibonacci = task("fibonacci") { (limit: Int) throws -> Int in
    let context = TaskRunContext.current
    let pair = context?.loopPayload([Int].self) ?? [0, 1]
    context?.logger.info("pair", metadata: ["loop.count": "\(context?.loopCount ?? 0)"])
    if pair[1] > limit { return pair[0] }
    throw LoopAgain([pair[1], pair[0] + pair[1]])
  }
  static let describe = task("describe") { (x: Int) -> String in "got \(x)" }

  @Test(
    "each iteration gets the previous payload and its count; the last output flows on",
    arguments: bothExecutors)
  func fibonacciLoop(executor: FlowExecutor) async throws {
    let (flow, text) = Flow.building("loops") { Self.describe(Self.fibonacci(100)) }
    let result = try await flow.run(executor: executor, environment: testEnvironment())
    #expect(try result.result(of: text) == "got 89")
    let run = try result.run("fibonacci")
    #expect(run.state.kind == .success)
    // pairs [0,1] [1,1] [1,2] [2,3] … [89,144]: 12 iterations.
    #expect(run.loopIterations == 12)
    #expect(run.attempts == 12)
    let looped = result.logs.filter { $0.message.hasPrefix("Looping: starting loop iteration") }
    #expect(looped.map(\.message).last == "Looping: starting loop iteration 12.")
    #expect(looped.count == 11)
    let counts = result.logs.filter { $0.message == "pair" }.compactMap {
      $0.metadata["loop.count"]
    }
    #expect(counts == (1...12).map(String.init))
  }

  @Test("a loop over its maximum fails with LoopLimitError", arguments: bothExecutors)
  func limit(executor: FlowExecutor) async throws {
    let forever = task("forever") { () throws -> Int in
      throw LoopAgain((TaskRunContext.current?.loopPayload(Int.self) ?? 0) + 1)
    }.looping(max: 5)
    let flow = Flow("runaway") { forever() }
    let result = try await flow.run(executor: executor, environment: testEnvironment())
    let run = try result.run("forever")
    #expect(run.state.kind == .failed)
    #expect(run.state.error is LoopLimitError)
    #expect(run.state.message?.contains("over its limit of 5 iterations") == true)
    #expect(run.loopIterations == 5)
    #expect(result.state.kind == .failed)
  }

  @Test(
    "a failed iteration retries that iteration with its payload, at its scheduled time",
    arguments: bothExecutors)
  func retryWithinLoop(executor: FlowExecutor) async throws {
    let seen = Log<String>()
    let flaky = task("flaky", retries: RetryPolicy(maxRetries: 1, delay: .seconds(30))) {
      () throws -> Int in
      let context = TaskRunContext.current!
      let step = context.loopPayload(Int.self) ?? 0
      seen.append("step \(step) attempt \(context.attempt)")
      if step == 1, context.attempt == 1 { throw Boom(code: 1) }
      if step < 2 { throw LoopAgain(step + 1) }
      return step
    }
    let (flow, value) = Flow.building("loop-retry") { flaky() }
    let clock = TestClock(now: testStart, autoAdvance: true)
    let result = try await flow.run(
      executor: executor, environment: testEnvironment(clock: clock))
    #expect(try result.result(of: value) == 2)
    #expect(
      seen.all == ["step 0 attempt 1", "step 1 attempt 1", "step 1 attempt 2", "step 2 attempt 1"])
    let run = try result.run("flaky")
    #expect(run.loopIterations == 3)
    #expect(run.attempts == 4)
    #expect(run.attemptStartTimes[2].timeIntervalSince(run.attemptStartTimes[1]) == 30)
  }

  @Test("a looping run replays from its recorded history")
  func replays() async throws {
    let flow = Flow("loop-replay") { Self.describe(Self.fibonacci(20)) }
    let recorder = FlowRunRecorder(flowName: flow.name)
    let result = try await flow.run(environment: testEnvironment(), observer: recorder.observer)
    let history = try FlowRunHistory.decode(json: recorder.history.json())
    let machine = try FlowRunReplayer.replay(history, flow: flow)
    #expect(machine.taskRuns.map(\.loopIterations) == result.taskRuns.map(\.loopIterations))
    #expect(machine.taskRuns.first?.loopIterations == 8)  // [0,1] … [13,21]
  }
}

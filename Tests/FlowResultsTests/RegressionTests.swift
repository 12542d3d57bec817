import FlowCore
import FlowExecutors
import FlowResults
import FlowState
import FlowTesting
import Foundation
import Testing

/// Bugs these tests found and that were fixed; each test keeps its bug from coming back.
@Suite("FlowResults regressions", .timeLimit(.minutes(2)))
struct RegressionTests {
  @Test("a cache miss says why in plain words, not as a debug dump of an internal struct")
  func cacheMissMessage() async throws {
    let store = MemoryResultStore()
    let echo = task("echo") { (x: Int) -> Int in x }.inputs("x")
      .cached(for: .seconds(600), validator: .partialInputs(["x"]), in: store)
    let flow = Flow("miss") { echo(Parameter("x", default: 1)) }
    let clock = TestClock(now: fixedStart)
    _ = try await flow.run(environment: environment(clock: clock))
    let changed = try await flow.run(
      parameters: ["x": 2], environment: environment(seed: 2, clock: clock))
    await clock.advance(by: .seconds(3600))
    let expired = try await flow.run(
      parameters: ["x": 2], environment: environment(seed: 3, clock: clock))
    // Both runs ran the body; only the wording of the note is wrong.
    #expect(changed.taskRun("echo")?.state.kind == .success)
    #expect(expired.taskRun("echo")?.state.kind == .success)
    #expect(
      changed.taskRun("echo")?.state.message
        == "Task run succeeded. Cache entry 'cache/miss/echo' was not used: input 'x' changed "
        + "(validator partialInputs([\"x\"])).")
    // The key keeps every unexpired entry (x=1 and x=2 here): each miss is said, in order.
    #expect(
      expired.taskRun("echo")?.state.message
        == "Task run succeeded. Cache entry 'cache/miss/echo' (entry 1 of 2) was not used: it "
        + "expired at 2026-03-05T14:17:09Z. Cache entry 'cache/miss/echo' (entry 2 of 2) was not "
        + "used: it expired at 2026-03-05T14:17:09Z.")
  }

  @Test("a store directory that is a file: a nested location's failure names the cause")
  func nestedLocationUnderFileCause() async throws {
    let parent = uniqueDirectory("nested-under-file")
    defer { removeDirectory(parent) }
    try FileManager.default.createDirectory(at: parent, withIntermediateDirectories: true)
    let file = parent.appendingPathComponent("store")
    try Data().write(to: file)
    let one = task("one") { () -> Int in 1 }
      .checkpoint(to: LocalResultStore(directory: file), target: "nested/out.json")
    let result = try await Flow("io") { one() }.run(environment: environment())
    let state = try #require(result.taskRun("one")?.state)
    #expect(state.kind == .failed)
    let message = try #require(state.message)
    #expect(message.contains(file.path))
    #expect(message.contains("Not a directory"), "\(message)")
    #expect(!message.contains("NSCocoaErrorDomain error 512"), "\(message)")
  }

  @Test("resume reruns a checkpointed task that depends on a task that failed and reran")
  func resumeRerunsDependents() async throws {
    let store = MemoryResultStore()
    let calls = CallCounts()
    let failing = Flag(true)
    let load = task("load") { () throws -> Int in
      calls.record("load")
      if failing.isOn { throw Boom() }
      return 5
    }
    // Runs whatever `load` did (a clean-up or report step), and reads its state.
    let report = task("report", trigger: .allFinished) { () -> String in
      calls.record("report")
      return failing.isOn ? "load failed" : "load succeeded"
    }
    var reported: Ref<String>!
    let flow = Flow("report", resultStore: store) {
      let loaded = load()
      reported = report().after(loaded)
    }
    let first = try await flow.run(environment: environment())
    #expect(first.taskRun("load")?.state.kind == .failed)
    #expect(try first.result(of: reported) == "load failed")
    failing.set(false)
    let second = try await flow.run(environment: environment(seed: 2), resuming: first.flowRunID)
    #expect(second.taskRun("load")?.state.kind == .success)
    let secondReport = try second.result(of: reported)
    #expect(second.taskRun("report")?.state.kind == .success)
    #expect(secondReport == "load succeeded")
    #expect(calls.all == ["load": 2, "report": 2])
  }

  @Test("an optional input renders its value in a target, not Swift's debug form")
  func optionalInputRendering() async throws {
    let store = MemoryResultStore()
    let echo = task("echo") { (x: Int?) -> Int in x ?? 0 }.inputs("x")
      .checkpoint(to: store, target: "value-{x}-{parameters[x]}")
    let flow = Flow("optional") { echo(Parameter<Int?>("x", default: 3)) }
    let result = try await flow.run(environment: environment())
    #expect(result.taskRun("echo")?.state.kind == .success)
    #expect(store.locations == ["value-3-3"])
  }
}

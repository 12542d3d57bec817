import FlowCore
import FlowExecutors
import FlowState
import FlowTesting
import Foundation
import Synchronization
import Testing

@Suite("Task states and the flow's final state", .timeLimit(.minutes(1)))
struct FinalStateTests {
  @Test(
    "every task succeeds: Success states, one attempt each, flow Success", arguments: bothExecutors)
  func allSucceed(executor: FlowExecutor) async throws {
    let clock = TestClock(now: testStart)
    let one = task("one") { () -> Int in 1 }
    let inc = task("inc") { (x: Int) in x + 1 }
    let flow = Flow("ok") { inc(one()) }
    let result = try await flow.run(executor: executor, environment: testEnvironment(clock: clock))
    #expect(result.state.kind == .success)
    #expect(result.flowName == "ok")
    for slug in ["one", "inc"] {
      let run = try result.run(slug)
      #expect(run.state.kind == .success)
      #expect(run.attempts == 1)
      #expect(run.startedAt == testStart)
      #expect(run.finishedAt == testStart)
      #expect(run.mapIndex == nil)
    }
    #expect(result.startedAt == testStart)
    #expect(result.finishedAt == testStart)
    #expect(result.taskStates == ["one": .success, "inc": .success])
  }

  @Test(
    "a failing task is Failed with its error; downstream is TriggerFailed; flow Failed",
    arguments: bothExecutors)
  func failurePropagates(executor: FlowExecutor) async throws {
    let downstreamCalls = Counter()
    let fail = task("fail") { () throws -> Int in throw Boom(code: 7) }
    let next = task("next") { (x: Int) -> Int in
      downstreamCalls.increment()
      return x
    }
    let last = task("last") { (x: Int) -> Int in
      downstreamCalls.increment()
      return x
    }
    let flow = Flow("broken") { last(next(fail())) }
    let result = try await flow.run(executor: executor, environment: testEnvironment())

    let failed = try result.run("fail")
    #expect(failed.state.kind == .failed)
    #expect(failed.state.error as? Boom == Boom(code: 7))
    #expect(failed.state.message == "boom 7")
    #expect(failed.attempts == 1)
    #expect(!failed.state.hasResult)

    for slug in ["next", "last"] {
      let run = try result.run(slug)
      #expect(run.state.kind == .triggerFailed)
      #expect(run.state.message?.contains("Trigger was \"allSuccessful\"") == true)
      #expect(run.attempts == 0)
      #expect(run.startedAt == nil)
    }
    #expect(downstreamCalls.count == 0)
    #expect(result.state.kind == .failed)
    #expect(result.state.message?.contains("last") == true)
  }

  @Test("by default the reference tasks are the terminal tasks")
  func defaultReferenceTasks() {
    let make = task("make") { () -> Int in 1 }
    let use = task("use") { (x: Int) in x }
    let side = task("side") { () -> Int in 2 }
    let flow = Flow("refs") {
      use(make())
      side()
    }
    #expect(flow.referenceTasks == ["use", "side"])
  }

  @Test(
    "a failure in a task that is not a reference task does not fail the flow",
    arguments: bothExecutors)
  func referenceTaskDecides(executor: FlowExecutor) async throws {
    let prepare = task("prepare") { () -> Int in 1 }
    let compute = task("compute") { (x: Int) in x * 10 }
    let publish = task("publish") { (_: Int) throws -> Int in throw Boom(code: 3) }
    var computed: Ref<Int>!
    let flow = Flow("refs") {
      let middle = compute(prepare())
      computed = middle
      publish(middle)
      setReferenceTasks(middle)
    }
    #expect(flow.referenceTasks == ["compute"])
    let result = try await flow.run(executor: executor, environment: testEnvironment())
    #expect(result.kind("publish") == .failed)
    #expect(result.state.kind == .success)
    #expect(try result.result(of: computed) == 10)
  }

  @Test("a reference task that fails fails the flow even when later tasks succeed")
  func failingReferenceTask() async throws {
    let flaky = task("flaky") { () throws -> Int in throw Boom() }
    let cleanup = task("cleanup", trigger: .allFinished) { () -> Int in 0 }
    let flow = Flow("refs") {
      let attempt = flaky()
      cleanup().after(attempt)
      setReferenceTasks(attempt)
    }
    let result = try await flow.run(environment: testEnvironment())
    #expect(result.kind("cleanup") == .success)
    #expect(result.state.kind == .failed)
    #expect(result.state.message?.contains("flaky") == true)
  }
}

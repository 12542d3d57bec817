import FlowCore
import FlowExecutors
import FlowState
import FlowTesting
import Foundation
import Synchronization
import Testing

@Suite("Triggers in flows", .timeLimit(.minutes(1)))
struct TriggerTests {
  @Test(
    "an allFailed cleanup waiting with `.after` runs when its upstream failed",
    arguments: bothExecutors)
  func allFailedRunsAfterFailure(executor: FlowExecutor) async throws {
    let cleanups = Counter()
    let fail = task("fail") { () throws -> Int in throw Boom() }
    let cleanup = task("cleanup", trigger: .allFailed) { () -> String in
      cleanups.increment()
      return "cleaned"
    }
    var cleaned: Ref<String>!
    let flow = Flow("cleanup") { cleaned = cleanup().after(fail()) }
    let result = try await flow.run(executor: executor, environment: testEnvironment())
    #expect(result.kind("fail") == .failed)
    #expect(result.kind("cleanup") == .success)
    #expect(try result.result(of: cleaned) == "cleaned")
    #expect(cleanups.count == 1)
    // The failing task is not terminal, so it is not a reference task: the flow succeeds.
    #expect(result.state.kind == .success)
  }

  @Test("an allFailed cleanup is TriggerFailed when its upstream succeeded")
  func allFailedSkipsOnSuccess() async throws {
    let cleanups = Counter()
    let work = task("work") { () -> Int in 1 }
    let cleanup = task("cleanup", trigger: .allFailed) { () -> String in
      cleanups.increment()
      return "cleaned"
    }
    let flow = Flow("cleanup") { cleanup().after(work()) }
    let result = try await flow.run(environment: testEnvironment())
    let run = try result.run("cleanup")
    #expect(run.state.kind == .triggerFailed)
    #expect(run.state.message?.contains("\"allFailed\"") == true)
    #expect(cleanups.count == 0)
    #expect(result.state.kind == .failed)
  }

  @Test("anyFailed runs when one of several upstream tasks failed", arguments: bothExecutors)
  func anyFailed(executor: FlowExecutor) async throws {
    let good = task("good") { () -> Int in 1 }
    let bad = task("bad") { () throws -> Int in throw Boom() }
    let alert = task("alert", trigger: .anyFailed) { () -> String in "alerted" }
    let quiet = task("quiet", trigger: .anyFailed) { () -> String in "alerted" }
    let flow = Flow("alerts") {
      let first = good()
      alert().after(first, bad())
      quiet().after(first)
    }
    let result = try await flow.run(executor: executor, environment: testEnvironment())
    #expect(result.kind("alert") == .success)
    #expect(result.kind("quiet") == .triggerFailed)
    #expect(try result.run("quiet").state.message?.contains("\"anyFailed\"") == true)
  }

  @Test(
    "allFinished and always run after both success and failure",
    arguments: [Trigger.allFinished, Trigger.always])
  func allFinishedRuns(trigger: Trigger) async throws {
    let calls = Counter()
    let good = task("good") { () -> Int in 1 }
    let bad = task("bad") { () throws -> Int in throw Boom() }
    let report = task("report", trigger: trigger) { () -> Int in calls.increment() }
    let flow = Flow("finished") { report().after(good(), bad()) }
    let result = try await flow.run(environment: testEnvironment())
    #expect(result.kind("report") == .success)
    #expect(calls.count == 1)
  }

  @Test(
    "allFinished taking a failed upstream's output is TriggerFailed and points to `.after`",
    arguments: bothExecutors)
  func allFinishedWithFailedOutput(executor: FlowExecutor) async throws {
    let calls = Counter()
    let bad = task("bad") { () throws -> Int in throw Boom() }
    let consume = task("consume", trigger: .allFinished) { (x: Int) -> Int in
      calls.increment()
      return x
    }
    let flow = Flow("output") { consume(bad()) }
    let result = try await flow.run(executor: executor, environment: testEnvironment())
    let run = try result.run("consume")
    #expect(run.state.kind == .triggerFailed)
    let message = try #require(run.state.message)
    #expect(message.contains("'bad'"))
    #expect(message.contains(".after(...)"))
    #expect(calls.count == 0)
    #expect(result.state.kind == .failed)
  }

  @Test(
    "someSuccessful counts the children of a mapped upstream as a fraction",
    arguments: [(0.5, RunState.Kind.success), (0.9, .triggerFailed)])
  func someSuccessfulOverMapped(fraction: Double, expected: RunState.Kind) async throws {
    let calls = Counter()
    let check = task("check") { (x: Int) throws -> Int in
      if x == 2 { throw Boom(code: x) }
      return x
    }
    let summary = task("summary", trigger: .someSuccessful(atLeast: fraction)) { () -> Int in
      calls.increment()
    }
    let flow = Flow("some") {
      let checked = check.map(.constant([1, 2, 3, 4]))
      summary().after(checked)
    }
    let result = try await flow.run(environment: testEnvironment())
    #expect(
      result.mappedRuns("check").map(\.state.kind) == [.success, .failed, .success, .success])
    let run = try result.run("summary")
    #expect(run.state.kind == expected)
    #expect(calls.count == (expected == .success ? 1 : 0))
    if expected == .triggerFailed {
      #expect(run.state.message?.contains("3 of 4") == true)
      #expect(run.state.message?.contains("someSuccessful(atLeast: 0.9)") == true)
    }
  }

  @Test(
    "manualOnly pauses the task, keeps downstream Pending and pauses the flow",
    arguments: bothExecutors)
  func manualOnlyPauses(executor: FlowExecutor) async throws {
    let calls = Counter()
    let prepare = task("prepare") { () -> Int in 5 }
    let deploy = task("deploy", trigger: .manualOnly) { (x: Int) -> Int in
      calls.increment()
      return x * 2
    }
    let announce = task("announce") { (x: Int) -> String in
      calls.increment()
      return "deployed \(x)"
    }
    let flow = Flow("release") { announce(deploy(prepare())) }
    let result = try await flow.run(executor: executor, environment: testEnvironment())
    #expect(result.kind("prepare") == .success)
    let paused = try result.run("deploy")
    #expect(paused.state.kind == .paused)
    #expect(paused.state.message?.contains("manualOnly") == true)
    #expect(result.kind("announce") == .pending)
    #expect(calls.count == 0)
    #expect(result.state.kind == .paused)
  }

  @Test("manualOnly on a mapped task pauses every child until approved")
  func manualOnlyMapped() async throws {
    let calls = Counter()
    let ship = task("ship", trigger: .manualOnly) { (x: Int) -> Int in
      calls.increment()
      return x
    }
    let total = task("total") { (values: [Int]) in values.reduce(0, +) }
    var summed: Ref<Int>!
    let flow = Flow("ship-all") { summed = total(ship.map(.constant([1, 2, 3]))) }

    let waiting = try await flow.run(environment: testEnvironment())
    #expect(waiting.mappedRuns("ship").map(\.state.kind) == [.paused, .paused, .paused])
    #expect(waiting.kind("total") == .pending)
    #expect(calls.count == 0)
    #expect(waiting.state.kind == .paused)

    let approved = try await flow.run(environment: testEnvironment(), approving: ["ship"])
    #expect(try approved.result(of: summed) == 6)
    #expect(calls.count == 3)
    #expect(approved.state.kind == .success)
  }

  @Test("an approved manualOnly task runs, and so does its downstream", arguments: bothExecutors)
  func manualOnlyApproved(executor: FlowExecutor) async throws {
    let prepare = task("prepare") { () -> Int in 5 }
    let deploy = task("deploy", trigger: .manualOnly) { (x: Int) -> Int in x * 2 }
    let announce = task("announce") { (x: Int) -> String in "deployed \(x)" }
    var announced: Ref<String>!
    let flow = Flow("release") { announced = announce(deploy(prepare())) }
    let result = try await flow.run(
      executor: executor, environment: testEnvironment(), approving: ["deploy"])
    #expect(result.kind("deploy") == .success)
    #expect(try result.result(of: announced) == "deployed 10")
    #expect(result.state.kind == .success)
  }
}

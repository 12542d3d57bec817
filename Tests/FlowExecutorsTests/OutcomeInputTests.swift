import FlowCore
import FlowExecutors
import FlowState
import FlowTesting
import Foundation
import Testing

/// Inputs declared as `Outcome<T>`: a task sees how its upstream ended, failure or skip included.
@Suite("Outcome inputs", .timeLimit(.minutes(1)))
struct OutcomeInputTests {
  @Test(
    "an allFinished cleanup task sees the upstream's failure with its state and error",
    arguments: bothExecutors)
  func failureArrives(executor: FlowExecutor) async throws {
    let load = task("load") { (x: Int) throws -> Int in
      if x < 0 { throw Boom(code: x) }
      return x
    }
    let report = task("report", trigger: .allFinished) { (load: Outcome<Int>) -> String in
      if let value = load.value { return "loaded \(value)" }
      return "\(load.kind): \(load.error.map { "\($0)" } ?? "-")"
    }
    let (flow, text) = Flow.building("outcomes") {
      report(load(Parameter("x", default: 1)).outcome)
    }
    let failed = try await flow.run(
      parameters: ["x": -7], executor: executor, environment: testEnvironment())
    #expect(try failed.result(of: text) == "Failed: boom -7")
    #expect(failed.kind("load") == .failed)
    let fine = try await flow.run(
      parameters: ["x": 5], executor: executor, environment: testEnvironment())
    #expect(try fine.result(of: text) == "loaded 5")
  }

  @Test("an anyFailed task gets the failed upstream's error, typed", arguments: bothExecutors)
  func typedError(executor: FlowExecutor) async throws {
    let broken = task("broken") { () throws -> Int in throw Boom(code: 3) }
    let alert = task("alert", trigger: .anyFailed) { (upstream: Outcome<Int>) -> Int in
      (upstream.error as? Boom)?.code ?? -1
    }
    let (flow, code) = Flow.building("alerts") { alert(broken().outcome) }
    let result = try await flow.run(executor: executor, environment: testEnvironment())
    #expect(try result.result(of: code) == 3)
    #expect(try result.run("broken").state.kind == .failed)
  }

  @Test(
    "a skipped upstream arrives as a Skipped outcome with skipOnUpstreamSkip: false",
    arguments: bothExecutors)
  func skipArrives(executor: FlowExecutor) async throws {
    let maybe = task("maybe") { () throws -> Int in throw SkipTask("nothing today") }
    let summary = task("summary", skipOnUpstreamSkip: false) { (maybe: Outcome<Int>) -> String in
      maybe.skipped ? "skipped: \(maybe.message ?? "")" : "ran"
    }
    let strict = task("strict") { (maybe: Outcome<Int>) -> String in "\(maybe)" }
    let (flow, refs) = Flow.building("skips") {
      let upstream = maybe()
      return (summary(upstream.outcome), strict(upstream.outcome))
    }
    let result = try await flow.run(executor: executor, environment: testEnvironment())
    #expect(try result.result(of: refs.0) == "skipped: nothing today")
    // The default still skips: an outcome input does not change skip propagation.
    #expect(result.kind("strict") == .skipped)
  }

  @Test("an outcome round-trips through JSON (as it crosses to a cluster worker)")
  func codable() throws {
    let outcome = Outcome<Int>(
      RunState(.failed, message: "boom 1", error: Boom(code: 1)))
    let back = try JSONDecoder().decode(
      Outcome<Int>.self, from: JSONEncoder().encode(outcome))
    #expect(back.kind == .failed)
    #expect(back.value == nil)
    #expect(back.message == "boom 1")
    #expect(back.error.map { "\($0)" }?.contains("boom 1") == true)
    #expect(throws: OutcomeError.self) { try back.get() }
    let success = try JSONDecoder().decode(
      Outcome<Int>.self, from: JSONEncoder().encode(Outcome<Int>(.success(4))))
    #expect(try success.get() == 4)
    #expect(success.succeeded)
  }
}

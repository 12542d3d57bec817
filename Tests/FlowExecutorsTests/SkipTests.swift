import FlowCore
import FlowExecutors
import FlowState
import FlowTesting
import Foundation
import Synchronization
import Testing

@Suite("Skip signals and their propagation", .timeLimit(.minutes(1)))
struct SkipTests {
  @Test("a body that throws SkipTask ends Skipped with its reason", arguments: bothExecutors)
  func skipSignal(executor: FlowExecutor) async throws {
    let maybe = task("maybe", retries: RetryPolicy(maxRetries: 3)) { () throws -> Int in
      throw SkipTask("nothing to do today")
    }
    var skipped: Ref<Int>!
    let flow = Flow("skip") { skipped = maybe() }
    let result = try await flow.run(executor: executor, environment: testEnvironment())
    let run = try result.run("maybe")
    #expect(run.state.kind == .skipped)
    #expect(run.state.message == "nothing to do today")
    // A skip is not a failure: it is not retried.
    #expect(run.attempts == 1)
    #expect(throws: ResultAccessError.self) { try result.result(of: skipped) }
    // Skips count as success for the flow.
    #expect(result.state.kind == .success)
  }

  @Test("downstream tasks are Skipped by default, transitively", arguments: bothExecutors)
  func downstreamSkippedByDefault(executor: FlowExecutor) async throws {
    let calls = Counter()
    let maybe = task("maybe") { () throws -> Int in throw SkipTask("why") }
    let next = task("next") { (x: Int) -> Int in
      calls.increment()
      return x
    }
    let waiter = task("waiter") { () -> Int in calls.increment() }
    let flow = Flow("skip") {
      let first = maybe()
      next(next(first))
      waiter().after(first)
    }
    let result = try await flow.run(executor: executor, environment: testEnvironment())
    #expect(result.kind("next") == .skipped)
    #expect(result.kind("next-2") == .skipped)
    #expect(result.kind("waiter") == .skipped)
    let message = try #require(try result.run("next").state.message)
    #expect(message.contains("'maybe'"))
    #expect(message.contains("skipOnUpstreamSkip: false"))
    #expect(try result.run("next-2").state.message?.contains("'next'") == true)
    #expect(calls.count == 0)
    #expect(result.state.kind == .success)
  }

  @Test(
    "with skipOnUpstreamSkip: false a task runs after a skipped upstream", arguments: bothExecutors)
  func skipOnUpstreamSkipFalse(executor: FlowExecutor) async throws {
    let calls = Counter()
    let maybe = task("maybe") { () throws -> Int in throw SkipTask("why") }
    let always = task("always", skipOnUpstreamSkip: false) { () -> String in
      calls.increment()
      return "ran"
    }
    var ran: Ref<String>!
    let flow = Flow("skip") { ran = always().after(maybe()) }
    let result = try await flow.run(executor: executor, environment: testEnvironment())
    #expect(result.kind("maybe") == .skipped)
    #expect(result.kind("always") == .success)
    #expect(try result.result(of: ran) == "ran")
    #expect(calls.count == 1)
    #expect(result.state.kind == .success)
  }

  @Test("skipping a mapped upstream skips the map without running children")
  func skippedMapSource() async throws {
    let calls = Counter()
    let produce = task("produce") { () throws -> [Int] in throw SkipTask("no input") }
    let square = task("square") { (x: Int) -> Int in
      calls.increment()
      return x * x
    }
    let flow = Flow("skip-map") { square.map(produce()) }
    let result = try await flow.run(environment: testEnvironment())
    #expect(result.kind("square") == .skipped)
    #expect(result.mappedRuns("square").isEmpty)
    #expect(calls.count == 0)
    #expect(result.state.kind == .success)
  }
}

import FlowCore
import FlowExecutors
import FlowResults
import FlowState
import FlowTesting
import Foundation
import Testing

/// Custom cache validators, `neverUse`, a location that is not a target, and the debug log of
/// rejected entries.
@Suite("Cache validators and result locations", .timeLimit(.minutes(1)))
struct CacheValidatorTests {
  @Test(
    "neverUse always runs the task and logs why the entry was not used, at debug",
    arguments: bothExecutors)
  func neverUse(executor: FlowExecutor) async throws {
    let calls = Counter()
    let store = MemoryResultStore()
    let compute = task("compute") { (x: Int) -> Int in
      calls.increment()
      return x * 2
    }.cached(for: .seconds(3600), validator: .neverUse, in: store)
    let flow = Flow("never") { compute(21) }
    let clock = TestClock(now: testStart)
    _ = try await flow.run(executor: executor, environment: testEnvironment(clock: clock))
    let second = try await flow.run(executor: executor, environment: testEnvironment(clock: clock))
    #expect(calls.count == 2)
    #expect(second.kind("compute") == .success)
    let debug = second.logs.filter { $0.level == .debug }.map(\.message)
    #expect(
      debug.contains {
        $0.contains("Cache entry 'cache/never/compute' was not used")
          && $0.contains("validator neverUse never reuses an entry")
      })
  }

  @Test(
    "a custom validator decides from the cached value, the inputs and the parameters",
    arguments: bothExecutors)
  func custom(executor: FlowExecutor) async throws {
    let calls = Counter()
    let store = MemoryResultStore()
    // Reuse only a cached value below the `limit` parameter.
    let validator = CacheValidator.custom("below-limit") { candidate in
      guard let value = candidate.value as? Int, let limit = candidate.parameters["limit"] as? Int
      else { return false }
      return value < limit && candidate.inputs.first as? Int == 21
    }
    let compute = task("compute") { (x: Int) -> Int in
      calls.increment()
      return x * 2
    }.cached(for: .seconds(3600), validator: validator, in: store)
    let flow = Flow("custom") {
      _ = Parameter("limit", default: 100)
      compute(21)
    }
    let clock = TestClock(now: testStart)
    _ = try await flow.run(executor: executor, environment: testEnvironment(clock: clock))
    let reused = try await flow.run(executor: executor, environment: testEnvironment(clock: clock))
    #expect(reused.kind("compute") == .cached)
    #expect(try reused.run("compute").state.message?.contains("custom(below-limit)") == true)
    let rejected = try await flow.run(
      parameters: ["limit": 10], executor: executor, environment: testEnvironment(clock: clock))
    #expect(rejected.kind("compute") == .success)
    #expect(calls.count == 2)
    #expect(
      rejected.logs.contains {
        $0.level == .debug && $0.message.contains("validator custom(below-limit) rejected it")
      })
  }

  @Test(
    "a templated location that is not a target: written every run, never Cached",
    arguments: bothExecutors)
  func locationIsNotATarget(executor: FlowExecutor) async throws {
    let calls = Counter()
    let store = MemoryResultStore()
    let report = task("report") { (day: String) -> String in
      calls.increment()
      return "report for \(day)"
    }.inputs("day").checkpoint(to: store, location: "reports/{task_name}-{day}.json")
    let (flow, text) = Flow.building("located") { report(Parameter("day", default: "mon")) }
    let first = try await flow.run(executor: executor, environment: testEnvironment())
    #expect(store.locations == ["reports/report-mon.json"])
    #expect(try store.read(String.self, at: "reports/report-mon.json") == "report for mon")
    let second = try await flow.run(executor: executor, environment: testEnvironment())
    #expect(second.kind("report") == .success)
    #expect(calls.count == 2)
    #expect(try first.result(of: text) == "report for mon")
  }
}

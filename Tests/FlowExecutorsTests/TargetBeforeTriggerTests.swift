import FlowCore
import FlowExecutors
import FlowResults
import FlowState
import FlowTesting
import Foundation
import Testing

/// A task's target is checked before its trigger (Prefect 1's order): a task whose target
/// exists is Cached even when an upstream failed.
@Suite("Target before trigger", .timeLimit(.minutes(1)))
struct TargetBeforeTriggerTests {
  static let fail = task("fail") { () throws -> Int in throw Boom(code: 1) }
  static let ok = task("ok") { () -> Int in 2 }

  @Test(
    "an existing target makes the task Cached although its trigger fails; a missing one does not",
    arguments: bothExecutors)
  func targetWinsOverTrigger(executor: FlowExecutor) async throws {
    let store = MemoryResultStore()
    let calls = Log<String>()
    let report = task("report") { (a: Int, b: Int) -> String in
      calls.append("report")
      return "\(a + b)"
    }.checkpoint(to: store, target: "report/{parameters[day]}.txt")
    let after = task("after", trigger: .allSuccessful) { () -> String in
      calls.append("after")
      return "after"
    }.checkpoint(to: store, target: "after/{parameters[day]}.txt")
    let (flow, refs) = Flow.building("targets") {
      let day = Parameter("day", default: "mon")
      _ = day
      let failed = Self.fail()
      return (report(failed, Self.ok()), after().after(failed))
    }
    try store.write(
      StoredResult(serializer: "string", typeName: "String", payload: Data("41".utf8)),
      at: "report/mon.txt")
    try store.write(
      StoredResult(serializer: "string", typeName: "String", payload: Data("x".utf8)),
      at: "after/mon.txt")

    let hit = try await flow.run(executor: executor, environment: testEnvironment())
    #expect(try hit.state(of: refs.0).kind == .cached)
    #expect(try hit.result(of: refs.0) == "41")
    #expect(try hit.state(of: refs.0).message?.hasPrefix("Target 'report/mon.txt' exists") == true)
    #expect(try hit.state(of: refs.1).kind == .cached)
    #expect(try hit.result(of: refs.1) == "x")
    #expect(calls.all.isEmpty)

    // No value at tuesday's targets: the trigger's verdict stands, and nothing runs.
    let miss = try await flow.run(
      parameters: ["day": "tue"], executor: executor, environment: testEnvironment(seed: 2))
    #expect(try miss.state(of: refs.0).kind == .triggerFailed)
    #expect(try miss.state(of: refs.0).message?.contains("'fail'") == true)
    #expect(try miss.state(of: refs.1).kind == .triggerFailed)
    #expect(calls.all.isEmpty)
    #expect(store.locations == ["after/mon.txt", "report/mon.txt"])
  }

  @Test("a target that names a missing input is not hit; the task ends TriggerFailed")
  func targetNamingMissingInput() async throws {
    let store = MemoryResultStore()
    let use = task("use") { (value: Int) -> Int in value }.inputs("value")
      .checkpoint(to: store, target: "use/{value}")
    let (flow, ref) = Flow.building("missing-input") { use(Self.fail()) }
    let result = try await flow.run(environment: testEnvironment())
    #expect(try result.state(of: ref).kind == .triggerFailed)
    #expect(store.locations.isEmpty)
  }
}

import FlowCore
import FlowExecutors
import FlowState
import FlowTesting
import Foundation
import Testing

@Suite("Resource managers and flow-run tasks", .timeLimit(.minutes(1)))
struct ResourceManagerTests {
  /// A manager whose set-up and clean-up are logged; set-up fails when `failSetup`.
  static func manager(_ events: Log<String>, failSetup: Bool = false) -> ResourceManager<
    Int, String
  > {
    ResourceManager(
      "pool",
      setup: { (size: Int) async throws -> String in
        events.append("setup \(size)")
        if failSetup { throw Boom() }
        return "pool-\(size)"
      },
      cleanup: { (pool: String) in events.append("cleanup \(pool)") })
  }

  @Test("set-up runs before the tasks inside, clean-up after them", arguments: bothExecutors)
  func order(executor: FlowExecutor) async throws {
    let events = Log<String>()
    let use = task("use") { (pool: String, value: Int) -> Int in
      events.append("use \(pool) \(value)")
      return value * 2
    }
    let independent = task("independent") { () -> Int in
      events.append("independent")
      return 1
    }
    let manager = Self.manager(events)
    var doubled: Ref<Int>?
    let flow = Flow("resources") {
      let size = Parameter("size", default: 3)
      doubled = manager(size) { pool in
        _ = independent()
        return use(pool, 21)
      }
    }
    let result = try await flow.run(executor: executor, environment: testEnvironment())
    #expect(result.state.isSuccessful)
    #expect(try result.result(of: doubled!) == 42)
    let entries = events.all
    #expect(entries.first == "setup 3")
    #expect(entries.last == "cleanup pool-3")
    #expect(Set(entries.dropFirst().dropLast()) == ["use pool-3 21", "independent"])
    #expect(try result.run("pool.cleanup").state.isSuccessful)
    // The clean-up is not a reference task: the tasks inside decide the final state.
    #expect(Set(flow.referenceTasks) == ["use", "independent"])
    #expect(flow.tasks.first { $0.slug == "independent" }?.upstream == ["pool.setup"])
  }

  @Test("clean-up runs even when a task inside fails, and the flow fails", arguments: bothExecutors)
  func cleanupAfterFailure(executor: FlowExecutor) async throws {
    let events = Log<String>()
    let explode = task("explode") { (pool: String) throws -> Int in
      events.append("explode \(pool)")
      throw Boom()
    }
    let after = task("after") { (value: Int) -> Int in value }
    let manager = Self.manager(events)
    let flow = Flow("resources") {
      manager(2) { pool in after(explode(pool)) }
    }
    let result = try await flow.run(executor: executor, environment: testEnvironment())
    #expect(result.state.isFailed)
    #expect(try result.run("explode").state.kind == RunState.Kind.failed)
    #expect(try result.run("after").state.kind == RunState.Kind.triggerFailed)
    #expect(try result.run("pool.cleanup").state.isSuccessful)
    #expect(events.all == ["setup 2", "explode pool-2", "cleanup pool-2"])
  }

  @Test("when the set-up fails, nothing inside runs and there is nothing to clean up")
  func setupFailure() async throws {
    let events = Log<String>()
    let use = task("use") { (pool: String) -> String in
      events.append("use")
      return pool
    }
    let manager = Self.manager(events, failSetup: true)
    let flow = Flow("resources") { manager(1) { pool in use(pool) } }
    let result = try await flow.run(environment: testEnvironment())
    #expect(result.state.isFailed)
    #expect(try result.run("pool.setup").state.kind == RunState.Kind.failed)
    #expect(try result.run("use").state.kind == RunState.Kind.triggerFailed)
    #expect(try result.run("pool.cleanup").state.kind == RunState.Kind.triggerFailed)
    #expect(events.all == ["setup 1"])
  }

  @Test("a flow-run task runs the flow with forwarded parameters and succeeds with it")
  func flowRunTask() async throws {
    let events = Log<String>()
    let record = task("record") { (ratio: Double, tag: String) in events.append("\(ratio) \(tag)") }
    let child = Flow("child") {
      record(Parameter("ratio", default: 0.2), Parameter("tag", default: "default"))
    }
    let last = task("last") { () in events.append("last") }
    let parent = Flow("parent") {
      _ = Parameter("ratio", default: 0.5)
      let first = child.runTask(parameters: ["tag": "explicit"])()
      let second = child.runTask("again")().after(first)
      last().after(second)
    }
    let result = try await parent.run(environment: testEnvironment())
    #expect(result.state.isSuccessful, "\(result.summary)")
    #expect(events.all == ["0.5 explicit", "0.5 default", "last"])
    let outcome = try #require(result.taskRun("run-child")?.state.value(as: FlowRunOutcome.self))
    #expect(outcome.flowName == "child")
    #expect(outcome.state == "Success")
    #expect(outcome.taskStates == ["record": "Success"])
  }

  @Test("a flow-run task fails with its flow, naming the failing tasks; downstream waits fail")
  func flowRunTaskFailure() async throws {
    let explode = task("explode") { () throws -> Int in throw Boom() }
    let child = Flow("child") { explode() }
    let never = task("never") { () in }
    let parent = Flow("parent") {
      let run = child.runTask()()
      never().after(run)
    }
    let result = try await parent.run(environment: testEnvironment())
    #expect(result.state.isFailed)
    let state = try result.run("run-child").state
    #expect(state.kind == RunState.Kind.failed)
    #expect(state.message?.contains("flow run 'child' ended Failed") == true)
    #expect(state.message?.contains("(failing: explode: boom 0)") == true, "\(state)")
    #expect(try result.run("never").state.kind == RunState.Kind.triggerFailed)
  }
}

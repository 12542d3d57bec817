import FlowCore
import FlowExecutors
import FlowState
import FlowTesting
import Foundation
import Testing

/// A user's own tasks named like the built-ins, declared at file scope as users do.
private let merge = task("merge") { (a: [String], b: [String]) -> [String] in a + b }
private let flatten = task("flatten") { (rows: [[Int]]) -> [Int] in rows.flatMap { $0 }.sorted() }

/// A user's task named `merge` or `flatten` is theirs: it runs under its own name, beside the
/// built-in `merge(...)` and `flatten(...)` of the same flow (reached as `FlowCore.merge`).
@Suite("User tasks named like the built-ins", .timeLimit(.minutes(1)))
struct BuiltInNameTests {
  static let pick = task("pick") { (x: Int) -> Int in x }

  @Test(
    "a user's `merge` and `flatten` tasks run as themselves beside the built-ins",
    arguments: bothExecutors)
  func userTasksNamedLikeBuiltIns(executor: FlowExecutor) async throws {
    let (flow, refs) = Flow.building("names") {
      let kind = Parameter("kind", default: "a")
      let joined = merge(["x"], ["y", "z"])  // the user's task (file scope wins)
      let chosen = FlowCore.merge(
        when(kind, equals: "a") { Self.pick(1) }, when(kind, equals: "b") { Self.pick(2) })
      let sorted = flatten([[3, 1], [2]])  // the user's task
      let builtIn = FlowCore.flatten(Ref<[[Int]]>.constant([[5], [6, 7]]))
      return (joined, chosen, sorted, builtIn)
    }
    #expect(
      flow.tasks.map(\.slug).sorted() == [
        "flatten", "flatten-2", "merge", "merge-2", "pick", "pick-2",
      ])
    let result = try await flow.run(executor: executor, environment: testEnvironment())
    #expect(result.state.kind == .success)
    #expect(try result.result(of: refs.0) == ["x", "y", "z"])
    #expect(try result.result(of: refs.1) == 1)
    #expect(try result.result(of: refs.2) == [1, 2, 3])
    #expect(try result.result(of: refs.3) == [5, 6, 7])
  }

  @Test("a built-in before the user's task: no duplicate-name error, the user's gets merge-2")
  func builtInFirst() async throws {
    let (flow, refs) = Flow.building("order") {
      let chosen = FlowCore.merge(Self.pick(1))
      return (chosen, merge(["a"], ["b"]), merge(["c"], ["d"]))
    }
    let result = try await flow.run(environment: testEnvironment())
    #expect(result.state.kind == .success)
    #expect(try result.result(of: refs.1) == ["a", "b"])
    #expect(try result.result(of: refs.2) == ["c", "d"])
    #expect(try result.taskRun(of: refs.0).slug == "merge")
    #expect(try result.taskRun(of: refs.1).slug == "merge-2")
  }

  @Test("two different user definitions named `merge` are still a duplicate-name error")
  func twoUserDefinitions() async throws {
    let other = task("merge") { (a: Int) -> Int in a }
    let flow = Flow("dupes") {
      _ = merge(["a"], ["b"])
      _ = other(1)
    }
    await #expect(throws: FlowValidationError.self) {
      try await flow.run(environment: testEnvironment())
    }
  }
}

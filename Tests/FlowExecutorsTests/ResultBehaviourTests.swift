import FlowCore
import FlowExecutors
import FlowResults
import FlowState
import FlowTesting
import Foundation
import Testing

/// Issue 13's result behaviours on both executors: nil and Void outputs write nothing, and a
/// cache key keeps every unexpired entry, shared by mapped siblings.
@Suite("Result behaviours on every executor", .timeLimit(.minutes(1)))
struct ResultBehaviourTests {
  @Test("nil and Void outputs write nothing at their locations", arguments: bothExecutors)
  func nothingForNil(executor: FlowExecutor) async throws {
    let store = MemoryResultStore()
    let maybe = task("maybe") { (x: Int) -> Int? in x > 1 ? x : nil }
    let note = task("note") { (_: [Int?]) in }
    let flow = Flow("nothing", resultStore: store) { note(maybe.map([1, 2, 3])) }
    let result = try await flow.run(executor: executor, environment: testEnvironment())
    #expect(result.state.kind == .success)
    let id = result.flowRunID.uuidString.lowercased()
    // Children 1 and 2 wrote their values; child 0 (nil) and `note` (Void) wrote nothing.
    #expect(store.locations == ["nothing/\(id)/maybe/1", "nothing/\(id)/maybe/2"])
  }

  @Test(
    "a mapped child reuses any unexpired entry of its key, a sibling's included",
    arguments: bothExecutors)
  func siblingsShareEntries(executor: FlowExecutor) async throws {
    let store = MemoryResultStore()
    let calls = Log<Int>()
    let square = task("square") { (x: Int) -> Int in
      calls.append(x)
      return x * x
    }.cached(for: .seconds(600), in: store)
    let first = Flow("squares") { square.map([1, 2, 3]) }
    _ = try await first.run(executor: executor, environment: testEnvironment())
    let (second, squares) = Flow.building("squares") { square.map([3, 1, 4]) }
    let result = try await second.run(executor: executor, environment: testEnvironment(seed: 2))
    #expect(try result.result(of: squares) == [9, 1, 16])
    #expect(result.mappedRuns("square").map(\.state.kind) == [.cached, .cached, .success])
    #expect(calls.all.sorted() == [1, 2, 3, 4])
  }
}

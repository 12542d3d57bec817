import FlowCore
import FlowExecutors
import FlowState
import FlowTesting
import Foundation
import Testing

/// Mapped results by position (`outcomes()`), and `flatten`.
@Suite("Mapped outcomes and flatten", .timeLimit(.minutes(1)))
struct MappedOutcomeTests {
  static let square = task("square") { (x: Int) throws -> Int in
    if x == 2 { throw Boom(code: x) }
    if x == 3 { throw SkipTask("three is skipped") }
    return x * x
  }

  @Test(
    "a reduce over outcomes() sees every child at its map index, failed and skipped too",
    arguments: bothExecutors)
  func positions(executor: FlowExecutor) async throws {
    let summarize = task("summarize", trigger: .allFinished, skipOnUpstreamSkip: false) {
      (squares: [Outcome<Int>]) -> [String] in
      squares.map { $0.value.map(String.init) ?? $0.kind.name }
    }
    let (flow, refs) = Flow.building("positions") {
      let squares = Self.square.map([1, 2, 3, 4])
      return (squares, summarize(squares.outcomes()))
    }
    let result = try await flow.run(executor: executor, environment: testEnvironment())
    #expect(try result.result(of: refs.1) == ["1", "Failed", "Skipped", "16"])
    let children = try result.mappedRuns(of: refs.0)
    #expect(children.map(\.mapIndex) == [0, 1, 2, 3])
    #expect(children.map(\.state.kind) == [.success, .failed, .skipped, .success])
    #expect(children[3].state.value(as: Int.self) == 16)
    #expect(children[1].state.error is Boom)
  }

  @Test(
    "flatten concatenates a mapped task's lists, and a map over it runs per element",
    arguments: bothExecutors)
  func flattenThenMap(executor: FlowExecutor) async throws {
    let range = task("range") { (n: Int) -> [Int] in Array(0..<n) }
    let double = task("double") { (x: Int) -> Int in x * 2 }
    let (flow, doubled) = Flow.building("flatten") { double.map(flatten(range.map([1, 2, 3]))) }
    let result = try await flow.run(executor: executor, environment: testEnvironment())
    #expect(try result.result(of: doubled) == [0, 0, 2, 0, 2, 4])
    #expect(try result.mappedRuns(of: doubled).count == 6)
    #expect(result.kind("flatten") == .success)
  }
}

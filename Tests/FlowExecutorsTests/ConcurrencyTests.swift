import FlowCore
import FlowExecutors
import FlowState
import FlowTesting
import Foundation
import Synchronization
import Testing

@Suite("Executor width", .timeLimit(.minutes(1)))
struct ConcurrencyTests {
  /// A flow of `count` independent tasks whose bodies report to `gauge` while they run.
  private static func wideFlow(_ count: Int, _ gauge: Gauge, _ calls: Counter) -> Flow {
    let work = task("work") { () async throws -> Int in
      gauge.enter()
      defer { gauge.leave() }
      try await Task.sleep(for: .milliseconds(20))
      return calls.increment()
    }
    return Flow("wide") {
      for _ in 0..<count { work() }
    }
  }

  @Test("concurrent(width: 3) runs several tasks at once, never more than 3")
  func boundedWidth() async throws {
    let gauge = Gauge()
    let calls = Counter()
    let flow = Self.wideFlow(12, gauge, calls)
    let result = try await flow.run(executor: .concurrent(width: 3), environment: testEnvironment())
    #expect(gauge.peak <= 3)
    #expect(gauge.peak > 1)
    #expect(calls.count == 12)
    #expect(result.taskRuns.count == 12)
    #expect(result.taskRuns.allSatisfy { $0.state.kind == .success })
    #expect(Set(result.taskRuns.map(\.slug)).count == 12)
    #expect(result.taskRun("work-12") != nil)
    #expect(result.state.kind == .success)
  }

  @Test("sequential runs one task at a time")
  func sequentialWidth() async throws {
    let gauge = Gauge()
    let calls = Counter()
    let flow = Self.wideFlow(5, gauge, calls)
    let result = try await flow.run(executor: .sequential, environment: testEnvironment())
    #expect(gauge.peak == 1)
    #expect(calls.count == 5)
    #expect(result.state.kind == .success)
    // One at a time, in flow order.
    #expect(result.taskRuns.compactMap { $0.state.value(as: Int.self) } == [1, 2, 3, 4, 5])
  }

  @Test("mapped children also respect the width")
  func mappedChildrenRespectWidth() async throws {
    let gauge = Gauge()
    let square = task("square") { (x: Int) async throws -> Int in
      gauge.enter()
      defer { gauge.leave() }
      try await Task.sleep(for: .milliseconds(5))
      return x * x
    }
    var squares: Ref<[Int]>!
    let flow = Flow("wide-map") { squares = square.map(.constant(Array(1...8))) }
    let result = try await flow.run(executor: .concurrent(width: 2), environment: testEnvironment())
    #expect(gauge.peak <= 2)
    #expect(try result.result(of: squares) == [1, 4, 9, 16, 25, 36, 49, 64])
  }

  @Test("a width below 1 is rejected before anything runs", arguments: [0, -1])
  func invalidWidth(width: Int) async throws {
    let calls = Counter()
    let work = task("work") { () -> Int in calls.increment() }
    let flow = Flow("invalid") { work() }
    let error = await #expect(throws: FlowValidationError.self) {
      try await flow.run(executor: .concurrent(width: width), environment: testEnvironment())
    }
    #expect(error?.code == .invalidExecutor)
    #expect(error?.culprits == ["concurrent(width: \(width))"])
    #expect(calls.count == 0)
  }
}

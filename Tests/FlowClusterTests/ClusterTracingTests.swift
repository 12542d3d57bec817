import FlowCluster
import FlowCore
import FlowExecutors
import InMemoryTracing
import Synchronization
import Testing
import Tracing

@Suite(.timeLimit(.minutes(1))) struct ClusterTracingTests {
  /// The attribute `name` of `span` as text, or nil.
  static func text(_ span: FinishedInMemorySpan, _ name: String) -> String? {
    guard case .string(let value)? = span.attributes.get(name) else { return nil }
    return value
  }

  @Test("a run on a cluster gets a span per attempt, ended with its state, under the run's span")
  func spansOfAttemptsOnWorkers() async throws {
    let tracer = InMemoryTracer()
    let states = ResultBox()
    try await withTracer(tracer) {
      try await withCluster { scheduler in
        let result = try await pointsFlow.run(
          parameters: ["count": 5], executor: .cluster(scheduler))
        states.set(result.state.kind.name)
      }
    }
    #expect(states.value == "Success")
    #expect(tracer.activeSpans.isEmpty, "every span ended")
    let run = try #require(tracer.finishedSpans.first { $0.operationName == "flow run" })
    let attempts = tracer.finishedSpans.filter { $0.operationName == "task run" }
    // make_points, five norm children, total, label, skipper: each ran once on a worker.
    #expect(attempts.count == 9)
    #expect(attempts.allSatisfy { $0.parentSpanID == run.spanID })
    let norms = attempts.filter { Self.text($0, "swift_flow.task.slug") == "norm" }
    #expect(norms.count == 5)
    #expect(norms.allSatisfy { Self.text($0, "swift_flow.state") == "Success" })
    let skipper = attempts.first { Self.text($0, "swift_flow.task.slug") == "skipper" }
    #expect(skipper.flatMap { Self.text($0, "swift_flow.state") } == "Skipped")
  }
}

/// A value set inside a `@Sendable` closure and read after it.
final class ResultBox: Sendable {
  private let state = Mutex<String?>(nil)
  func set(_ value: String) { state.withLock { $0 = value } }
  var value: String? { state.withLock { $0 } }
}

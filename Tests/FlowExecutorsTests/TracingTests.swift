import FlowCore
import FlowExecutors
import FlowState
import FlowTesting
import Foundation
import InMemoryTracing
import Testing
import Tracing

@Suite("Tracing spans", .timeLimit(.minutes(1)))
struct TracingTests {
  /// The attribute `name` of `span` as text, or nil.
  func text(_ span: FinishedInMemorySpan, _ name: String) -> String? {
    guard case .string(let value)? = span.attributes.get(name) else { return nil }
    return value
  }

  /// The attribute `name` of `span` as an integer, or nil.
  func integer(_ span: FinishedInMemorySpan, _ name: String) -> Int64? {
    switch span.attributes.get(name) {
    case .int64(let value)?: value
    case .int32(let value)?: Int64(value)
    default: nil
    }
  }

  @Test(
    "a run and each attempt get a span: nested, ended, with the final state",
    arguments: bothExecutors)
  func spansPerRunAndAttempt(executor: FlowExecutor) async throws {
    let tracer = InMemoryTracer()
    let calls = Counter()
    let flaky = task("flaky", retries: RetryPolicy(maxRetries: 1)) { () throws -> Int in
      if calls.increment() == 1 { throw Boom(code: 1) }
      return 3
    }
    let double = task("double") { (value: Int) -> Int in value * 2 }
    let add = task("add") { (value: Int, more: [Int]) -> Int in value + more.reduce(0, +) }
    let flow = Flow("traced") {
      add(flaky(), double.map(Parameter("xs", default: [1, 2, 3])))
    }
    let result = try await withTracer(tracer) {
      try await flow.run(executor: executor, environment: testEnvironment())
    }
    #expect(result.state.kind == .success)
    #expect(tracer.activeSpans.isEmpty, "every span ended")
    let spans = tracer.finishedSpans
    let runs = spans.filter { $0.operationName == "flow run" }
    try #require(runs.count == 1)
    let run = runs[0]
    #expect(run.parentSpanID == nil)
    #expect(text(run, "swift_flow.flow.name") == "traced")
    #expect(text(run, "swift_flow.flow_run.id") == result.flowRunID.uuidString.lowercased())
    #expect(text(run, "swift_flow.state") == "Success")
    #expect(run.status?.code == .ok)
    let attempts = spans.filter { $0.operationName == "task run" }
    // flaky twice (a failure, then a retry), the three mapped children of double, add.
    #expect(attempts.count == 6)
    for attempt in attempts {
      #expect(attempt.parentSpanID == run.spanID, "a task span is the run span's child")
      #expect(attempt.traceID == run.traceID)
      #expect(text(attempt, "swift_flow.flow_run.id") == text(run, "swift_flow.flow_run.id"))
    }
    let flakySpans = attempts.filter { text($0, "swift_flow.task.slug") == "flaky" }
      .sorted {
        (integer($0, "swift_flow.task_run.attempt") ?? 0)
          < (integer($1, "swift_flow.task_run.attempt") ?? 0)
      }
    try #require(flakySpans.count == 2)
    #expect(text(flakySpans[0], "swift_flow.state") == "Failed")
    #expect(flakySpans[0].status?.code == .error)
    #expect(text(flakySpans[1], "swift_flow.state") == "Success")
    #expect(integer(flakySpans[1], "swift_flow.task_run.attempt") == 2)
    let mapped = attempts.filter { text($0, "swift_flow.task.slug") == "double" }
    #expect(Set(mapped.compactMap { integer($0, "swift_flow.task_run.map_index") }) == [0, 1, 2])
    #expect(mapped.allSatisfy { text($0, "swift_flow.state") == "Success" })
    // Spans follow the run's (test) clock.
    #expect(
      run.startInstant.nanosecondsSinceEpoch == UInt64(testStart.timeIntervalSince1970)
        * 1_000_000_000)
  }

  @Test("a failed run's span carries Failed and an error status")
  func failedRun() async throws {
    let tracer = InMemoryTracer()
    let broken = task("broken") { () throws -> Int in throw Boom(code: 7) }
    let flow = Flow("broken-flow") { broken() }
    let result = try await withTracer(tracer) {
      try await flow.run(environment: testEnvironment())
    }
    #expect(result.state.kind == .failed)
    let run = try #require(tracer.finishedSpans.first { $0.operationName == "flow run" })
    #expect(text(run, "swift_flow.state") == "Failed")
    #expect(run.status?.code == .error)
    let attempt = try #require(tracer.finishedSpans.first { $0.operationName == "task run" })
    #expect(text(attempt, "swift_flow.state") == "Failed")
    #expect(attempt.status?.message?.contains("boom 7") == true)
  }

  @Test("a span a task body starts is a child of its attempt's span", arguments: bothExecutors)
  func bodySpansNest(executor: FlowExecutor) async throws {
    let tracer = InMemoryTracer()
    let work = task("work") { () -> Int in
      withSpan("user work") { _ in 1 }
    }
    let flow = Flow("nesting") { work() }
    _ = try await withTracer(tracer) {
      try await flow.run(executor: executor, environment: testEnvironment())
    }
    let spans = tracer.finishedSpans
    let attempt = try #require(spans.first { $0.operationName == "task run" })
    let inner = try #require(spans.first { $0.operationName == "user work" })
    #expect(inner.parentSpanID == attempt.spanID)
  }

  @Test("without a tracer, a run creates no span")
  func noTracer() async throws {
    let tracer = InMemoryTracer()
    let flow = Flow("untraced") { task("one") { () -> Int in 1 }() }
    // The tracer is bound only around the second run.
    _ = try await flow.run(environment: testEnvironment())
    #expect(tracer.finishedSpans.isEmpty)
    _ = try await withTracer(tracer) { try await flow.run(environment: testEnvironment()) }
    #expect(tracer.finishedSpans.count == 2)
  }
}

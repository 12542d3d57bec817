import FlowCore
import FlowState
import Foundation
import Tracing

/// Spans through swift-distributed-tracing: one per flow run, and one per task-run attempt as
/// its child, so that a user who bootstraps a tracer (OpenTelemetry through swift-otel, say)
/// sees each run and its attempts. Without a tracer (``NoOpTracer``) nothing is created: a run
/// asks once whether one is there.
///
/// ```swift
/// InstrumentationSystem.bootstrap(tracer)  // once, at start-up
/// let result = try await flow.run()         // a "flow run" span with "task run" children
/// ```
enum RunTracing {
  /// The flow run span's name.
  static let flowRunSpan = "flow run"
  /// A task-run attempt span's name.
  static let taskRunSpan = "task run"

  /// Attribute names (the OpenTelemetry style: dotted, lower case).
  enum Attribute {
    static let flowName = "swift_flow.flow.name"
    static let flowRunID = "swift_flow.flow_run.id"
    static let taskSlug = "swift_flow.task.slug"
    static let taskRunID = "swift_flow.task_run.id"
    static let mapIndex = "swift_flow.task_run.map_index"
    static let attempt = "swift_flow.task_run.attempt"
    static let state = "swift_flow.state"
  }

  /// True when a tracer other than the no-op one is bootstrapped or bound by `withTracer`.
  static var isTracing: Bool { !(InstrumentationSystem.tracer is NoOpTracer) }

  /// Runs `body` (the whole flow run) inside a "flow run" span that ends with the run's state.
  static func flowRun(
    _ settings: RunSettings, startedAt: Date, _ body: () async -> FlowRunResult
  ) async -> FlowRunResult {
    let span = startSpan(flowRunSpan, at: RunInstant(startedAt))
    span.attributes[Attribute.flowName] = settings.flow.name
    span.attributes[Attribute.flowRunID] = settings.flowRunID.uuidString.lowercased()
    let result = await InstrumentationContext.withValue(span.context) { await body() }
    span.attributes[Attribute.state] = result.state.kind.name
    if result.state.isFailed {
      span.setStatus(SpanStatus(code: .error, message: result.state.message))
    } else {
      span.setStatus(SpanStatus(code: .ok))
    }
    span.end(at: RunInstant(result.finishedAt))
    return result
  }

  /// Runs `body` (one attempt) inside a "task run" span, a child of the flow run's, that ends
  /// with the attempt's outcome as a state.
  static func attempt(
    _ start: AttemptStart, _ settings: RunSettings,
    _ body: () async -> FlowRunShell.AttemptReport
  ) async -> FlowRunShell.AttemptReport {
    let span = startAttempt(start, settings)
    let report = await InstrumentationContext.withValue(span.context) { await body() }
    endAttempt(span, report, at: settings.environment.clock.now())
    return report
  }

  /// Starts the "task run" span of `start`, a child of the current (flow run's) span: for an
  /// attempt whose body runs elsewhere (a cluster worker) and whose outcome arrives later.
  static func startAttempt(_ start: AttemptStart, _ settings: RunSettings) -> any Span {
    let node = settings.graph.nodes[start.key.node]
    let span = startSpan(taskRunSpan, at: RunInstant(settings.environment.clock.now()))
    span.attributes[Attribute.flowName] = settings.flow.name
    span.attributes[Attribute.flowRunID] = settings.flowRunID.uuidString.lowercased()
    span.attributes[Attribute.taskSlug] = node.slug
    span.attributes[Attribute.taskRunID] = start.taskRunID.uuidString.lowercased()
    span.attributes[Attribute.mapIndex] = start.key.mapIndex
    span.attributes[Attribute.attempt] = start.attempt
    return span
  }

  /// Ends an attempt's span with the state its report gives.
  static func endAttempt(_ span: any Span, _ report: FlowRunShell.AttemptReport, at time: Date) {
    let (state, failure) = outcome(report)
    span.attributes[Attribute.state] = state
    if let failure {
      span.setStatus(SpanStatus(code: .error, message: failure))
    } else {
      span.setStatus(SpanStatus(code: .ok))
    }
    span.end(at: RunInstant(time))
  }

  /// The state an attempt ended in, and its error message when it failed.
  static func outcome(_ report: FlowRunShell.AttemptReport) -> (String, String?) {
    guard case .attemptFinished(_, _, let outcome, _)? = report.event else {
      return report.late != nil ? ("TimedOut", report.late!.message) : ("Crashed", nil)
    }
    switch outcome {
    case .succeeded: return ("Success", nil)
    case .skipped: return ("Skipped", nil)
    case .looped: return ("Looped", nil)
    case .cancelled(let error): return ("Cancelled", error.description)
    case .failed(let failure):
      return (failure.timedOut ? "TimedOut" : "Failed", failure.error.description)
    }
  }
}

/// An instant of the run's clock as a tracing instant (spans follow the injected clock, so a
/// simulated run's spans carry simulated times).
struct RunInstant: TracerInstant {
  let nanosecondsSinceEpoch: UInt64

  init(_ date: Date) {
    nanosecondsSinceEpoch = UInt64(max(date.timeIntervalSince1970, 0) * 1_000_000_000)
  }

  static func < (lhs: RunInstant, rhs: RunInstant) -> Bool {
    lhs.nanosecondsSinceEpoch < rhs.nanosecondsSinceEpoch
  }
}

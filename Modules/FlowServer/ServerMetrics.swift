import FlowCore
import Foundation
import Hummingbird
import Logging
import Metrics
import Prometheus
import ServiceLifecycle

/// The server's metrics through swift-metrics into its own Prometheus registry (no global
/// bootstrap): flow runs and task runs by final state, their durations as histograms, and
/// what the server itself serves. `/metrics` exposes them.
public final class ServerMetrics: Sendable {
  /// The registry `/metrics` prints.
  public let registry: PrometheusCollectorRegistry
  let factory: PrometheusMetricsFactory

  /// Metrics in a new registry.
  public init() {
    registry = PrometheusCollectorRegistry()
    var factory = PrometheusMetricsFactory(registry: registry)
    factory.defaultDurationHistogramBuckets = [
      .milliseconds(1), .milliseconds(5), .milliseconds(25), .milliseconds(100),
      .milliseconds(250), .milliseconds(500), .seconds(1), .seconds(2.5), .seconds(5),
      .seconds(10), .seconds(30), .seconds(60), .seconds(300), .seconds(900), .seconds(3600),
    ]
    self.factory = factory
  }

  /// Counts a run that reached its final state, and its task runs.
  public func recordFinished(_ run: FlowRunRecord, taskRuns: [TaskRunRecord]) {
    Counter(
      label: "flow_runs_total", dimensions: [("flow", run.flowName), ("state", run.state)],
      factory: factory
    ).increment()
    if let ended = run.endedAt {
      Metrics.Timer(
        label: "flow_run_duration_seconds", dimensions: [("flow", run.flowName)], factory: factory
      ).recordNanoseconds(Int64(max(ended.timeIntervalSince(run.startedAt), 0) * 1e9))
    }
    var byState: [String: Int] = [:]
    let taskTimer = Metrics.Timer(
      label: "task_run_duration_seconds", dimensions: [("flow", run.flowName)], factory: factory)
    for task in taskRuns {
      byState[task.state, default: 0] += 1
      if let duration = task.duration { taskTimer.recordNanoseconds(Int64(max(duration, 0) * 1e9)) }
    }
    for (state, count) in byState {
      Counter(
        label: "task_runs_total", dimensions: [("flow", run.flowName), ("state", state)],
        factory: factory
      ).increment(by: count)
    }
  }

  /// The number of runs the server has counted so far, by the last poll.
  func recordPoll(seconds: Double) {
    Metrics.Timer(label: "flow_server_store_poll_seconds", dimensions: [], factory: factory)
      .recordNanoseconds(Int64(seconds * 1e9))
  }

  func register(on router: Router<BasicRequestContext>) {
    router.get("/metrics") { [registry] _, _ in
      Response(
        status: .ok,
        headers: [
          .contentType: "text/plain; version=0.0.4; charset=utf-8", .cacheControl: "no-store",
        ],
        body: ResponseBody(byteBuffer: ByteBuffer(bytes: registry.emitToBuffer())))
    }
  }
}

/// Watches the store for runs that reach a final state and counts them in ``ServerMetrics``
/// (runs that ended before the server started are not counted). A run recorded a little late
/// is still counted once: each poll looks back over a short window and skips runs it has seen.
struct MetricsCollector: Service {
  let server: FlowServer
  /// How far back each poll looks for runs committed after their end time.
  static let lookBack: TimeInterval = 30
  static let pageSize = 500

  func run() async throws {
    try await cancelWhenGracefulShutdown { try await collect() }
  }

  private func collect() async throws {
    let clock = server.clock
    let start = clock.now()
    var seen: [UUID: Date] = [:]
    var newest = start
    while !Task.isCancelled {
      do {
        var cursor = FlowRunEndCursor(
          endedAt: newest.addingTimeInterval(-Self.lookBack), id: UUID(uuid: UUID.zero))
        while true {
          let page = try await server.store.flowRuns(endedAfter: cursor, limit: Self.pageSize)
          for run in page {
            guard let ended = run.endedAt else { continue }
            cursor = FlowRunEndCursor(endedAt: ended, id: run.id)
            newest = max(newest, ended)
            guard ended >= start, seen[run.id] == nil else { continue }
            seen[run.id] = ended
            let tasks = try await server.store.taskRuns(flowRunID: run.id)
            server.metrics.recordFinished(run, taskRuns: tasks)
          }
          if page.count < Self.pageSize { break }
        }
        let horizon = newest.addingTimeInterval(-2 * Self.lookBack)
        seen = seen.filter { $0.value >= horizon }
      } catch {
        server.logger.warning(
          "metrics: reading finished runs failed; retrying", metadata: ["error": "\(error)"])
      }
      try await clock.sleep(for: .seconds(1))
    }
  }
}

extension UUID {
  /// The all-zero UUID (sorts before every other).
  static let zero: uuid_t = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
}

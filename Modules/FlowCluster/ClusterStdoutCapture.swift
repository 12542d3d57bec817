import FlowClusterProtocol
import FlowCore
import FlowLogging

extension ClusterTaskRegistry {
  /// Calls a body on a worker; with `logStdout`, captures what it prints (FlowLogging's
  /// `StdoutCapture`, as the local executors do) and adds each line to `sink` as an info
  /// record with the attempt's metadata, so the lines reach the scheduler's run log.
  static func call(
    _ body: TaskBody, _ inputs: [any Sendable], logStdout: Bool, sink: CollectingLogSink,
    attempt: Int, clock: any WallClock
  ) async throws -> any Sendable {
    guard logStdout else { return try await body.call(inputs) }
    let (outcome, lines) = await StdoutCapture.capture { try await body.call(inputs) }
    let time = clock.now().timeIntervalSince1970
    for line in lines {
      sink.append(
        ClusterLogRecord(
          time: time, level: "info", message: line,
          metadata: [ClusterLogKeys.taskAttempt: "\(attempt)", ClusterLogKeys.source: "stdout"]))
    }
    return try outcome.get()
  }
}

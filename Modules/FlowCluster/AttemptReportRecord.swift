import FlowClusterProtocol
import FlowLogging

/// An attempt report as a record of the run's log, rendered only when the log is read: a
/// run of short tasks writes one per task.
struct AttemptReportRecord: RunLogRendering {
  let report: ClusterAttemptReport

  var message: String { report.message }
  var metadata: [String: String] { report.metadata }
}

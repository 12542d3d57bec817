import FlowState
import Foundation

extension FlowRunResult {
  /// The end-of-run summary: one row per task run with its final state, attempts and duration,
  /// then the flow's final state.
  ///
  /// ```
  /// task                   state          attempts  duration
  /// load_data              Success               1     0.012s
  /// ```
  public var summary: String {
    let width = max(22, (taskRuns.map(\.label.count).max() ?? 0) + 2)
    func row(_ task: String, _ state: String, _ attempts: String, _ duration: String) -> String {
      task.padding(toLength: width, withPad: " ", startingAt: 0)
        + state.padding(toLength: 14, withPad: " ", startingAt: 0)
        + String(repeating: " ", count: max(0, 8 - attempts.count)) + attempts
        + String(repeating: " ", count: max(0, 10 - duration.count)) + duration
    }
    var lines = [row("task", "state", "attempts", "duration")]
    for run in taskRuns {
      let duration = run.duration.map { String(format: "%.3fs", $0.timeInterval) } ?? "-"
      lines.append(row(run.label, run.state.kind.name, "\(run.attempts)", duration))
    }
    lines.append("Flow run '\(flowName)': \(state)")
    return lines.joined(separator: "\n")
  }
}

extension Duration {
  fileprivate var timeInterval: Double {
    Double(components.seconds) + Double(components.attoseconds) * 1e-18
  }
}

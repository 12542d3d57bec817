import FlowState

/// A task run that passed its trigger and is ready for an executor: node, map index, inputs.
struct TaskRunJob: Sendable {
  let node: Int
  let mapIndex: Int?
  let inputs: [any Sendable]
  /// False when an upstream task ran in this run: resuming must not reuse this task's old
  /// checkpoint, which was computed from the upstream's old output.
  var mayResume = true
}

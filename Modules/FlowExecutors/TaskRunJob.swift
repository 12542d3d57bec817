import FlowState

/// A task run that passed its trigger and is ready for an executor: node, map index, inputs.
struct TaskRunJob: Sendable {
  let node: Int
  let mapIndex: Int?
  let inputs: [any Sendable]
}

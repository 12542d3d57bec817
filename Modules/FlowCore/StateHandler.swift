import FlowState

/// One state change of a task run or flow run, as a state handler sees it.
public struct StateChange: Sendable {
  /// The task's slug, or the flow's name for a flow-run change.
  public let subject: String
  /// For a mapped child, its index.
  public let mapIndex: Int?
  /// The state the run leaves.
  public let old: RunState
  /// The state the run enters.
  public let new: RunState

  /// Creates a change.
  public init(subject: String, mapIndex: Int? = nil, old: RunState, new: RunState) {
    self.subject = subject
    self.mapIndex = mapIndex
    self.old = old
    self.new = new
  }
}

/// Called on every state transition; returns the state to enter (usually `change.new`).
///
/// A handler may replace the new state (Prefect 1 `state_handlers`). The replacement must be a
/// legal transition from `change.old`; an illegal one, or a thrown error, fails the run.
public typealias StateHandler = @Sendable (_ change: StateChange) throws -> RunState

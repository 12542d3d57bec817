/// Decides a flow run's final state from the states of its reference tasks (Prefect 1's rule).
///
/// - Any reference run failed → Failed.
/// - Otherwise, any was Cancelled → Cancelled.
/// - Otherwise, any has not finished (Paused, or held Pending) → Paused: the run waits.
/// - Otherwise (all Success, Cached, Mapped or Skipped) → Success.
public enum FinalState {
  /// The message of a flow run whose reference tasks all succeeded.
  public static let allSucceededMessage = "All reference tasks succeeded."

  /// The flow run's final state for these reference task states.
  public static func forFlow(referenceStates: [UpstreamState]) -> RunState {
    func labels(_ predicate: (RunState) -> Bool) -> String {
      referenceStates.filter { predicate($0.state) }.map(\.label).joined(separator: ", ")
    }
    // Closures rather than key paths: a large flow has many reference tasks.
    if referenceStates.contains(where: { $0.state.isFailed }) {
      return RunState(.failed, message: "Some reference tasks failed: \(labels(\.isFailed)).")
    }
    if referenceStates.contains(where: { $0.state.isCancelled }) {
      return RunState(
        .cancelled, message: "Some reference tasks were cancelled: \(labels(\.isCancelled)).")
    }
    if referenceStates.contains(where: { !$0.state.isFinished }) {
      return RunState(
        .paused, message: "Some reference tasks are waiting: \(labels { !$0.isFinished }).")
    }
    return RunState(.success, message: allSucceededMessage)
  }
}

extension UpstreamState {
  /// The slug, with the map index when there is one: `square[2]`.
  public var label: String { mapIndex.map { "\(task)[\($0)]" } ?? task }
}

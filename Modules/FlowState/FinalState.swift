/// Decides a flow run's final state from the states of its reference tasks (Prefect 1's rule).
///
/// - Any reference run failed → Failed.
/// - Otherwise, any is Paused → Paused; any is Cancelled or never finished → Cancelled.
/// - Otherwise (all Success, Cached, Mapped or Skipped) → Success.
public enum FinalState {
  /// The flow run's final state for these reference task states.
  public static func forFlow(referenceStates: [UpstreamState]) -> RunState {
    let failed = referenceStates.filter(\.state.isFailed).map(\.label)
    if !failed.isEmpty {
      return RunState(
        .failed, message: "Some reference tasks failed: \(failed.joined(separator: ", ")).")
    }
    let paused = referenceStates.filter(\.state.isPaused).map(\.label)
    if !paused.isEmpty {
      return RunState(
        .paused, message: "Waiting for approval of: \(paused.joined(separator: ", ")).")
    }
    let unfinished = referenceStates.filter { !$0.state.isSuccessful }.map(\.label)
    if !unfinished.isEmpty {
      return RunState(
        .cancelled,
        message: "Some reference tasks were cancelled: \(unfinished.joined(separator: ", ")).")
    }
    return RunState(.success, message: "All reference tasks succeeded.")
  }
}

extension UpstreamState {
  /// The slug, with the map index when there is one: `square[2]`.
  public var label: String { mapIndex.map { "\(task)[\($0)]" } ?? task }
}

import FlowState

/// An upstream run of `task` (optionally a mapped child) in a state of `kind`.
func upstream(_ kind: RunState.Kind, _ task: String = "upstream", mapIndex: Int? = nil)
  -> UpstreamState
{
  UpstreamState(task: task, mapIndex: mapIndex, state: RunState(kind))
}

/// Upstream runs in the given kinds, named `t0`, `t1`…
func upstreams(_ kinds: [RunState.Kind]) -> [UpstreamState] {
  kinds.enumerated().map { upstream($1, "t\($0)") }
}

/// `count` upstream runs of `kind` followed by `others` runs of `other`.
func upstreams(
  _ count: Int, _ kind: RunState.Kind, plus others: Int = 0, _ other: RunState.Kind = .failed
) -> [UpstreamState] {
  upstreams(Array(repeating: kind, count: count) + Array(repeating: other, count: others))
}

/// Kinds grouped as the documentation describes them, written out by hand.
enum Kinds {
  static let successful: Set<RunState.Kind> = [.success, .cached, .mapped, .skipped]
  static let failed: Set<RunState.Kind> = [.failed, .timedOut, .triggerFailed, .crashed]
  static let finished: Set<RunState.Kind> = successful.union(failed).union([.cancelled])
  static let pending: Set<RunState.Kind> = [.pending, .scheduled, .retrying]
  static let unfinished: Set<RunState.Kind> = [
    .pending, .scheduled, .running, .retrying, .paused,
  ]
}

extension TriggerDecision {
  /// The message of a `.fail` decision, nil otherwise.
  var failMessage: String? {
    if case .fail(let message) = self { return message }
    return nil
  }

  /// The message of a `.pause` decision, nil otherwise.
  var pauseMessage: String? {
    if case .pause(let message) = self { return message }
    return nil
  }
}

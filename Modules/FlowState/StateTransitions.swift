/// The table of legal state transitions, shared by task runs and flow runs.
///
/// | from | to |
/// | --- | --- |
/// | Pending | Scheduled, Running, Cached, Mapped, Skipped, TriggerFailed, Paused |
/// | Scheduled | Pending, Running, Cached, Mapped, Skipped, TriggerFailed, Paused |
/// | Running | Success, Mapped, Skipped, Retrying, TimedOut, Paused |
/// | Retrying | Running |
/// | Paused | Pending, Scheduled, Running |
/// | Crashed | Running (a cluster reschedules an attempt lost with its worker) |
/// | any unfinished state | Failed, Crashed, Cancelled |
/// | any other finished state | nothing |
///
/// Staying in the same unfinished kind (Running → Running with a new message) is legal;
/// everything else is rejected with an ``IllegalTransitionError``.
public enum StateTransitions {
  private static let always: [RunState.Kind] = [.failed, .crashed, .cancelled]

  private static let table: [UInt16] = {
    var rows = [UInt16](repeating: 0, count: RunState.Kind.all.count)
    func allow(_ from: RunState.Kind, _ targets: [RunState.Kind]) {
      for target in targets + always + [from] { rows[Int(from.rawValue)] |= 1 << target.rawValue }
    }
    allow(.pending, [.scheduled, .running, .cached, .mapped, .skipped, .triggerFailed, .paused])
    allow(.scheduled, [.pending, .running, .cached, .mapped, .skipped, .triggerFailed, .paused])
    allow(.running, [.success, .mapped, .skipped, .retrying, .timedOut, .paused])
    allow(.retrying, [.running])
    allow(.paused, [.pending, .scheduled, .running])
    rows[Int(RunState.Kind.crashed.rawValue)] = 1 << RunState.Kind.running.rawValue
    return rows
  }()

  /// Whether a run may move from `from` to `to`.
  public static func isLegal(from: RunState.Kind, to: RunState.Kind) -> Bool {
    table[Int(from.rawValue)] & (1 << to.rawValue) != 0
  }

  /// The kinds a run in `kind` may move to.
  public static func targets(from kind: RunState.Kind) -> [RunState.Kind] {
    RunState.Kind.all.filter { isLegal(from: kind, to: $0) }
  }
}

/// A state change that the transition table forbids; it was not applied.
public struct IllegalTransitionError: Error, Sendable, CustomStringConvertible {
  /// The state the run was in.
  public let from: RunState.Kind
  /// The state that was refused.
  public let to: RunState.Kind
  /// Who asked for the transition (a task slug, a flow name), if known.
  public let subject: String?

  /// Creates the error.
  public init(from: RunState.Kind, to: RunState.Kind, subject: String? = nil) {
    self.from = from
    self.to = to
    self.subject = subject
  }

  /// Names the refused move and the moves that are legal from `from`.
  public var description: String {
    let who = subject.map { "'\($0)': " } ?? ""
    let legal = StateTransitions.targets(from: from).filter { $0 != from }
    let allowed =
      legal.isEmpty
      ? "\(from) is a finished state and cannot change"
      : from.isFinished
        ? "\(from) is a finished state; only a rescheduled attempt moves it, to "
          + legal.map(\.name).joined(separator: ", ")
        : "from \(from) a run may move to \(legal.map(\.name).joined(separator: ", "))"
    return "\(who)illegal state transition \(from) → \(to): \(allowed)"
  }
}

extension RunState {
  /// Returns `next` if moving from this state to it is legal, and throws otherwise.
  public func transition(to next: RunState, subject: String? = nil) throws(IllegalTransitionError)
    -> RunState
  {
    guard StateTransitions.isLegal(from: kind, to: next.kind) else {
      throw IllegalTransitionError(from: kind, to: next.kind, subject: subject)
    }
    return next
  }
}

/// The state of one upstream run, as a trigger sees it.
public struct UpstreamState: Sendable {
  /// The upstream task's slug.
  public let task: String
  /// For a mapped child, its index; nil otherwise.
  public let mapIndex: Int?
  /// The upstream run's final state.
  public let state: RunState

  /// Creates an upstream state.
  public init(task: String, mapIndex: Int? = nil, state: RunState) {
    self.task = task
    self.mapIndex = mapIndex
    self.state = state
  }
}

/// What a trigger decided: run the task, fail it (TriggerFailed), or pause it (Paused).
public enum TriggerDecision: Sendable, Equatable {
  /// The task may run.
  case run
  /// The task must not run; it ends TriggerFailed with this message.
  case fail(String)
  /// The task waits for a manual approval; it ends Paused with this message.
  case pause(String)
}

/// Decides, from its upstream states, whether a task runs (Prefect 1 triggers).
///
/// A task with no upstream runs always passes its trigger, except ``manualOnly``.
/// Thresholds of ``someSuccessful(atLeast:atMost:)`` and ``someFailed(atLeast:atMost:)``
/// below 1 are fractions of the number of upstream runs.
public struct Trigger: Sendable, CustomStringConvertible {
  /// The trigger's name, quoted in TriggerFailed messages.
  public let name: String
  private let decide: @Sendable ([UpstreamState]) -> TriggerDecision
  /// True only for ``allSuccessful``: an engine may then let a task run whose upstream runs all
  /// succeeded without listing their states (the decision is `.run` for those).
  public let runsWhenAllSucceeded: Bool

  /// A custom trigger.
  public init(name: String, decide: @escaping @Sendable ([UpstreamState]) -> TriggerDecision) {
    self.init(name: name, runsWhenAllSucceeded: false, decide: decide)
  }

  private init(
    name: String, runsWhenAllSucceeded: Bool,
    decide: @escaping @Sendable ([UpstreamState]) -> TriggerDecision
  ) {
    self.name = name
    self.decide = decide
    self.runsWhenAllSucceeded = runsWhenAllSucceeded
  }

  /// Decides for these upstream states.
  public func evaluate(_ upstream: [UpstreamState]) -> TriggerDecision { decide(upstream) }

  /// The trigger's name.
  public var description: String { name }

  /// A trigger that fails unless `holds`; its message names the upstream runs for which
  /// `culprit` is true (the ones that made it fail), with their states.
  private static func requiring(
    _ name: String, _ failure: String, runsWhenAllSucceeded: Bool = false,
    culprit: @escaping @Sendable (UpstreamState) -> Bool,
    holds: @escaping @Sendable ([UpstreamState]) -> Bool
  ) -> Trigger {
    Trigger(name: name, runsWhenAllSucceeded: runsWhenAllSucceeded) { upstream in
      guard !upstream.isEmpty, !holds(upstream) else { return .run }
      let culprits = upstream.filter(culprit)
      var named = culprits.prefix(5).map { "'\($0.label)' (\($0.state.kind))" }
      if culprits.count > 5 { named.append("and \(culprits.count - 5) more") }
      let list = named.isEmpty ? "" : ": " + named.joined(separator: ", ")
      return .fail("Trigger was \"\(name)\" but \(failure)\(list).")
    }
  }

  /// Runs when every upstream run succeeded (the default).
  public static let allSuccessful = requiring(
    "allSuccessful", "some of the upstream tasks did not succeed", runsWhenAllSucceeded: true,
    culprit: { !$0.state.isSuccessful },
    holds: { $0.allSatisfy(\.state.isSuccessful) })

  /// Runs when every upstream run failed.
  public static let allFailed = requiring(
    "allFailed", "some of the upstream tasks did not fail", culprit: { !$0.state.isFailed },
    holds: { $0.allSatisfy(\.state.isFailed) })

  /// Runs when every upstream run finished, whatever its outcome.
  public static let allFinished = requiring(
    "allFinished", "some of the upstream tasks did not finish", culprit: { !$0.state.isFinished },
    holds: { $0.allSatisfy(\.state.isFinished) })

  /// Same as ``allFinished``: runs whatever the upstream outcome (cleanup tasks).
  public static let always = requiring(
    "always", "some of the upstream tasks did not finish", culprit: { !$0.state.isFinished },
    holds: { $0.allSatisfy(\.state.isFinished) })

  /// Runs when at least one upstream run succeeded.
  public static let anySuccessful = requiring(
    "anySuccessful", "none of the upstream tasks succeeded", culprit: { _ in true },
    holds: { $0.contains(where: \.state.isSuccessful) })

  /// Runs when at least one upstream run failed.
  public static let anyFailed = requiring(
    "anyFailed", "none of the upstream tasks failed", culprit: { _ in true },
    holds: { $0.contains(where: \.state.isFailed) })

  /// Runs when no upstream run failed (skips and cancellations are fine).
  public static let noneFailed = requiring(
    "noneFailed", "some of the upstream tasks failed", culprit: { $0.state.isFailed },
    holds: { !$0.contains(where: \.state.isFailed) })

  /// Never runs by itself: the task pauses until it is approved.
  public static let manualOnly = Trigger(name: "manualOnly") { _ in
    .pause("Trigger was \"manualOnly\": the task waits for a manual approval.")
  }

  /// Runs when the number of successful upstream runs is within the bounds.
  public static func someSuccessful(atLeast: Double? = nil, atMost: Double? = nil) -> Trigger {
    counting("someSuccessful", "successful", atLeast, atMost, \.state.isSuccessful)
  }

  /// Runs when the number of failed upstream runs is within the bounds.
  public static func someFailed(atLeast: Double? = nil, atMost: Double? = nil) -> Trigger {
    counting("someFailed", "failed", atLeast, atMost, \.state.isFailed)
  }

  private static func counting(
    _ base: String, _ adjective: String, _ atLeast: Double?, _ atMost: Double?,
    _ predicate: @escaping @Sendable (UpstreamState) -> Bool
  ) -> Trigger {
    let bounds = [atLeast.map { "atLeast: \($0)" }, atMost.map { "atMost: \($0)" }]
    let name = "\(base)(\(bounds.compactMap { $0 }.joined(separator: ", ")))"
    return Trigger(name: name) { upstream in
      guard !upstream.isEmpty else { return .run }
      let total = Double(upstream.count)
      func absolute(_ threshold: Double) -> Double {
        guard threshold < 1 else { return threshold }
        // A fraction of the count, snapped to a whole number when within rounding error of
        // one, so that 0.28 × 25 is 7 and not 7.000000000000001.
        let value = threshold * total
        return abs(value - value.rounded()) < 1e-9 ? value.rounded() : value
      }
      let count = Double(upstream.count(where: predicate))
      if let atLeast, count < absolute(atLeast) {
        return .fail(
          "Trigger was \"\(name)\" but only \(Int(count)) of \(upstream.count) upstream tasks "
            + "were \(adjective), fewer than \(absolute(atLeast)).")
      }
      if let atMost, count > absolute(atMost) {
        return .fail(
          "Trigger was \"\(name)\" but \(Int(count)) of \(upstream.count) upstream tasks "
            + "were \(adjective), more than \(absolute(atMost)).")
      }
      return .run
    }
  }
}

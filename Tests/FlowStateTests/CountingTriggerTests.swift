import FlowState
import Testing

/// One row of a counting-trigger table: how many upstream runs match the trigger's predicate,
/// how many do not, the bounds, and whether the task runs.
struct CountingCase: Sendable, CustomTestStringConvertible {
  let matching: Int
  let others: Int
  let atLeast: Double?
  let atMost: Double?
  let runs: Bool

  init(_ matching: Int, of total: Int, atLeast: Double? = nil, atMost: Double? = nil, runs: Bool) {
    self.matching = matching
    self.others = total - matching
    self.atLeast = atLeast
    self.atMost = atMost
    self.runs = runs
  }

  var testDescription: String {
    "\(matching) of \(matching + others), atLeast \(atLeast.map { "\($0)" } ?? "-"), "
      + "atMost \(atMost.map { "\($0)" } ?? "-") → \(runs ? "run" : "fail")"
  }
}

@Suite("Counting triggers")
struct CountingTriggerTests {
  static let cases: [CountingCase] = [
    // Absolute lower bound, at, above and below the threshold.
    .init(2, of: 3, atLeast: 2, runs: true),
    .init(3, of: 3, atLeast: 2, runs: true),
    .init(1, of: 3, atLeast: 2, runs: false),
    .init(2, of: 2, atLeast: 3, runs: false),
    // Absolute upper bound.
    .init(2, of: 3, atMost: 2, runs: true),
    .init(3, of: 3, atMost: 2, runs: false),
    .init(0, of: 3, atMost: 2, runs: true),
    .init(0, of: 3, atMost: 0, runs: true),
    .init(1, of: 3, atMost: 0, runs: false),
    // Both bounds.
    .init(0, of: 3, atLeast: 1, atMost: 2, runs: false),
    .init(1, of: 3, atLeast: 1, atMost: 2, runs: true),
    .init(2, of: 3, atLeast: 1, atMost: 2, runs: true),
    .init(3, of: 3, atLeast: 1, atMost: 2, runs: false),
    // 1 is an absolute threshold, not 100%.
    .init(1, of: 10, atLeast: 1, runs: true),
    .init(0, of: 10, atLeast: 1, runs: false),
    .init(2, of: 10, atMost: 1, runs: false),
    // 0 lets everything through as a lower bound.
    .init(0, of: 3, atLeast: 0, runs: true),
    // Fractions of the upstream count.
    .init(2, of: 4, atLeast: 0.5, runs: true),
    .init(1, of: 4, atLeast: 0.5, runs: false),
    .init(4, of: 4, atLeast: 0.5, runs: true),
    .init(2, of: 4, atMost: 0.5, runs: true),
    .init(3, of: 4, atMost: 0.5, runs: false),
    .init(0, of: 4, atMost: 0.5, runs: true),
    .init(3, of: 4, atLeast: 0.75, runs: true),
    .init(2, of: 4, atLeast: 0.75, runs: false),
    .init(2, of: 8, atLeast: 0.25, runs: true),
    .init(1, of: 8, atLeast: 0.25, runs: false),
    .init(2, of: 3, atLeast: 0.5, runs: true),
    .init(1, of: 3, atLeast: 0.5, runs: false),
    .init(1, of: 3, atMost: 0.5, runs: true),
    .init(2, of: 3, atMost: 0.5, runs: false),
    .init(1, of: 4, atLeast: 0.25, atMost: 0.5, runs: true),
    .init(3, of: 4, atLeast: 0.25, atMost: 0.5, runs: false),
    .init(0, of: 4, atLeast: 0.25, atMost: 0.5, runs: false),
    // Fractions and absolute numbers mixed.
    .init(3, of: 4, atLeast: 0.5, atMost: 3, runs: true),
    .init(4, of: 4, atLeast: 0.5, atMost: 3, runs: false),
    // No bounds: anything goes.
    .init(0, of: 3, runs: true),
    .init(3, of: 3, runs: true),
  ]

  private func check(_ trigger: Trigger, _ upstream: [UpstreamState], _ row: CountingCase) throws {
    let decision = trigger.evaluate(upstream)
    if row.runs {
      #expect(decision == .run)
      return
    }
    let message = try #require(decision.failMessage)
    #expect(message.hasPrefix("Trigger was \"\(trigger.name)\" but "))
    #expect(message.contains("\(row.matching) of \(row.matching + row.others) upstream tasks"))
    if row.atMost == nil {
      #expect(message.contains("fewer than"))
    }
    if row.atLeast == nil {
      #expect(message.contains("more than"))
    }
  }

  @Test(arguments: cases)
  func someSuccessful(row: CountingCase) throws {
    let trigger = Trigger.someSuccessful(atLeast: row.atLeast, atMost: row.atMost)
    try check(trigger, upstreams(row.matching, .success, plus: row.others, .failed), row)
    #expect(trigger.evaluate([]) == .run)
  }

  @Test(arguments: cases)
  func someFailed(row: CountingCase) throws {
    let trigger = Trigger.someFailed(atLeast: row.atLeast, atMost: row.atMost)
    try check(trigger, upstreams(row.matching, .failed, plus: row.others, .success), row)
    #expect(trigger.evaluate([]) == .run)
  }

  @Test func theOrderOfUpstreamRunsDoesNotMatter() {
    let trigger = Trigger.someSuccessful(atLeast: 2)
    #expect(trigger.evaluate(upstreams([.failed, .success, .failed, .success])) == .run)
    #expect(trigger.evaluate(upstreams([.success, .failed, .failed, .failed])) != .run)
  }

  @Test func someSuccessfulCountsSkippedCachedAndMapped() {
    let trigger = Trigger.someSuccessful(atLeast: 4)
    #expect(trigger.evaluate(upstreams([.success, .skipped, .cached, .mapped])) == .run)
  }

  @Test func someSuccessfulDoesNotCountCancelledOrUnfinishedRuns() {
    let trigger = Trigger.someSuccessful(atLeast: 1)
    let others: [RunState.Kind] = [.cancelled, .pending, .running, .paused, .failed]
    #expect(trigger.evaluate(upstreams(others)).failMessage != nil)
  }

  @Test func someFailedCountsTimedOutTriggerFailedAndCrashed() {
    let trigger = Trigger.someFailed(atLeast: 4)
    #expect(trigger.evaluate(upstreams([.failed, .timedOut, .triggerFailed, .crashed])) == .run)
  }

  @Test func someFailedDoesNotCountCancelledOrSkippedRuns() {
    #expect(Trigger.someFailed(atLeast: 1).evaluate(upstreams([.cancelled, .skipped])) != .run)
    #expect(Trigger.someFailed(atMost: 0).evaluate(upstreams([.cancelled, .skipped])) == .run)
  }

  @Test func namesShowTheBounds() {
    let lower = Trigger.someSuccessful(atLeast: 2)
    let both = Trigger.someFailed(atLeast: 0.25, atMost: 3)
    #expect(lower.name.hasPrefix("someSuccessful("))
    #expect(lower.name.contains("atLeast"))
    #expect(!lower.name.contains("atMost"))
    #expect(both.name.hasPrefix("someFailed("))
    #expect(both.name.contains("atLeast: 0.25"))
    #expect(both.name.contains("atMost"))
    #expect(Trigger.someSuccessful().name == "someSuccessful()")
    #expect(lower.description == lower.name)
  }

  @Test func failureMessagesNameTheCountsAndTheThreshold() {
    let tooFew = Trigger.someSuccessful(atLeast: 2).evaluate(
      upstreams(1, .success, plus: 2, .failed))
    #expect(
      tooFew
        == .fail(
          "Trigger was \"someSuccessful(atLeast: 2.0)\" but only 1 of 3 upstream tasks were "
            + "successful, fewer than 2.0."))
    let tooMany = Trigger.someFailed(atMost: 0.5).evaluate(upstreams(3, .failed, plus: 1, .success))
    #expect(
      tooMany
        == .fail(
          "Trigger was \"someFailed(atMost: 0.5)\" but 3 of 4 upstream tasks were failed, "
            + "more than 2.0."))
  }

  /// Exactly at a fractional threshold passes, although in floating point 0.28 × 25 is
  /// 7.000000000000001 and 0.58 × 50 is 28.999999999999996 (a regression test).
  @Test func fractionalThresholdsAreExactAtTheBoundary() {
    let lower = Trigger.someSuccessful(atLeast: 0.28)
    #expect(lower.evaluate(upstreams(7, .success, plus: 18, .failed)) == .run)
    #expect(lower.evaluate(upstreams(6, .success, plus: 19, .failed)) != .run)
    let upper = Trigger.someFailed(atMost: 0.58)
    #expect(upper.evaluate(upstreams(29, .failed, plus: 21, .success)) == .run)
    #expect(upper.evaluate(upstreams(30, .failed, plus: 20, .success)) != .run)
  }
}

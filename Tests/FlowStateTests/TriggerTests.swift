import FlowState
import Testing

/// A built-in trigger with the kinds of a single upstream run it lets through.
struct SingleUpstreamRow: Sendable, CustomTestStringConvertible {
  let trigger: Trigger
  let passes: Set<RunState.Kind>

  var testDescription: String { trigger.name }
}

@Suite("Triggers")
struct TriggerTests {
  static let builtIns: [Trigger] = [
    .allSuccessful, .allFailed, .allFinished, .always, .anySuccessful, .anyFailed, .noneFailed,
  ]

  static let singleUpstreamRows: [SingleUpstreamRow] = [
    .init(trigger: .allSuccessful, passes: Kinds.successful),
    .init(trigger: .allFailed, passes: Kinds.failed),
    .init(trigger: .allFinished, passes: Kinds.finished),
    .init(trigger: .always, passes: Kinds.finished),
    .init(trigger: .anySuccessful, passes: Kinds.successful),
    .init(trigger: .anyFailed, passes: Kinds.failed),
    .init(
      trigger: .noneFailed, passes: Set(RunState.Kind.all).subtracting(Kinds.failed)),
  ]

  @Test func builtInNames() {
    #expect(
      Self.builtIns.map(\.name) == [
        "allSuccessful", "allFailed", "allFinished", "always", "anySuccessful", "anyFailed",
        "noneFailed",
      ])
    #expect(Trigger.manualOnly.name == "manualOnly")
    #expect(Trigger.allSuccessful.description == "allSuccessful")
  }

  @Test(arguments: singleUpstreamRows, RunState.Kind.all)
  func singleUpstreamDecision(row: SingleUpstreamRow, kind: RunState.Kind) throws {
    let decision = row.trigger.evaluate([upstream(kind)])
    if row.passes.contains(kind) {
      #expect(decision == .run)
    } else {
      let message = try #require(decision.failMessage)
      #expect(message.contains("Trigger was \"\(row.trigger.name)\""))
    }
  }

  @Test(arguments: builtIns)
  func emptyUpstreamAlwaysRuns(trigger: Trigger) {
    #expect(trigger.evaluate([]) == .run)
  }

  @Test func emptyUpstreamRunsForCountingTriggersToo() {
    let triggers: [Trigger] = [
      .someSuccessful(atLeast: 1), .someSuccessful(atLeast: 0.5), .someSuccessful(atMost: 0),
      .someFailed(atLeast: 3), .someFailed(atLeast: 0.9, atMost: 0.95),
    ]
    for trigger in triggers {
      #expect(trigger.evaluate([]) == .run, "\(trigger.name)")
    }
  }

  @Test func manualOnlyPausesEvenWithoutUpstream() throws {
    let message = try #require(Trigger.manualOnly.evaluate([]).pauseMessage)
    #expect(message.contains("\"manualOnly\""))
  }

  @Test(arguments: RunState.Kind.all)
  func manualOnlyPausesWhateverTheUpstream(kind: RunState.Kind) {
    let decision = Trigger.manualOnly.evaluate([upstream(kind), upstream(.success, "other")])
    #expect(decision.pauseMessage != nil)
    #expect(decision != .run)
  }

  // MARK: - Several upstream runs

  @Test func allSuccessfulNeedsEveryRunSuccessful() {
    let trigger = Trigger.allSuccessful
    #expect(trigger.evaluate(upstreams([.success, .cached, .mapped, .skipped])) == .run)
    #expect(trigger.evaluate(upstreams([.success, .success, .failed])).failMessage != nil)
    #expect(trigger.evaluate(upstreams([.success, .cancelled])).failMessage != nil)
  }

  @Test func allSuccessfulFailureMessage() {
    let decision = Trigger.allSuccessful.evaluate(upstreams([.success, .crashed]))
    #expect(
      decision
        == .fail(
          "Trigger was \"allSuccessful\" but some of the upstream tasks did not succeed: 't1' "
            + "(Crashed)."))
  }

  @Test func theMessageNamesUpTo5UpstreamTasksAndCountsTheRest() {
    let decision = Trigger.noneFailed.evaluate(upstreams(8, .failed, plus: 1, .success))
    #expect(
      decision.failMessage
        == "Trigger was \"noneFailed\" but some of the upstream tasks failed: 't0' (Failed), "
        + "'t1' (Failed), 't2' (Failed), 't3' (Failed), 't4' (Failed), and 3 more.")
  }

  @Test func allFailedNeedsEveryRunFailed() {
    let trigger = Trigger.allFailed
    #expect(trigger.evaluate(upstreams([.failed, .timedOut, .triggerFailed, .crashed])) == .run)
    #expect(trigger.evaluate(upstreams([.failed, .success])).failMessage != nil)
    #expect(trigger.evaluate(upstreams([.failed, .cancelled])).failMessage != nil)
  }

  @Test func allFinishedAndAlwaysNeedEveryRunFinished() {
    for trigger in [Trigger.allFinished, .always] {
      let finished = upstreams([.success, .failed, .skipped, .cancelled, .crashed, .cached])
      #expect(trigger.evaluate(finished) == .run)
      #expect(trigger.evaluate(upstreams([.success, .running])).failMessage != nil)
      #expect(trigger.evaluate(upstreams([.failed, .paused])).failMessage != nil)
    }
  }

  @Test func anySuccessfulNeedsOneSuccessfulRun() {
    let trigger = Trigger.anySuccessful
    #expect(trigger.evaluate(upstreams([.failed, .crashed, .skipped])) == .run)
    #expect(trigger.evaluate(upstreams([.failed, .cancelled, .crashed])).failMessage != nil)
  }

  @Test func anyFailedNeedsOneFailedRun() {
    let trigger = Trigger.anyFailed
    #expect(trigger.evaluate(upstreams([.success, .success, .timedOut])) == .run)
    #expect(trigger.evaluate(upstreams([.success, .cancelled, .skipped])).failMessage != nil)
  }

  @Test func noneFailedAcceptsSkipsAndCancellations() {
    let trigger = Trigger.noneFailed
    #expect(trigger.evaluate(upstreams([.success, .skipped, .cancelled])) == .run)
    #expect(trigger.evaluate(upstreams([.success, .success, .triggerFailed])).failMessage != nil)
  }

  @Test(arguments: builtIns)
  func failureMessagesQuoteTheTriggerName(trigger: Trigger) throws {
    // Every built-in refuses at least one of these lists.
    let lists = [
      upstreams([.success]), upstreams([.failed]), upstreams([.running]),
    ]
    let messages = lists.compactMap { trigger.evaluate($0).failMessage }
    try #require(!messages.isEmpty)
    for message in messages {
      #expect(message.hasPrefix("Trigger was \"\(trigger.name)\" but "))
    }
  }

  // MARK: - Custom triggers

  @Test func customTriggerSeesTheUpstreamStatesAndDecides() {
    let trigger = Trigger(name: "twoOrMore") { upstream in
      if upstream.count >= 2 { return .run }
      return upstream.isEmpty ? .pause("nothing yet") : .fail("only \(upstream[0].task)")
    }
    #expect(trigger.name == "twoOrMore")
    #expect(trigger.description == "twoOrMore")
    #expect(trigger.evaluate(upstreams([.failed, .failed])) == .run)
    #expect(trigger.evaluate([upstream(.success, "load")]) == .fail("only load"))
    #expect(trigger.evaluate([]) == .pause("nothing yet"))
  }

  @Test func customTriggerReceivesMapIndicesAndStates() {
    let trigger = Trigger(name: "secondChildFailed") { upstream in
      upstream.contains { $0.mapIndex == 1 && $0.state.isFailed } ? .run : .fail("no")
    }
    let children = [
      upstream(.success, "square", mapIndex: 0), upstream(.crashed, "square", mapIndex: 1),
    ]
    #expect(trigger.evaluate(children) == .run)
    #expect(trigger.evaluate([upstream(.crashed, "square", mapIndex: 0)]) == .fail("no"))
  }

  @Test func triggerDecisionEquality() {
    #expect(TriggerDecision.run == .run)
    #expect(TriggerDecision.fail("a") == .fail("a"))
    #expect(TriggerDecision.fail("a") != .fail("b"))
    #expect(TriggerDecision.fail("a") != .pause("a"))
  }
}

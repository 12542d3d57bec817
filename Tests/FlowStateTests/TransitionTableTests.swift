import FlowState
import Testing

/// The transition table of `StateTransitions.swift`, written out independently: for each kind,
/// every kind a run may move to (staying in the same unfinished kind included).
let expectedLegalTargets: [RunState.Kind: Set<RunState.Kind>] = [
  .pending: [
    .pending, .scheduled, .running, .cached, .mapped, .skipped, .triggerFailed, .paused,
    .failed, .crashed, .cancelled,
  ],
  .scheduled: [
    .scheduled, .pending, .running, .cached, .mapped, .skipped, .triggerFailed, .paused,
    .failed, .crashed, .cancelled,
  ],
  .running: [
    .running, .success, .mapped, .skipped, .retrying, .timedOut, .paused,
    .failed, .crashed, .cancelled,
  ],
  .retrying: [.retrying, .running, .failed, .crashed, .cancelled],
  .paused: [.paused, .pending, .scheduled, .running, .failed, .crashed, .cancelled],
  .success: [],
  .cached: [],
  .mapped: [],
  .skipped: [],
  .failed: [],
  .timedOut: [],
  .triggerFailed: [],
  .crashed: [.running],  // a cluster reschedules an attempt lost with its worker
  .cancelled: [],
]

@Suite("Transition table")
struct TransitionTableTests {
  @Test func theExpectedTableHasARowForEveryKind() {
    #expect(Set(expectedLegalTargets.keys) == Set(RunState.Kind.all))
  }

  @Test(arguments: RunState.Kind.all, RunState.Kind.all)
  func isLegalMatchesTheDocumentedTable(from: RunState.Kind, to: RunState.Kind) throws {
    let legal = try #require(expectedLegalTargets[from])
    #expect(StateTransitions.isLegal(from: from, to: to) == legal.contains(to))
  }

  @Test(arguments: RunState.Kind.all)
  func targetsListsTheLegalKindsInRawValueOrder(from: RunState.Kind) throws {
    let legal = try #require(expectedLegalTargets[from])
    let targets = StateTransitions.targets(from: from)
    #expect(Set(targets) == legal)
    #expect(targets.count == legal.count)
    #expect(targets.map(\.rawValue) == targets.map(\.rawValue).sorted())
  }

  @Test(arguments: RunState.Kind.all, RunState.Kind.all)
  func transitionAppliesLegalMovesAndRefusesIllegalOnes(from: RunState.Kind, to: RunState.Kind)
    throws
  {
    let legal = try #require(expectedLegalTargets[from]).contains(to)
    let current = RunState(from, message: "before")
    let next = RunState(to, message: "after")
    if legal {
      let moved = try current.transition(to: next)
      #expect(moved.kind == to)
      #expect(moved.message == "after")
    } else {
      let error = #expect(throws: IllegalTransitionError.self) {
        try current.transition(to: next, subject: "task")
      }
      #expect(error?.from == from)
      #expect(error?.to == to)
      #expect(error?.subject == "task")
    }
  }

  @Test(arguments: Array(Kinds.unfinished))
  func everyUnfinishedKindMayFailCrashOrBeCancelled(from: RunState.Kind) {
    for to in [RunState.Kind.failed, .crashed, .cancelled] {
      #expect(StateTransitions.isLegal(from: from, to: to))
    }
    #expect(StateTransitions.isLegal(from: from, to: from))
  }

  @Test(arguments: Array(Kinds.finished.subtracting([.crashed])))
  func aFinishedKindCannotMoveAnywhereNotEvenToItself(from: RunState.Kind) {
    #expect(StateTransitions.targets(from: from).isEmpty)
    #expect(throws: IllegalTransitionError.self) {
      try RunState(from).transition(to: RunState(from))
    }
  }

  @Test func aCrashedAttemptMayOnlyRunAgain() throws {
    #expect(StateTransitions.targets(from: .crashed) == [.running])
    #expect(throws: IllegalTransitionError.self) {
      try RunState(.crashed).transition(to: RunState(.crashed))
    }
    let restarted = try RunState(.crashed).transition(to: RunState(.running, message: "again"))
    #expect(restarted.kind == .running)
  }

  @Test func stayingRunningWithANewMessageIsLegal() throws {
    let running = RunState(.running, message: "attempt 1")
    let next = try running.transition(to: RunState(.running, message: "attempt 2"))
    #expect(next.kind == .running)
    #expect(next.message == "attempt 2")
  }

  @Test func transitionReturnsTheNextStateWithItsPayload() throws {
    let moved = try RunState.running.transition(to: .success(42, message: "done"))
    #expect(moved.kind == .success)
    #expect(moved.value(as: Int.self) == 42)
    #expect(moved.message == "done")
  }

  @Test func aTypicalRetryLifecycleIsLegal() throws {
    var state = RunState.pending
    for kind in [RunState.Kind.scheduled, .running, .retrying, .running, .success] {
      state = try state.transition(to: RunState(kind))
    }
    #expect(state.kind == .success)
  }

  @Test func aPausedRunResumesButCannotSucceedDirectly() throws {
    let paused = try RunState.pending.transition(to: RunState(.paused))
    #expect(throws: IllegalTransitionError.self) { try paused.transition(to: RunState(.success)) }
    let resumed = try paused.transition(to: .running)
    #expect(resumed.kind == .running)
  }
}

import FlowState
import Testing

/// The expected predicates of one kind, written out by hand from the documentation.
struct PredicateRow: Sendable, CustomTestStringConvertible {
  let kind: RunState.Kind
  let finished: Bool
  let successful: Bool
  let failed: Bool
  let pending: Bool

  var testDescription: String { kind.name }
}

@Suite("State predicates")
struct PredicateTests {
  static let rows: [PredicateRow] = [
    .init(kind: .pending, finished: false, successful: false, failed: false, pending: true),
    .init(kind: .scheduled, finished: false, successful: false, failed: false, pending: true),
    .init(kind: .running, finished: false, successful: false, failed: false, pending: false),
    .init(kind: .retrying, finished: false, successful: false, failed: false, pending: true),
    .init(kind: .success, finished: true, successful: true, failed: false, pending: false),
    .init(kind: .cached, finished: true, successful: true, failed: false, pending: false),
    .init(kind: .mapped, finished: true, successful: true, failed: false, pending: false),
    .init(kind: .skipped, finished: true, successful: true, failed: false, pending: false),
    .init(kind: .failed, finished: true, successful: false, failed: true, pending: false),
    .init(kind: .timedOut, finished: true, successful: false, failed: true, pending: false),
    .init(kind: .triggerFailed, finished: true, successful: false, failed: true, pending: false),
    .init(kind: .crashed, finished: true, successful: false, failed: true, pending: false),
    .init(kind: .cancelled, finished: true, successful: false, failed: false, pending: false),
    .init(kind: .paused, finished: false, successful: false, failed: false, pending: false),
  ]

  @Test func theTableCoversEveryKindOnce() {
    #expect(Self.rows.map(\.kind) == RunState.Kind.all)
  }

  @Test(arguments: rows)
  func kindPredicates(row: PredicateRow) {
    #expect(row.kind.isFinished == row.finished)
    #expect(row.kind.isSuccessful == row.successful)
    #expect(row.kind.isFailed == row.failed)
    #expect(row.kind.isPending == row.pending)
  }

  @Test(arguments: rows)
  func stateGroupPredicatesAgreeWithTheKind(row: PredicateRow) {
    let state = RunState(row.kind, message: "m")
    #expect(state.isFinished == row.finished)
    #expect(state.isSuccessful == row.successful)
    #expect(state.isFailed == row.failed)
    #expect(state.isPending == row.pending)
  }

  @Test(arguments: RunState.Kind.all)
  func singleKindPredicatesHoldForTheirKindOnly(kind: RunState.Kind) {
    let state = RunState(kind)
    #expect(state.isSkipped == (kind == .skipped))
    #expect(state.isCancelled == (kind == .cancelled))
    #expect(state.isCached == (kind == .cached))
    #expect(state.isMapped == (kind == .mapped))
    #expect(state.isRunning == (kind == .running))
    #expect(state.isPaused == (kind == .paused))
  }

  @Test(arguments: RunState.Kind.all)
  func successfulAndFailedAreExclusiveAndBothFinished(kind: RunState.Kind) {
    #expect(!(kind.isSuccessful && kind.isFailed))
    if kind.isSuccessful || kind.isFailed {
      #expect(kind.isFinished)
    }
    if kind.isPending {
      #expect(!kind.isFinished)
    }
  }

  @Test func cancelledIsFinishedButNeitherSuccessfulNorFailed() {
    let kind = RunState.Kind.cancelled
    #expect(kind.isFinished)
    #expect(!kind.isSuccessful)
    #expect(!kind.isFailed)
  }

  @Test func theHandWrittenGroupsMatchThePredicates() {
    let all = RunState.Kind.all
    #expect(Set(all.filter(\.isSuccessful)) == Kinds.successful)
    #expect(Set(all.filter(\.isFailed)) == Kinds.failed)
    #expect(Set(all.filter(\.isFinished)) == Kinds.finished)
    #expect(Set(all.filter(\.isPending)) == Kinds.pending)
    #expect(Set(all.filter { !$0.isFinished }) == Kinds.unfinished)
  }
}

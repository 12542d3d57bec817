import FlowState
import Testing

@Suite("FinalState.forFlow")
struct FinalStateTests {
  @Test func noReferenceTasksIsASuccess() {
    let state = FinalState.forFlow(referenceStates: [])
    #expect(state.kind == .success)
  }

  @Test func allSuccessfulKindsGiveSuccess() {
    let state = FinalState.forFlow(
      referenceStates: upstreams([.success, .cached, .mapped, .skipped]))
    #expect(state.kind == .success)
    #expect(state.message == "All reference tasks succeeded.")
  }

  @Test(arguments: Array(Kinds.successful))
  func eachSuccessfulKindAloneGivesSuccess(kind: RunState.Kind) {
    #expect(FinalState.forFlow(referenceStates: [upstream(kind)]).kind == .success)
  }

  @Test(arguments: Array(Kinds.failed))
  func anyFailedKindGivesFailed(kind: RunState.Kind) throws {
    let references = [
      upstream(.success, "extract"), upstream(kind, "transform"), upstream(.skipped, "load"),
    ]
    let state = FinalState.forFlow(referenceStates: references)
    #expect(state.kind == .failed)
    let message = try #require(state.message)
    #expect(message.contains("transform"))
    #expect(!message.contains("extract"))
    #expect(!message.contains("load"))
  }

  @Test func failedMessageListsEveryFailedLabelWithMapIndices() {
    let references = [
      upstream(.failed, "extract"),
      upstream(.success, "square", mapIndex: 0),
      upstream(.crashed, "square", mapIndex: 2),
      upstream(.success, "load"),
    ]
    let state = FinalState.forFlow(referenceStates: references)
    #expect(state.kind == .failed)
    #expect(state.message == "Some reference tasks failed: extract, square[2].")
  }

  @Test func failedWinsOverCancelledAndUnfinished() {
    let references = upstreams([.paused, .cancelled, .timedOut, .running])
    #expect(FinalState.forFlow(referenceStates: references).kind == .failed)
  }

  @Test func cancelledGivesCancelled() throws {
    let references = [upstream(.success, "extract"), upstream(.cancelled, "load")]
    let state = FinalState.forFlow(referenceStates: references)
    #expect(state.kind == .cancelled)
    let message = try #require(state.message)
    #expect(message.contains("load"))
    #expect(!message.contains("extract"))
  }

  @Test func cancelledWinsOverUnfinished() throws {
    let references = [
      upstream(.paused, "approve"), upstream(.cancelled, "load"), upstream(.pending, "report"),
    ]
    let state = FinalState.forFlow(referenceStates: references)
    #expect(state.kind == .cancelled)
    let message = try #require(state.message)
    #expect(message.contains("load"))
    #expect(!message.contains("approve"))
    #expect(!message.contains("report"))
  }

  @Test func pausedGivesPausedWithTheWaitingLabels() throws {
    let references = [upstream(.success, "extract"), upstream(.paused, "approve")]
    let state = FinalState.forFlow(referenceStates: references)
    #expect(state.kind == .paused)
    let message = try #require(state.message)
    #expect(message.contains("approve"))
    #expect(!message.contains("extract"))
  }

  @Test(arguments: [RunState.Kind.pending, .scheduled, .running, .retrying])
  func anUnfinishedReferenceMakesTheRunWait(kind: RunState.Kind) throws {
    let references = [upstream(.success, "extract"), upstream(kind, "square", mapIndex: 1)]
    let state = FinalState.forFlow(referenceStates: references)
    #expect(state.kind == .paused)
    let message = try #require(state.message)
    #expect(message.contains("square[1]"))
    #expect(!message.contains("extract"))
  }

  @Test func theFinalStateIsAlwaysFinishedOrPaused() {
    for kind in RunState.Kind.all {
      let state = FinalState.forFlow(referenceStates: [upstream(kind)])
      #expect(state.isFinished || state.isPaused, "\(kind)")
    }
  }

  @Test func labelShowsTheMapIndexWhenThereIsOne() {
    #expect(upstream(.success, "square").label == "square")
    #expect(upstream(.success, "square", mapIndex: 2).label == "square[2]")
    #expect(upstream(.success, "square", mapIndex: 0).label == "square[0]")
  }

  @Test func upstreamStateStoresItsFields() {
    let state = UpstreamState(task: "square", mapIndex: 3, state: .success(9))
    #expect(state.task == "square")
    #expect(state.mapIndex == 3)
    #expect(state.state.value(as: Int.self) == 9)
    #expect(UpstreamState(task: "load", state: .running).mapIndex == nil)
  }
}

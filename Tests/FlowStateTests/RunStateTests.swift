import FlowState
import Foundation
import Testing

private struct Boom: Error, CustomStringConvertible {
  var description: String { "boom!" }
}

@Suite("RunState")
struct RunStateTests {
  @Test func initDefaultsToNoPayload() {
    let state = RunState(.pending)
    #expect(state.kind == .pending)
    #expect(state.message == nil)
    #expect(state.error == nil)
    #expect(state.result == nil)
    #expect(state.scheduledAt == nil)
    #expect(!state.hasResult)
  }

  @Test func initStoresItsPayload() {
    let due = Date(timeIntervalSince1970: 1_000)
    let state = RunState(
      .retrying, message: "Retrying in 600s", error: Boom(), result: "partial", scheduledAt: due)
    #expect(state.kind == .retrying)
    #expect(state.message == "Retrying in 600s")
    #expect(state.error is Boom)
    #expect(state.value(as: String.self) == "partial")
    #expect(state.scheduledAt == due)
  }

  @Test func valueReturnsTheResultOfTheRightType() {
    let state = RunState.success(42)
    #expect(state.value(as: Int.self) == 42)
    let inferred: Int? = state.value()
    #expect(inferred == 42)
  }

  @Test func valueIsNilForAnotherType() {
    let state = RunState.success(42)
    #expect(state.value(as: String.self) == nil)
    #expect(state.value(as: Double.self) == nil)
  }

  @Test func valueIsNilWithoutAResult() {
    #expect(RunState(.success).value(as: Int.self) == nil)
    #expect(RunState.running.value(as: String.self) == nil)
  }

  @Test func valueKeepsCollections() {
    let state = RunState.success([1, 4, 9])
    #expect(state.value(as: [Int].self) == [1, 4, 9])
    #expect(state.value(as: [String].self) == nil)
  }

  @Test func aNilOutputCountsAsAResult() {
    let output: any Sendable = Int?.none
    let state = RunState(.success, result: output)
    #expect(state.hasResult)
    #expect(RunState.success(42).hasResult)
  }

  @Test func descriptionIsTheKindNameWithoutAMessage() {
    #expect(RunState(.success).description == "Success")
    #expect(RunState(.triggerFailed).description == "TriggerFailed")
    #expect("\(RunState.pending)" == "Pending")
  }

  @Test func descriptionQuotesTheMessage() {
    #expect(RunState(.failed, message: "boom").description == "Failed(\"boom\")")
    #expect(
      RunState(.retrying, message: "Retrying in 600s").description
        == "Retrying(\"Retrying in 600s\")")
    #expect(RunState(.skipped, message: "").description == "Skipped(\"\")")
  }

  @Test func successCarriesItsResultAndMessage() {
    let state = RunState.success("ok", message: "done")
    #expect(state.kind == .success)
    #expect(state.value(as: String.self) == "ok")
    #expect(state.message == "done")
    #expect(state.error == nil)
    #expect(RunState.success(1).message == nil)
  }

  @Test func failedCarriesTheErrorAndDescribesIt() {
    let state = RunState.failed(Boom())
    #expect(state.kind == .failed)
    #expect(state.error is Boom)
    #expect(state.message == "boom!")
    #expect(!state.hasResult)
    #expect(state.description == "Failed(\"boom!\")")
  }

  @Test func failedMessageCanBeOverridden() {
    let state = RunState.failed(Boom(), message: "the extract failed")
    #expect(state.message == "the extract failed")
    #expect(state.error is Boom)
  }

  @Test func pendingAndRunningShortcuts() {
    #expect(RunState.pending.kind == .pending)
    #expect(RunState.running.kind == .running)
    #expect(RunState.pending.message == nil)
    #expect(RunState.running.message == nil)
  }

  @Test func statesAreValues() {
    var state = RunState(.running, message: "first")
    let copy = state
    state.kind = .success
    state.message = "second"
    #expect(copy.kind == .running)
    #expect(copy.message == "first")
    #expect(state.description == "Success(\"second\")")
  }
}

import FlowState
import Testing

@Suite("RunState.Kind")
struct RunStateKindTests {
  private static let expectedNames = [
    "Pending", "Scheduled", "Running", "Retrying", "Success", "Cached", "Mapped", "Skipped",
    "Failed", "TimedOut", "TriggerFailed", "Crashed", "Cancelled", "Paused",
  ]

  @Test func allListsFourteenDistinctKindsInRawValueOrder() {
    let all = RunState.Kind.all
    #expect(all.count == 14)
    #expect(Set(all).count == 14)
    #expect(all.map(\.rawValue) == Array(0...13))
  }

  @Test func namesAreThePrefectNames() {
    #expect(RunState.Kind.all.map(\.name) == Self.expectedNames)
  }

  @Test func staticMembersMatchTheirNames() {
    let members: [(RunState.Kind, String)] = [
      (.pending, "Pending"), (.scheduled, "Scheduled"), (.running, "Running"),
      (.retrying, "Retrying"), (.success, "Success"), (.cached, "Cached"), (.mapped, "Mapped"),
      (.skipped, "Skipped"), (.failed, "Failed"), (.timedOut, "TimedOut"),
      (.triggerFailed, "TriggerFailed"), (.crashed, "Crashed"), (.cancelled, "Cancelled"),
      (.paused, "Paused"),
    ]
    for (kind, name) in members {
      #expect(kind.name == name)
    }
    #expect(Set(members.map(\.0)) == Set(RunState.Kind.all))
  }

  @Test(arguments: RunState.Kind.all)
  func descriptionIsTheName(kind: RunState.Kind) {
    #expect(kind.description == kind.name)
    #expect("\(kind)" == kind.name)
  }

  @Test func kindsAreEqualOnlyToThemselves() {
    #expect(RunState.Kind.success == .success)
    #expect(RunState.Kind.success != .skipped)
    #expect(RunState.Kind.failed != .triggerFailed)
  }
}

import FlowState
import Testing

@Suite("IllegalTransitionError")
struct IllegalTransitionErrorTests {
  /// The names after "may move to", or nil when the message has no such list.
  private func listedTargets(in message: String) -> Set<String>? {
    guard let range = message.range(of: "may move to ") else { return nil }
    return Set(message[range.upperBound...].components(separatedBy: ", "))
  }

  private static var illegalPairs: [(RunState.Kind, RunState.Kind)] {
    RunState.Kind.all.flatMap { from in
      RunState.Kind.all.filter { !(expectedLegalTargets[from] ?? []).contains($0) }
        .map { (from, $0) }
    }
  }

  @Test func thereAreIllegalPairsToCheck() {
    // 5 unfinished rows allow 11 + 11 + 10 + 5 + 7 kinds; of the 9 finished rows, Crashed
    // allows Running (a rescheduled attempt), the others none.
    #expect(Self.illegalPairs.count == 14 * 14 - 45)
  }

  @Test(arguments: illegalPairs)
  func messageNamesBothKinds(from: RunState.Kind, to: RunState.Kind) throws {
    let error = try #require(
      #expect(throws: IllegalTransitionError.self) {
        try RunState(from).transition(to: RunState(to))
      }
    )
    let message = error.description
    #expect(message.contains("\(from.name) → \(to.name)"))
    #expect(!message.hasPrefix("'"))
  }

  @Test(arguments: illegalPairs.filter { !$0.0.isFinished })
  func fromAnUnfinishedStateTheMessageListsTheLegalTargets(
    from: RunState.Kind, to: RunState.Kind
  ) throws {
    let message = IllegalTransitionError(from: from, to: to).description
    let listed = try #require(listedTargets(in: message))
    let expected = try #require(expectedLegalTargets[from]).subtracting([from])
    #expect(listed == Set(expected.map(\.name)))
    #expect(!message.contains("finished state"))
  }

  @Test(arguments: illegalPairs.filter { $0.0.isFinished && $0.0 != .crashed })
  func fromAFinishedStateTheMessageSaysItIsFinished(from: RunState.Kind, to: RunState.Kind) {
    let message = IllegalTransitionError(from: from, to: to).description
    #expect(message.contains("\(from.name) is a finished state"))
    #expect(message.contains("cannot change"))
    #expect(listedTargets(in: message) == nil)
  }

  @Test(arguments: illegalPairs.filter { $0.0 == .crashed })
  func fromCrashedTheMessageSaysOnlyARescheduledAttemptMovesIt(
    from: RunState.Kind, to: RunState.Kind
  ) {
    let message = IllegalTransitionError(from: from, to: to).description
    #expect(
      message.hasSuffix(
        "Crashed is a finished state; only a rescheduled attempt moves it, to Running"),
      "\(message)")
  }

  @Test func subjectIsQuotedAtTheStart() throws {
    let error = try #require(
      #expect(throws: IllegalTransitionError.self) {
        try RunState(.success).transition(to: .running, subject: "square")
      }
    )
    #expect(error.subject == "square")
    #expect(error.description.hasPrefix("'square': "))
    #expect(error.description.contains("Success → Running"))
  }

  @Test func exampleMessageFromRetrying() {
    let error = IllegalTransitionError(from: .retrying, to: .success)
    #expect(error.subject == nil)
    #expect(
      error.description
        == "illegal state transition Retrying → Success: "
        + "from Retrying a run may move to Running, Failed, Crashed, Cancelled")
  }

  @Test func initStoresItsFields() {
    let error = IllegalTransitionError(from: .cancelled, to: .pending, subject: "flow")
    #expect(error.from == .cancelled)
    #expect(error.to == .pending)
    #expect(error.subject == "flow")
  }
}

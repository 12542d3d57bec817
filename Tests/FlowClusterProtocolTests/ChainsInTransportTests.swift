import Testing

@testable import FlowClusterProtocol

/// A worker whose transport runs chains (``ClusterWorkerStateMachine/Configuration/chainsInTransport``):
/// conditional starts go to the transport as they arrive; the machine applies the same rule as
/// the transport (run after a success, on its output; never otherwise) when it learns each
/// outcome, so it still reports every attempt exactly once.
@Suite struct ChainsInTransportTests {
  static func worker(capacity: Int = 1) -> Worker {
    var worker = Worker(
      configuration: .init(name: "w", capacity: capacity, token: "x", chainsInTransport: true))
    _ = worker.handle(.connected)
    _ = worker.handle(.messagesReceived([.welcome(workerID: 4, heartbeatMilliseconds: 100)]))
    return worker
  }

  static let first = ClusterAssignment(taskID: 1, flow: "f", task: "t")
  static let second = ClusterAssignment(taskID: 2, flow: "f", task: "next", after: 1)
  static let third = ClusterAssignment(taskID: 3, flow: "f", task: "next", after: 2)

  static func results(_ actions: [Worker.Action]) -> [ClusterTaskResult] {
    actions.flatMap { action -> [ClusterTaskResult] in
      guard case .send(let messages) = action else { return [] }
      return messages.flatMap { message -> [ClusterTaskResult] in
        if case .results(let list) = message { list } else { [] }
      }
    }
  }

  @Test func conditionalStartsGoToTheTransportAsTheyArrive() {
    var worker = Self.worker()
    let actions = worker.handle(
      .messagesReceived([.assign([Self.first, Self.second, Self.third])]))
    #expect(actions == [.run(Self.first), .run(Self.second), .run(Self.third)])
    #expect(worker.runningCount == 3)
  }

  @Test func aChainReportsEveryLinkOnceAndNothingRunsTwice() {
    var worker = Self.worker()
    _ = worker.handle(.messagesReceived([.assign([Self.first, Self.second, Self.third])]))
    // The transport ran the links back to back; the machine starts nothing itself.
    var reported: [ClusterTaskResult] = []
    for id: ClusterTaskID in [1, 2, 3] {
      let actions = worker.handle(
        .taskFinished(ClusterTaskResult(taskID: id, outcome: .success([UInt8(id)]))))
      #expect(!actions.contains { if case .run = $0 { true } else { false } })
      reported += Self.results(actions)
    }
    #expect(reported.map(\.taskID) == [1, 2, 3])
    #expect(worker.runningCount == 0)
  }

  @Test func aFailedLinkEndsTheRestNotRun() {
    var worker = Self.worker()
    _ = worker.handle(.messagesReceived([.assign([Self.first, Self.second, Self.third])]))
    let failed = ClusterTaskResult(taskID: 1, outcome: .failure(code: "taskFailed", message: "x"))
    let results = Self.results(worker.handle(.taskFinished(failed)))
    #expect(results.first == failed)
    #expect(ConditionalStartTests.notRun(results) == [2, 3])
    #expect(worker.runningCount == 0)
  }

  @Test func cancellingALinkTellsTheTransportAndEndsWhatRunsAfterItNotRun() {
    var worker = Self.worker()
    _ = worker.handle(.messagesReceived([.assign([Self.first, Self.second, Self.third])]))
    let actions = worker.handle(.messagesReceived([.cancel([2])]))
    #expect(actions.first == .cancel([2]))
    #expect(ConditionalStartTests.notRun(Self.results(actions)) == [3])
    #expect(worker.runningCount == 1)
    // The first still reports; nothing runs after it any more.
    let last = worker.handle(.taskFinished(ClusterTaskResult(taskID: 1, outcome: .success([]))))
    #expect(Self.results(last).map(\.taskID) == [1])
    #expect(worker.runningCount == 0)
  }

  @Test func aDrainFinishesHandedChainsInsteadOfHandingThemBack() {
    var worker = Self.worker()
    _ = worker.handle(.messagesReceived([.assign([Self.first, Self.second])]))
    #expect(worker.handle(.drainRequested).first == .send([.draining]))
    _ = worker.handle(.taskFinished(ClusterTaskResult(taskID: 1, outcome: .success([]))))
    let actions = worker.handle(
      .taskFinished(ClusterTaskResult(taskID: 2, outcome: .success([]))))
    #expect(actions.contains(.send([.goodbye(reason: "drained")])))
  }

  @Test func aLostConnectionCancelsHandedLinksWithTheStartedOnes() {
    var worker = Self.worker()
    _ = worker.handle(.messagesReceived([.assign([Self.first, Self.second])]))
    #expect(worker.handle(.connectionLost).first == .cancel([1, 2]))
  }
}

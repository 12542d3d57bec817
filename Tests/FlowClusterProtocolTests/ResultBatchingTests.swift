import Testing

@testable import FlowClusterProtocol

@Suite("worker: results of short tasks travel together, within a delay")
struct ResultBatchingTests {
  static func batchingWorker(capacity: Int = 1, batch: Int = 3) -> Worker {
    var worker = Worker(
      configuration: .init(
        name: "w", capacity: capacity, resultBatch: batch, resultDelay: .microseconds(500)))
    _ = worker.handle(.connected)
    _ = worker.handle(.messagesReceived([.welcome(workerID: 4, heartbeatMilliseconds: 100)]))
    return worker
  }

  static func assignment(_ id: ClusterTaskID) -> ClusterAssignment {
    ClusterAssignment(taskID: id, flow: "f", task: "t")
  }

  static func result(_ id: ClusterTaskID) -> ClusterTaskResult {
    ClusterTaskResult(taskID: id, outcome: .success([]))
  }

  @Test func resultsWaitForABatchWhileMoreWorkIsQueued() {
    var worker = Self.batchingWorker()
    _ = worker.handle(.messagesReceived([.assign((1...5).map(Self.assignment))]))
    // The first result waits (a timer bounds how long); the next attempt starts at once.
    #expect(
      worker.handle(.taskFinished(Self.result(1))) == [
        .startTimer(.sendResults, after: .microseconds(500)), .run(Self.assignment(2)),
      ])
    #expect(worker.handle(.taskFinished(Self.result(2))) == [.run(Self.assignment(3))])
    // The third fills the batch: all three go in one message.
    #expect(
      worker.handle(.taskFinished(Self.result(3))) == [
        .send([.results([Self.result(1), Self.result(2), Self.result(3)])]),
        .run(Self.assignment(4)),
      ])
    // The timer sends what is held when it fires, and nothing when nothing is.
    _ = worker.handle(.taskFinished(Self.result(4)))
    #expect(worker.handle(.timerFired(.sendResults)) == [.send([.results([Self.result(4)])])])
    #expect(worker.handle(.timerFired(.sendResults)).isEmpty)
  }

  @Test func theLastAcceptedAttemptsResultNeverWaits() {
    var worker = Self.batchingWorker()
    _ = worker.handle(.messagesReceived([.assign([Self.assignment(1), Self.assignment(2)])]))
    _ = worker.handle(.taskFinished(Self.result(1)))
    // Nothing else to run: 1 and 2 go now (a chain's successor is not held up).
    let actions = worker.handle(.taskFinished(Self.result(2)))
    #expect(actions == [.send([.results([Self.result(1), Self.result(2)])])])
  }

  @Test func aDrainSendsHeldResultsFirst() {
    var worker = Self.batchingWorker(capacity: 1, batch: 8)
    _ = worker.handle(.messagesReceived([.assign((1...3).map(Self.assignment))]))
    _ = worker.handle(.taskFinished(Self.result(1)))
    let actions = worker.handle(.drainRequested)
    #expect(actions.first == .send([.results([Self.result(1)])]))
    #expect(actions.contains(.send([.draining, .handBack([3])])))
  }

  @Test func aCancelThatLeavesNothingRunningSendsHeldResults() {
    var worker = Self.batchingWorker(capacity: 1, batch: 8)
    _ = worker.handle(.messagesReceived([.assign((1...2).map(Self.assignment))]))
    _ = worker.handle(.taskFinished(Self.result(1)))
    let actions = worker.handle(.messagesReceived([.cancel([2])]))
    #expect(actions == [.cancel([2]), .send([.results([Self.result(1)])])])
  }
}

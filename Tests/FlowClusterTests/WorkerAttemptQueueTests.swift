import FlowClusterProtocol
import Testing

@testable import FlowCluster

@Suite("WorkerAttemptQueue: runners on slots, parked runners, results handed over together")
struct WorkerAttemptQueueTests {
  static func entry(_ id: ClusterTaskID) -> WorkerAttemptQueue.Entry {
    WorkerAttemptQueue.Entry(
      assignment: ClusterAssignment(taskID: id, flow: "f", task: "t"), run: nil, parameters: [:],
      load: nil)
  }

  @Test("runners start on free slots only while attempts wait; one runs them back to back")
  func slotsAndOrder() async {
    let queue = WorkerAttemptQueue(threads: 2)
    #expect(queue.add([Self.entry(1)]) == [0])
    #expect(queue.add([Self.entry(2), Self.entry(3)]) == [1])
    #expect(queue.add([Self.entry(4)]).isEmpty)  // both slots have runners
    var ran: [ClusterTaskID] = []
    var finishedOne = false
    for _ in 0..<4 {
      guard let (entry, running) = await queue.next(finishedOne: finishedOne) else { break }
      #expect(running == 1)
      ran.append(entry.assignment.taskID)
      finishedOne = true
    }
    #expect(ran == [1, 2, 3, 4])
  }

  @Test("a parked runner gets the next attempt from add; close ends it; drops skip cancelled")
  func parkedRunner() async {
    let queue = WorkerAttemptQueue(threads: 1)
    #expect(queue.add([Self.entry(1), Self.entry(2)]) == [0])
    queue.drop([1])
    let first = await queue.next(finishedOne: false)
    #expect(first?.entry.assignment.taskID == 2)
    // The runner parks (nothing waits; or it finds the attempt if it comes first), and takes
    // what is added without a new runner.
    async let parked = queue.next(finishedOne: true)
    #expect(queue.add([Self.entry(3)]).isEmpty)
    let third = await parked
    #expect(third?.entry.assignment.taskID == 3)
    async let ended = queue.next(finishedOne: true)
    queue.close()
    let last = await ended
    #expect(last == nil)
  }

  @Test("results wait for one hand-over: only the first of a batch asks for it")
  func handOver() {
    let queue = WorkerAttemptQueue(threads: 1)
    #expect(queue.finished(ClusterTaskResult(taskID: 1, outcome: .success([]))))
    #expect(!queue.finished(ClusterTaskResult(taskID: 2, outcome: .success([]))))
    #expect(queue.takeResults().map(\.taskID) == [1, 2])
    #expect(queue.finished(ClusterTaskResult(taskID: 3, outcome: .success([]))))
  }
}

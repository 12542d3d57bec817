import FlowClusterProtocol
import Testing

@testable import FlowCluster

@Suite("WorkerAttemptQueue: a chain's links run back to back on one slot")
struct WorkerAttemptQueueChainTests {
  static func entry(_ id: ClusterTaskID, after: ClusterTaskID? = nil) -> WorkerAttemptQueue.Entry {
    WorkerAttemptQueue.Entry(
      assignment: ClusterAssignment(taskID: id, flow: "f", task: "t", after: after), run: nil,
      parameters: [:], load: nil)
  }

  static func success(_ id: ClusterTaskID, _ byte: UInt8) -> ClusterTaskResult {
    ClusterTaskResult(taskID: id, outcome: .success([byte]))
  }

  @Test("the runner that ran an attempt gets its follower at once, on its output")
  func followerOnTheSameSlot() async {
    let queue = WorkerAttemptQueue(threads: 1)
    #expect(queue.add([Self.entry(1), Self.entry(2, after: 1), Self.entry(3, after: 2)]) == [0])
    let first = await queue.next(finishedOne: false)
    #expect(first?.entry.assignment.taskID == 1)
    let (handOver, second) = queue.finish(Self.success(1, 7))
    #expect(handOver)
    #expect(second?.assignment.taskID == 2)
    #expect(second?.assignment.inputs == [[7]])
    let (again, third) = queue.finish(Self.success(2, 8))
    #expect(!again)  // one hand-over for both results
    #expect(third?.assignment.inputs == [[8]])
    #expect(queue.finish(Self.success(3, 9)).next == nil)
    #expect(queue.takeResults().map(\.taskID) == [1, 2, 3])
  }

  @Test("a failed attempt's followers never run")
  func failureDropsTheChain() {
    let queue = WorkerAttemptQueue(threads: 1)
    _ = queue.add([Self.entry(1), Self.entry(2, after: 1), Self.entry(3, after: 2)])
    let failed = ClusterTaskResult(taskID: 1, outcome: .failure(code: "taskFailed", message: "x"))
    #expect(queue.finish(failed).next == nil)
    #expect(queue.finish(Self.success(2, 1)).next == nil)  // 3 was dropped with 2
  }

  @Test("a follower that arrives after its upstream finished runs first in line, or not at all")
  func armedAfterTheUpstreamFinished() async {
    let queue = WorkerAttemptQueue(threads: 1)
    _ = queue.add([Self.entry(1), Self.entry(5)])
    _ = await queue.next(finishedOne: false)
    _ = queue.finish(Self.success(1, 4))
    _ = await queue.next(finishedOne: true)
    _ = queue.finish(ClusterTaskResult(taskID: 5, outcome: .failure(code: "x", message: "x")))
    // Both results still wait for the hand-over when the followers arrive.
    _ = queue.add([Self.entry(2, after: 1), Self.entry(6, after: 5), Self.entry(7, after: 6)])
    let next = await queue.next(finishedOne: true)
    #expect(next?.entry.assignment.taskID == 2)
    #expect(next?.entry.assignment.inputs == [[4]])
    // 6 was dropped (its upstream failed), and 7 with it.
    #expect(queue.finish(Self.success(6, 1)).next == nil)
    #expect(queue.takeResults().map(\.taskID) == [1, 5, 6])
  }

  @Test("cancelling an attempt drops what runs after it; cancelling a link drops the rest")
  func cancelDropsChains() {
    let queue = WorkerAttemptQueue(threads: 1)
    _ = queue.add([Self.entry(1), Self.entry(2, after: 1), Self.entry(3, after: 2)])
    queue.drop([2])
    #expect(queue.finish(Self.success(1, 1)).next == nil)
    #expect(queue.finish(Self.success(2, 1)).next == nil)
    let other = WorkerAttemptQueue(threads: 1)
    _ = other.add([Self.entry(1), Self.entry(2, after: 1)])
    other.drop([1])
    #expect(other.finish(Self.success(1, 1)).next == nil)
  }
}

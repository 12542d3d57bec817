import FlowClusterProtocol
import Foundation
import Synchronization
import Testing

@testable import FlowCluster

@Suite("WorkerAttemptQueue: results of short bodies go to the event loop together, within a bound")
struct WorkerAttemptQueueHoldTests {
  static func entry(_ id: ClusterTaskID, task: String = "t") -> WorkerAttemptQueue.Entry {
    WorkerAttemptQueue.Entry(
      assignment: ClusterAssignment(taskID: id, flow: "f", task: task), run: nil,
      parameters: [:], load: nil)
  }

  static func ran(
    _ id: ClusterTaskID, seconds: Double = 0.000_001, at: Double = 0, task: String = "t"
  ) -> WorkerAttemptQueue.Ran {
    WorkerAttemptQueue.Ran(
      assignment: entry(id, task: task).assignment, seconds: seconds,
      ended: Date(timeIntervalSince1970: 1_000 + at))
  }

  static func result(_ id: ClusterTaskID) -> ClusterTaskResult {
    ClusterTaskResult(taskID: id, outcome: .success([]))
  }

  @Test("held while the next in line is of the same task; handed over when none is")
  func heldWhileMoreOfTheTaskWait() async {
    let queue = WorkerAttemptQueue(threads: 1)
    _ = queue.add((1...3).map { Self.entry($0) })
    _ = await queue.next(finishedOne: false)
    #expect(!queue.finish(Self.result(1), ran: Self.ran(1)).handOver)
    _ = await queue.next(finishedOne: true)
    #expect(!queue.finish(Self.result(2), ran: Self.ran(2)).handOver)
    _ = await queue.next(finishedOne: true)
    #expect(queue.finish(Self.result(3), ran: Self.ran(3)).handOver)  // nothing waits
    #expect(queue.takeResults().map(\.taskID) == [1, 2, 3])
  }

  @Test("a long body, another task next, a full batch or an old result hand over at once")
  func bounds() async {
    let queue = WorkerAttemptQueue(threads: 1)
    _ = queue.add([Self.entry(1), Self.entry(2), Self.entry(3, task: "other")])
    _ = await queue.next(finishedOne: false)
    #expect(queue.finish(Self.result(1), ran: Self.ran(1, seconds: 0.01)).handOver)
    _ = queue.takeResults()
    _ = await queue.next(finishedOne: true)
    #expect(queue.finish(Self.result(2), ran: Self.ran(2)).handOver)  // "other" is next
    _ = queue.takeResults()
    let many = WorkerAttemptQueue(threads: 1)
    _ = many.add((1...100).map { Self.entry($0) })
    var handedAt: Int?
    for id in 1...100 {
      _ = await many.next(finishedOne: id > 1)
      if many.finish(Self.result(ClusterTaskID(id)), ran: Self.ran(ClusterTaskID(id))).handOver {
        handedAt = id
        break
      }
    }
    #expect(handedAt == WorkerAttemptQueue.holdBatch)
    let old = WorkerAttemptQueue(threads: 1)
    _ = old.add((1...3).map { Self.entry($0) })
    _ = await old.next(finishedOne: false)
    #expect(!old.finish(Self.result(1), ran: Self.ran(1, at: 0)).handOver)
    _ = await old.next(finishedOne: true)
    let late = WorkerAttemptQueue.holdDelay * 2
    #expect(old.finish(Self.result(2), ran: Self.ran(2, at: late)).handOver)
  }

  @Test("a runner that parks with results held hands them over first")
  func parkingHandsOver() async {
    let queue = WorkerAttemptQueue(threads: 2)
    _ = queue.add([Self.entry(1), Self.entry(2)])
    _ = await queue.next(finishedOne: false)
    #expect(!queue.finish(Self.result(1), ran: Self.ran(1)).handOver)  // 2 waits
    _ = await queue.next(finishedOne: false)  // another runner took 2
    let calls = Mutex(0)
    async let parked = queue.next(finishedOne: true, handOver: { calls.withLock { $0 += 1 } })
    while calls.withLock({ $0 }) == 0 { await Task.yield() }
    #expect(queue.takeResults().map(\.taskID) == [1])
    queue.close()
    #expect(await parked == nil)
  }
}

import Testing

@testable import FlowClusterProtocol

@Suite("a worker's queues stay bounded while they are refilled before they run empty")
struct QueueCompactionTests {
  /// The pattern of a busy worker: a window of 128 attempts, refilled by 64 whenever half of it
  /// was taken, so the queue is never empty. Before compaction, taken entries stayed at the
  /// front for ever: the array grew by one entry per attempt run.
  @Test func refilledQueueStaysBounded() {
    var queue = Array(0..<128)
    var head = 0
    var taken: [Int] = []
    var next = 128
    var longest = 0
    for _ in 0..<100_000 {
      taken.append(queue[head])
      head += 1
      ClusterQueueCompaction.dropTaken(&queue, head: &head)
      if queue.count - head <= 64 {
        queue.append(contentsOf: next..<(next + 64))
        next += 64
      }
      longest = max(longest, queue.count)
    }
    #expect(longest <= 2 * 128 + ClusterQueueCompaction.minimumTaken)
    // Every entry came out once, in order.
    #expect(taken == Array(0..<100_000))
  }

  @Test func drainedQueueEmpties() {
    var queue = [1, 2, 3]
    var head = 3
    ClusterQueueCompaction.dropTaken(&queue, head: &head)
    #expect(queue.isEmpty && head == 0)
  }

  @Test func fewTakenEntriesStay() {
    var queue = Array(0..<100)
    var head = 10
    ClusterQueueCompaction.dropTaken(&queue, head: &head)
    #expect(queue.count == 100 && head == 10)
  }
}

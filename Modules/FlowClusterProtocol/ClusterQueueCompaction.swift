/// Keeps a queue held as an array and a head index (the entries before it were taken) from
/// growing for ever: a worker whose queue is refilled before it runs empty never sees it empty.
package enum ClusterQueueCompaction {
  /// The fewest taken entries worth moving the rest for.
  static let minimumTaken = 64

  /// Drops the entries of `queue` before `head` once they are all of it, or at least half of it
  /// (and a few): each entry is moved at most about once, so taking stays O(1) amortized.
  package static func dropTaken<Element>(_ queue: inout [Element], head: inout Int) {
    if head == queue.count {
      queue.removeAll(keepingCapacity: true)
      head = 0
    } else if head >= minimumTaken, head * 2 >= queue.count {
      queue.removeSubrange(0..<head)
      head = 0
    }
  }
}

import FlowClusterProtocol
import Synchronization

/// The running attempts of tasks with a timeout, each with a way to cancel its body alone, and
/// the hard-timeout rule: an attempt cancelled at its deadline whose body is still running after
/// a grace period gets its worker process replaced. Shared by the task loop (which starts and
/// ends attempts) and the event loop (which learns of cancellations), under a lock: the check
/// must not depend on the cooperative threads a stuck body may be holding.
final class AttemptStops: Sendable {
  private struct State {
    var stops: [ClusterTaskID: AsyncStream<Void>.Continuation] = [:]
    var cancelled: Set<ClusterTaskID> = []
  }
  private let state = Mutex(State())

  /// Registers a starting attempt; its body stops when the returned stream yields.
  func started(_ id: ClusterTaskID) -> AsyncStream<Void> {
    let (signal, continuation) = AsyncStream.makeStream(of: Void.self)
    state.withLock { $0.stops[id] = continuation }
    return signal
  }

  /// The attempt's body returned.
  func ended(_ id: ClusterTaskID) {
    let stop = state.withLock {
      $0.cancelled.remove(id)
      return $0.stops.removeValue(forKey: id)
    }
    stop?.finish()
  }

  /// Cancels the attempt's body; false when the attempt is not one of these (or has ended).
  func cancel(_ id: ClusterTaskID) -> Bool {
    let stop = state.withLock {
      let stop = $0.stops.removeValue(forKey: id)
      if stop != nil { $0.cancelled.insert(id) }
      return stop
    }
    guard let stop else { return false }
    stop.yield()
    stop.finish()
    return true
  }

  /// True while a cancelled attempt's body has not returned.
  func isStuck(_ id: ClusterTaskID) -> Bool { state.withLock { $0.cancelled.contains(id) } }
}

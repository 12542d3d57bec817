import FlowCore
import Foundation
import Synchronization

/// An agent's group commit: the fenced writes (and releases) of all the runs it holds go to the
/// store together, in one transaction per flush (``DeploymentStore/write(_:now:)``), each
/// accepted or fenced off on its own.
///
/// No thread of its own: the first writer to find no flush under way writes everything
/// waiting, then hands the next flush to a writer that arrived meanwhile. An idle agent's
/// write goes out at once; a busy agent's writes share transactions.
public final class FencedWriteQueue: Sendable {
  private enum Wake {
    case done(RunStoreError?)
    case lead
  }

  private struct Waiting {
    let id: Int
    let write: FencedWrite
    let continuation: CheckedContinuation<Wake, Never>
  }

  private struct State {
    var waiting: [Waiting] = []
    var flushing = false
    var nextID = 0
    var flushes = 0
  }

  private let store: any DeploymentStore
  private let clock: any WallClock
  private let maximumRecords: Int
  private let state = Mutex(State())

  /// Writes into `store`, judging leases at `clock`'s time; a flush carries at most
  /// `maximumRecords` records (at least one write).
  public init(store: any DeploymentStore, clock: any WallClock, maximumRecords: Int = 20_000) {
    self.store = store
    self.clock = clock
    self.maximumRecords = max(1, maximumRecords)
  }

  /// How many transactions the queue has sent (for tests and benchmarks).
  package var flushes: Int { state.withLock { $0.flushes } }

  /// Writes `write` with the others waiting; returns nil once written, or the error that
  /// refused it (``RunStoreError/Code/staleLease`` when its lease is no longer current).
  public func submit(_ write: FencedWrite) async -> RunStoreError? {
    let wake = await withCheckedContinuation { (continuation: CheckedContinuation<Wake, Never>) in
      let lead = state.withLock { state -> Int? in
        state.nextID += 1
        state.waiting.append(
          Waiting(id: state.nextID, write: write, continuation: continuation))
        guard !state.flushing else { return nil }
        state.flushing = true
        return state.nextID
      }
      if lead != nil { continuation.resume(returning: .lead) }
    }
    switch wake {
    case .done(let result):
      return result
    case .lead:
      return await lead()
    }
  }

  /// Flushes what waits (this writer's own write among it) and returns this writer's result;
  /// hands the next flush on to a writer still waiting.
  private func lead() async -> RunStoreError? {
    // The leader's own write is the first one waiting that was not yet resumed: it is the
    // oldest, since every older one was taken by an earlier flush.
    let batch = state.withLock { state -> [Waiting] in
      var taken: [Waiting] = []
      var records = 0
      var runs: Set<UUID> = []
      while let next = state.waiting.first {
        // A persisted output counts as one record per chunk of its value.
        let count =
          next.write.batch.count
          + next.write.results.reduce(0) {
            $0 + 1 + $1.result.payload.count / runResultChunkSize
          }
        // One write per run per flush (a run's writes stay in order), and bounded.
        if !taken.isEmpty, records + count > maximumRecords || runs.contains(next.write.lease.runID)
        {
          break
        }
        taken.append(next)
        records += count
        runs.insert(next.write.lease.runID)
        state.waiting.removeFirst()
      }
      state.flushes += 1
      return taken
    }
    let results = await write(batch.map(\.write))
    let next = state.withLock { state -> Waiting? in
      guard let first = state.waiting.first else {
        state.flushing = false
        return nil
      }
      return first
    }
    for (waiting, result) in zip(batch, results).dropFirst() {
      waiting.continuation.resume(returning: .done(result))
    }
    next?.continuation.resume(returning: .lead)
    return results.first ?? nil
  }

  /// Writes `writes` in one transaction; when the transaction fails as a whole and held more
  /// than one write, each is tried alone so that one run's bad record fails only that run.
  private func write(_ writes: [FencedWrite]) async -> [RunStoreError?] {
    do {
      return try await store.write(writes, now: clock.now())
    } catch {
      guard writes.count > 1 else { return [error] }
      var results: [RunStoreError?] = []
      for write in writes {
        do {
          results.append(try await store.write([write], now: clock.now()).first ?? nil)
        } catch {
          results.append(error)
        }
      }
      return results
    }
  }
}

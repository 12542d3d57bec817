import FlowCore
import Foundation

/// The store's rules for leases, as a value type: which runs an agent may claim, whose renewal
/// holds, and which writes are fenced off. The in-memory store and the simulator use it as it
/// is; the SQL stores implement the same rules in their statements, and the conformance suite
/// checks them against this.
///
/// Time is always the store's clock (`now`), never an agent's: agents' clocks may disagree.
public struct LeaseLedger: Sendable {
  /// A run as the ledger sees it.
  public struct Entry: Sendable, Equatable {
    /// When the run is due.
    public var scheduledAt: Date
    /// The current lease; nil while nobody holds the run.
    public var lease: RunLease?
    /// The highest epoch given out so far (0: never claimed).
    public var epoch: Int64
    /// How many times the run was taken over after its holder's lease expired.
    public var crashes: Int
    /// True once the run reached a final state (it is never claimed again).
    public var finished: Bool
  }

  /// What became of a run whose lease expired.
  public enum Expiry: Sendable, Equatable {
    /// Claimable again: its holder is presumed crashed (one more crash counted).
    case retried(crashes: Int)
    /// Past the crash-retry limit: the run is over, Crashed.
    case crashed(crashes: Int)
  }

  /// The runs by ID.
  public private(set) var entries: [UUID: Entry] = [:]
  /// How many times a run may be taken over after a crash before it ends Crashed.
  public let crashRetries: Int

  /// An empty ledger; a run is resumed after a crash up to `crashRetries` times.
  public init(crashRetries: Int = 3) {
    self.crashRetries = crashRetries
  }

  /// Adds a run due at `scheduledAt`; false when the ID is already there (idempotent create).
  @discardableResult
  public mutating func add(_ runID: UUID, scheduledAt: Date) -> Bool {
    guard entries[runID] == nil else { return false }
    entries[runID] = Entry(
      scheduledAt: scheduledAt, lease: nil, epoch: 0, crashes: 0, finished: false)
    return true
  }

  /// Releases every lease that has expired by `now`, returning what became of each run.
  public mutating func expire(now: Date) -> [UUID: Expiry] {
    var expired: [UUID: Expiry] = [:]
    for (id, entry) in entries where !entry.finished {
      guard let lease = entry.lease, lease.expiresAt <= now else { continue }
      var entry = entry
      entry.lease = nil
      entry.crashes += 1
      if entry.crashes > crashRetries {
        entry.finished = true
        expired[id] = .crashed(crashes: entry.crashes)
      } else {
        expired[id] = .retried(crashes: entry.crashes)
      }
      entries[id] = entry
    }
    return expired
  }

  /// Claims up to `limit` due, unheld, unfinished runs for `agent` (oldest due first, ties by
  /// ID), each with the next epoch and a lease of `duration` from `now`.
  public mutating func claim(agent: String, limit: Int, now: Date, duration: Duration)
    -> [RunLease]
  {
    guard limit > 0 else { return [] }
    let due = entries.filter {
      !$0.value.finished && $0.value.lease == nil && $0.value.scheduledAt <= now
    }
    .sorted {
      ($0.value.scheduledAt, $0.key.uuidString) < ($1.value.scheduledAt, $1.key.uuidString)
    }
    .prefix(limit)
    let expiry = now.addingTimeInterval(duration.timeInterval)
    return due.map { id, entry in
      var entry = entry
      entry.epoch += 1
      let lease = RunLease(runID: id, agentID: agent, epoch: entry.epoch, expiresAt: expiry)
      entry.lease = lease
      entries[id] = entry
      return lease
    }
  }

  /// Extends `lease` to `duration` from `now`; nil when it is no longer the run's current lease
  /// (expired and released, or taken over): the holder has lost the run.
  public mutating func renew(_ lease: RunLease, now: Date, duration: Duration) -> RunLease? {
    guard isCurrent(lease, now: now) else { return nil }
    let renewed = lease.renewed(until: now.addingTimeInterval(duration.timeInterval))
    entries[lease.runID]?.lease = renewed
    return renewed
  }

  /// Whether a write made under `lease` is accepted at `now`: it is the run's current lease,
  /// not expired, and the run is not finished.
  public func isCurrent(_ lease: RunLease, now: Date) -> Bool {
    guard let entry = entries[lease.runID], !entry.finished, let current = entry.lease else {
      return false
    }
    return current.epoch == lease.epoch && current.expiresAt > now
  }

  /// Ends the run under `lease` (its final state was written); false when the write is fenced.
  public mutating func finish(_ lease: RunLease, now: Date) -> Bool {
    guard isCurrent(lease, now: now) else { return false }
    entries[lease.runID]?.lease = nil
    entries[lease.runID]?.finished = true
    return true
  }

  /// Gives the run held under `lease` back unfinished (claimable again, no crash counted);
  /// false when the lease is no longer current.
  public mutating func giveBack(_ lease: RunLease, now: Date) -> Bool {
    guard isCurrent(lease, now: now) else { return false }
    entries[lease.runID]?.lease = nil
    return true
  }

  /// Ends a run nobody holds (cancelled before it started); false when it is held or finished.
  public mutating func finishUnheld(_ runID: UUID) -> Bool {
    guard let entry = entries[runID], !entry.finished, entry.lease == nil else { return false }
    entries[runID]?.finished = true
    return true
  }
}

import Foundation

/// An agent's claim on a flow run: who holds it, with which fencing epoch, until when.
///
/// Every write a run makes carries its lease's epoch; the store rejects a write whose epoch is
/// not the run's current one, so an agent that lost its lease (it paused, or was cut off) can
/// no longer change the run, whatever it still believes.
public struct RunLease: Sendable, Hashable, Codable, CustomStringConvertible {
  /// The flow run.
  public let runID: UUID
  /// The agent that holds it.
  public let agentID: String
  /// The fencing epoch: one more than the previous claim's on this run.
  public let epoch: Int64
  /// When the lease ends unless renewed, on the store's clock.
  public let expiresAt: Date

  /// Creates a lease.
  public init(runID: UUID, agentID: String, epoch: Int64, expiresAt: Date) {
    self.runID = runID
    self.agentID = agentID
    self.epoch = epoch
    self.expiresAt = expiresAt
  }

  /// The lease with a new expiry.
  public func renewed(until expiry: Date) -> RunLease {
    RunLease(runID: runID, agentID: agentID, epoch: epoch, expiresAt: expiry)
  }

  /// `run <id> epoch <n> held by <agent>`.
  public var description: String { "run \(runID) epoch \(epoch) held by \(agentID)" }
}

import Foundation

/// A run an agent claimed: the lease it holds and the run as the claim left it (so that the
/// agent need not read it again).
public struct ClaimedRun: Sendable, Equatable {
  /// The lease, with its fencing epoch.
  public var lease: RunLease
  /// The deployment run (state Running, held by the claiming agent).
  public var run: DeploymentRunRecord

  /// A claimed run.
  public init(lease: RunLease, run: DeploymentRunRecord) {
    self.lease = lease
    self.run = run
  }
}

/// One run's records written under its lease, and optionally the lease's release after them:
/// an agent's runs write many of these in one transaction
/// (``DeploymentStore/write(_:now:)``), each accepted or fenced off on its own.
public struct FencedWrite: Sendable, Equatable {
  /// The lease the records are written under.
  public var lease: RunLease
  /// The run's records (may be empty when only the release is written).
  public var batch: RunStoreBatch
  /// Gives the lease back after the records are written, when set.
  public var release: LeaseOutcome?
  /// Task outputs the run persisted (durable execution), written with its records.
  public var results: [RunResultRecord]

  /// Records `batch` and stores `results` under `lease`, then gives the lease back with
  /// `release` when set.
  public init(
    lease: RunLease, batch: RunStoreBatch = RunStoreBatch(), release: LeaseOutcome? = nil,
    results: [RunResultRecord] = []
  ) {
    self.lease = lease
    self.batch = batch
    self.release = release
    self.results = results
  }
}

/// Merges several runs' batches into one (one INSERT per table for all of them): a record
/// upserted twice keeps its last version, so that no statement touches a row twice.
package struct FencedBatchMerger {
  private struct TaskKey: Hashable {
    let run: UUID
    let slug: String
    let mapIndex: Int
  }

  /// The merged batch.
  package private(set) var batch = RunStoreBatch()
  private var flows: Set<FlowKey> = []
  private var flowRuns: [UUID: Int] = [:]
  private var taskRuns: [TaskKey: Int] = [:]
  private var heartbeats: [UUID: Int] = [:]

  /// An empty merge.
  package init() {}

  /// Adds `other`'s records after the ones merged so far.
  package mutating func add(_ other: RunStoreBatch) {
    for flow in other.flows
    where flows.insert(FlowKey(name: flow.name, version: flow.version))
      .inserted
    {
      batch.flows.append(flow)
    }
    for run in other.flowRuns {
      if let index = flowRuns[run.id] {
        batch.flowRuns[index] = run
      } else {
        flowRuns[run.id] = batch.flowRuns.count
        batch.flowRuns.append(run)
      }
    }
    for run in other.taskRuns {
      let key = TaskKey(run: run.flowRunID, slug: run.slug, mapIndex: run.mapIndex)
      if let index = taskRuns[key] {
        batch.taskRuns[index] = run
      } else {
        taskRuns[key] = batch.taskRuns.count
        batch.taskRuns.append(run)
      }
    }
    for beat in other.heartbeats {
      if let index = heartbeats[beat.flowRunID] {
        if batch.heartbeats[index].time < beat.time { batch.heartbeats[index] = beat }
      } else {
        heartbeats[beat.flowRunID] = batch.heartbeats.count
        batch.heartbeats.append(beat)
      }
    }
    batch.transitions += other.transitions
    batch.logs += other.logs
    batch.events += other.events
  }
}

import FlowCore
import Foundation

extension MemoryRunStore: RunStoreDashboard {
  /// Runs started per interval since an instant, by reported state.
  public func runCounts(since: Date, bucket: Duration, staleBefore: Date)
    async throws(RunStoreError) -> [RunStateCount]
  {
    try tables.withLock { (tables) throws(RunStoreError) in
      try migrated(tables)
      let origin = RunStoreCoding.micros(since)
      let width = max(Int64((bucket.timeInterval * 1_000_000).rounded()), 1)
      var counts: [String: RunStateCount] = [:]
      for run in tables.flowRuns.values where run.startedAt >= since {
        let index = Int((RunStoreCoding.micros(run.startedAt) - origin) / width)
        let state = RunStoreReading.reported(run, staleBefore: staleBefore).state
        counts["\(index) \(state)", default: RunStateCount(bucket: index, state: state, count: 0)]
          .count += 1
      }
      return counts.values.sorted { ($0.bucket, $0.state) < ($1.bucket, $1.state) }
    }
  }

  /// The agents of the lease history.
  public func agents(now: Date) async throws(RunStoreError) -> [AgentSummary] {
    try tables.withLock { (tables) throws(RunStoreError) in
      try migrated(tables)
      return AgentSummary.summaries(
        tables.deployments.leases.values.flatMap { $0 }, now: now)
    }
  }
}

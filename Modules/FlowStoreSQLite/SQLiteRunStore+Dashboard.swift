import FlowCore
import Foundation

extension SQLiteRunStore: RunStoreDashboard {
  /// Runs started per interval since an instant, by reported state.
  public func runCounts(since: Date, bucket: Duration, staleBefore: Date)
    async throws(RunStoreError) -> [RunStateCount]
  {
    let statement = RunStoreSQL(placeholder: { "?\($0)" }).runCounts(
      since: since, bucket: bucket, staleBefore: staleBefore
    ) { "?\($0)" }
    return try await query(statement).compactMap(RunStoreSQL.runStateCount)
  }

  /// The agents of the lease history.
  public func agents(now: Date) async throws(RunStoreError) -> [AgentSummary] {
    let statement = RunStoreSQL(placeholder: { "?\($0)" }).agents(now: now) { "?\($0)" }
    return try await query(statement).compactMap(RunStoreSQL.agentSummary)
  }
}

import Foundation

/// The aggregate reads of the server's dashboard: how many runs started in each interval by
/// state, and the agents seen in the lease history with what they hold.
public protocol RunStoreDashboard: RunStoreBrowsing {
  /// How many runs started in each `bucket`-long interval from `since` on, by state as readers
  /// see it (a Running run whose heartbeat is before `staleBefore` counts as Crashed).
  func runCounts(since: Date, bucket: Duration, staleBefore: Date)
    async throws(RunStoreError) -> [RunStateCount]
  /// Every agent that ever claimed a run, by ID, with its leases as of `now`.
  func agents(now: Date) async throws(RunStoreError) -> [AgentSummary]
}

/// How many runs started in one interval ended up (or are) in one state.
public struct RunStateCount: Sendable, Equatable, Codable {
  /// The interval's number from the query's `since` (0 is the first).
  public var bucket: Int
  /// The state's name.
  public var state: String
  /// How many runs.
  public var count: Int

  /// Creates a count.
  public init(bucket: Int, state: String, count: Int) {
    self.bucket = bucket
    self.state = state
    self.count = count
  }
}

/// An agent as its leases show it: an agent renews the leases of the runs it works on, so a
/// lease held and unexpired is its heartbeat; a lease it neither renewed nor released was
/// lost (the agent died or lost the database).
public struct AgentSummary: Sendable, Equatable, Codable {
  /// The agent's ID.
  public var agentID: String
  /// How many leases it ever took.
  public var leases: Int
  /// How many it holds now (unexpired, not released).
  public var held: Int
  /// How many it let expire without releasing them.
  public var lost: Int
  /// Its first claim.
  public var firstClaimAt: Date
  /// Its latest claim.
  public var lastClaimAt: Date
  /// Its latest release, if any.
  public var lastReleaseAt: Date?
  /// The latest expiry of the leases it holds (it renewed them up to this): nil when it holds
  /// none.
  public var heldUntil: Date?
  /// The latest expiry of a lease it lost, if any.
  public var lastLostAt: Date?

  /// Creates a summary.
  public init(
    agentID: String, leases: Int, held: Int, lost: Int, firstClaimAt: Date, lastClaimAt: Date,
    lastReleaseAt: Date?, heldUntil: Date?, lastLostAt: Date?
  ) {
    self.agentID = agentID
    self.leases = leases
    self.held = held
    self.lost = lost
    self.firstClaimAt = firstClaimAt
    self.lastClaimAt = lastClaimAt
    self.lastReleaseAt = lastReleaseAt
    self.heldUntil = heldUntil
    self.lastLostAt = lastLostAt
  }

  /// Its latest sign of life: a claim, a release, or a lease it keeps renewing.
  public var lastSeenAt: Date {
    max(lastClaimAt, lastReleaseAt ?? .distantPast)
  }

  /// `Active` (holds leases it renews), `Unresponsive` (its latest lease expired unreleased
  /// after its last claim or release) or `Idle`.
  public var health: String {
    if held > 0 { return "Active" }
    if let lost = lastLostAt, lost >= lastSeenAt { return "Unresponsive" }
    return "Idle"
  }

  /// Summaries of `leases` as of `now`, by agent ID (what the SQL stores compute in SQL).
  public static func summaries(_ leases: [LeaseHistoryRecord], now: Date) -> [AgentSummary] {
    var byAgent: [String: AgentSummary] = [:]
    for lease in leases {
      var summary =
        byAgent[lease.agentID]
        ?? AgentSummary(
          agentID: lease.agentID, leases: 0, held: 0, lost: 0, firstClaimAt: lease.claimedAt,
          lastClaimAt: lease.claimedAt, lastReleaseAt: nil, heldUntil: nil, lastLostAt: nil)
      summary.leases += 1
      summary.firstClaimAt = min(summary.firstClaimAt, lease.claimedAt)
      summary.lastClaimAt = max(summary.lastClaimAt, lease.claimedAt)
      if let released = lease.releasedAt {
        summary.lastReleaseAt = max(summary.lastReleaseAt ?? released, released)
      } else if lease.expiresAt > now {
        summary.held += 1
        summary.heldUntil = max(summary.heldUntil ?? lease.expiresAt, lease.expiresAt)
      } else {
        summary.lost += 1
        summary.lastLostAt = max(summary.lastLostAt ?? lease.expiresAt, lease.expiresAt)
      }
      byAgent[lease.agentID] = summary
    }
    return byAgent.values.sorted { $0.agentID < $1.agentID }
  }
}

extension RunStoreSQL {
  /// Counts the runs started since `since` per `bucket` and reported state.
  package func runCounts(
    since: Date, bucket: Duration, staleBefore: Date, _ p: (Int) -> String
  ) -> SQLStatement {
    let micros = RunStoreCoding.micros(since)
    let width = max(Int64((bucket.timeInterval * 1_000_000).rounded()), 1)
    return SQLStatement(
      sql: "SELECT (started_at - \(p(1))) / \(p(2)) AS bucket, CASE WHEN state = 'Running' AND "
        + "heartbeat_at < \(p(3)) THEN 'Crashed' ELSE state END AS shown, COUNT(*) AS n FROM "
        + "flow_runs WHERE started_at >= \(p(4)) GROUP BY 1, 2 ORDER BY 1, 2",
      binds: [
        .integer(micros), .integer(width), .integer(RunStoreCoding.micros(staleBefore)),
        .integer(micros),
      ])
  }

  /// Summarizes the lease history per agent as of `now`.
  package func agents(now: Date, _ p: (Int) -> String) -> SQLStatement {
    let held = "released_at IS NULL AND expires_at > \(p(1))"
    let lost = "released_at IS NULL AND expires_at <= \(p(2))"
    return SQLStatement(
      sql: "SELECT agent_id, COUNT(*) AS leases, SUM(CASE WHEN \(held) THEN 1 ELSE 0 END) AS "
        + "held, SUM(CASE WHEN \(lost) THEN 1 ELSE 0 END) AS lost, MIN(claimed_at) AS "
        + "first_claim, MAX(claimed_at) AS last_claim, MAX(released_at) AS last_release, "
        + "MAX(CASE WHEN released_at IS NULL AND expires_at > \(p(3)) THEN expires_at END) AS "
        + "held_until, MAX(CASE WHEN released_at IS NULL AND expires_at <= \(p(4)) THEN "
        + "expires_at END) AS last_lost FROM run_leases GROUP BY agent_id ORDER BY agent_id",
      binds: Array(repeating: .integer(RunStoreCoding.micros(now)), count: 4))
  }

  /// A count from its row.
  package static func runStateCount(_ row: SQLRow) -> RunStateCount? {
    guard let bucket = row["bucket"]?.integer, let state = row["shown"]?.text,
      let count = row["n"]?.integer
    else { return nil }
    return RunStateCount(bucket: Int(bucket), state: state, count: Int(count))
  }

  /// An agent summary from its row.
  package static func agentSummary(_ row: SQLRow) -> AgentSummary? {
    func date(_ name: String) -> Date? { row[name]?.integer.map(RunStoreCoding.date) }
    guard let agent = row["agent_id"]?.text, let first = date("first_claim"),
      let last = date("last_claim")
    else { return nil }
    return AgentSummary(
      agentID: agent, leases: Int(row["leases"]?.integer ?? 0),
      held: Int(row["held"]?.integer ?? 0), lost: Int(row["lost"]?.integer ?? 0),
      firstClaimAt: first, lastClaimAt: last, lastReleaseAt: date("last_release"),
      heldUntil: date("held_until"), lastLostAt: date("last_lost"))
  }
}

import Foundation

/// An agent as it registered itself: what it runs and when it last said it is alive. An agent
/// registers when it starts (before it claims anything), heartbeats while it runs, and marks
/// itself stopped when it stops cleanly.
public struct AgentRecord: Sendable, Equatable, Codable {
  /// The agent's ID (its leases carry the same one).
  public var agentID: String
  /// The host it runs on.
  public var host: String
  /// Its process ID.
  public var processID: Int
  /// Its labels.
  public var labels: [String]
  /// At most this many runs at once.
  public var limit: Int
  /// The flows it can run.
  public var flows: [FlowKey]
  /// How often it heartbeats; three missed heartbeats make it Unresponsive.
  public var heartbeatInterval: Duration
  /// When it started.
  public var startedAt: Date
  /// Its latest heartbeat.
  public var lastHeartbeatAt: Date
  /// When it stopped cleanly; nil while it runs (or if it died).
  public var stoppedAt: Date?

  /// Creates a record.
  public init(
    agentID: String, host: String, processID: Int, labels: [String], limit: Int,
    flows: [FlowKey], heartbeatInterval: Duration, startedAt: Date, lastHeartbeatAt: Date? = nil,
    stoppedAt: Date? = nil
  ) {
    self.agentID = agentID
    self.host = host
    self.processID = processID
    self.labels = labels
    self.limit = limit
    self.flows = flows
    self.heartbeatInterval = heartbeatInterval
    self.startedAt = startedAt
    self.lastHeartbeatAt = lastHeartbeatAt ?? startedAt
    self.stoppedAt = stoppedAt
  }

  /// How many heartbeat intervals may pass before the agent counts as Unresponsive.
  public static let missedHeartbeats = 3

  /// Whether its latest heartbeat is older than ``missedHeartbeats`` intervals at `now`.
  public func isUnresponsive(now: Date) -> Bool {
    now.timeIntervalSince(lastHeartbeatAt)
      > (heartbeatInterval * Self.missedHeartbeats).timeInterval
  }
}

/// An agent as the server shows it: its registration (nil for an agent of an older version
/// that only left leases) merged with what its leases show (nil if it never claimed a run).
public struct AgentStatus: Sendable, Equatable {
  /// The agent's ID.
  public var agentID: String
  /// Its registration, if it registered.
  public var registration: AgentRecord?
  /// Its lease history, if it ever claimed a run.
  public var leases: AgentSummary?

  /// Creates a status.
  public init(agentID: String, registration: AgentRecord?, leases: AgentSummary?) {
    self.agentID = agentID
    self.registration = registration
    self.leases = leases
  }

  /// `Active` (holds leases), `Stopped` (stopped cleanly), `Unresponsive` (missed
  /// ``AgentRecord/missedHeartbeats`` heartbeats, or lost its latest lease) or `Idle`
  /// (heartbeats but holds nothing).
  public func health(now: Date) -> String {
    if let leases, leases.held > 0 { return "Active" }
    guard let registration else { return leases?.health ?? "Idle" }
    if registration.stoppedAt != nil { return "Stopped" }
    return registration.isUnresponsive(now: now) ? "Unresponsive" : "Idle"
  }

  /// Its latest sign of life: a heartbeat, a claim or a release.
  public var lastSeenAt: Date {
    max(registration?.lastHeartbeatAt ?? .distantPast, leases?.lastSeenAt ?? .distantPast)
  }

  /// Every agent of `registered` and of `leases`, by ID.
  public static func merged(registered: [AgentRecord], leases: [AgentSummary]) -> [AgentStatus] {
    var byID: [String: AgentStatus] = [:]
    for record in registered {
      byID[record.agentID] = AgentStatus(
        agentID: record.agentID, registration: record, leases: nil)
    }
    for summary in leases {
      byID[
        summary.agentID,
        default: AgentStatus(
          agentID: summary.agentID, registration: nil, leases: nil)
      ].leases = summary
    }
    return byID.values.sorted { $0.agentID < $1.agentID }
  }
}

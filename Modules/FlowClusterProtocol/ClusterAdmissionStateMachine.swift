/// Which new connections the scheduler reads at all, free of I/O and clocks: it bounds how many
/// unauthenticated connections are open at once (each may buffer at most one small hello), and
/// throttles a peer address whose handshakes keep failing (a wrong token, garbage, a silent
/// connection): past ``Configuration/maxFailedHandshakesPerPeer`` failures within
/// ``Configuration/failureWindow``, its new connections are closed unread.
public struct ClusterAdmissionStateMachine: Sendable {
  /// Limits.
  public struct Configuration: Sendable, Equatable {
    /// Connections that have not finished their handshake, at most, at once.
    public var maxPendingHandshakes: Int
    /// Failed handshakes one peer address may have within ``failureWindow``.
    public var maxFailedHandshakesPerPeer: Int
    /// How long a failed handshake counts against its peer.
    public var failureWindow: Duration

    /// Creates limits.
    public init(
      maxPendingHandshakes: Int = 64, maxFailedHandshakesPerPeer: Int = 10,
      failureWindow: Duration = .seconds(10)
    ) {
      self.maxPendingHandshakes = max(1, maxPendingHandshakes)
      self.maxFailedHandshakesPerPeer = max(1, maxFailedHandshakesPerPeer)
      self.failureWindow = failureWindow
    }
  }

  /// Something that happened to a connection.
  public enum Event: Sendable, Equatable {
    /// A connection from `peer` (its address, without the port) opened.
    case opened(ConnectionID, peer: String)
    /// The connection's hello was accepted.
    case authenticated(ConnectionID)
    /// The connection closed (before its handshake, this counts as a failed one).
    case closed(ConnectionID)
    /// A timer started by ``Action/forgetFailure(peer:after:)`` fired.
    case failureExpired(peer: String)
  }

  /// What the transport must do.
  public enum Action: Sendable, Equatable {
    /// Read the connection (its handshake may begin).
    case admit(ConnectionID)
    /// Close the connection without reading it; log `reason` with the peer's address when
    /// `log` is true (a throttled peer's refusals are logged at its 1st, 2nd, 4th, 8th…, so
    /// that a flood of connections cannot flood the log).
    case refuse(ConnectionID, peer: String, reason: String, log: Bool)
    /// Fire ``Event/failureExpired(peer:)`` after `after`.
    case forgetFailure(peer: String, after: Duration)
  }

  /// The limits.
  public let configuration: Configuration
  private var pending: [ConnectionID: String] = [:]
  private var failures: [String: Int] = [:]
  /// Connections refused unread per throttled peer, while it stays throttled.
  private var throttled: [String: Int] = [:]

  /// Creates a machine with no connections.
  public init(configuration: Configuration = Configuration()) {
    self.configuration = configuration
  }

  /// Connections that have not finished their handshake.
  public var pendingCount: Int { pending.count }

  /// Failed handshakes of `peer` that still count.
  public func failureCount(of peer: String) -> Int { failures[peer] ?? 0 }

  /// Handles one event and returns what to do.
  public mutating func handle(_ event: Event) -> [Action] {
    switch event {
    case .opened(let id, let peer):
      let failed = failures[peer] ?? 0
      if failed >= configuration.maxFailedHandshakesPerPeer {
        let refused = throttled[peer, default: 0] + 1
        throttled[peer] = refused
        return [
          .refuse(
            id, peer: peer,
            reason:
              "\(failed) failed handshakes from \(peer) within \(configuration.failureWindow); "
              + "its connections are refused until they age out (\(refused) refused so far; "
              + "check that worker's --token and version)",
            log: refused & (refused - 1) == 0)
        ]
      }
      if pending.count >= configuration.maxPendingHandshakes {
        return [
          .refuse(
            id, peer: peer,
            reason:
              "\(pending.count) connections are already in their handshake (the limit); "
              + "retry shortly",
            log: true)
        ]
      }
      pending[id] = peer
      return [.admit(id)]
    case .authenticated(let id):
      pending[id] = nil
      return []
    case .closed(let id):
      guard let peer = pending.removeValue(forKey: id) else { return [] }
      failures[peer, default: 0] += 1
      return [.forgetFailure(peer: peer, after: configuration.failureWindow)]
    case .failureExpired(let peer):
      guard let count = failures[peer] else { return [] }
      failures[peer] = count > 1 ? count - 1 : nil
      if (failures[peer] ?? 0) < configuration.maxFailedHandshakesPerPeer { throttled[peer] = nil }
      return []
    }
  }
}

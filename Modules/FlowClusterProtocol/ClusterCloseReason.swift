/// Why a connection closed, a worker left or a worker stopped: a code to act on and a message
/// that says what happened and what to do.
public struct ClusterCloseReason: Sendable, Equatable, CustomStringConvertible {
  /// What kind of close (extensible).
  public struct Code: Hashable, Sendable, CustomStringConvertible {
    /// The code's name.
    public let name: String
    /// Creates a code.
    public init(name: String) { self.name = name }
    /// The name.
    public var description: String { name }

    /// The worker finished (or handed back) its attempts and left.
    public static let drained = Code(name: "drained")
    /// The peer said goodbye.
    public static let goodbye = Code(name: "goodbye")
    /// The scheduler is shutting down.
    public static let shutdown = Code(name: "shutdown")
    /// The handshake was refused (version, token, capacity, resources).
    public static let refused = Code(name: "refused")
    /// The peer sent a bad frame or a message out of order.
    public static let protocolViolation = Code(name: "protocolViolation")
    /// The peer was silent too long (no hello, no heartbeat).
    public static let timeout = Code(name: "timeout")
    /// The connection closed under us.
    public static let connectionLost = Code(name: "connectionLost")
    /// Stopped before the handshake finished.
    public static let stoppedBeforeHandshake = Code(name: "stoppedBeforeHandshake")
  }

  /// The kind of close.
  public let code: Code
  /// What happened and what to do.
  public let message: String

  /// Creates a reason.
  public init(_ code: Code, _ message: String) {
    self.code = code
    self.message = message
  }

  /// A close that is part of normal operation (a drain, a goodbye, a shutdown), logged at info
  /// rather than as a warning.
  public var isExpected: Bool { code == .drained || code == .goodbye || code == .shutdown }

  /// The message.
  public var description: String { message }
}

extension ClusterCloseReason {
  /// The close a protocol error causes: ``Code/timeout`` for a silent peer, else
  /// ``Code/protocolViolation``; the message is the error's.
  public init(_ error: ClusterProtocolError) {
    self.init(error.code == .timeout ? .timeout : .protocolViolation, "\(error)")
  }
}

/// Why a frame, a message or a peer was rejected; the connection it came from is closed with
/// this as the logged reason.
public struct ClusterProtocolError: Error, Sendable, Equatable, CustomStringConvertible {
  /// What kind of problem it is (extensible).
  public struct Code: Hashable, Sendable, CustomStringConvertible {
    /// The code's name.
    public let name: String
    /// Creates a code.
    public init(name: String) { self.name = name }
    /// The name.
    public var description: String { name }

    /// A length prefix above the maximum frame size.
    public static let oversizedFrame = Code(name: "oversizedFrame")
    /// Bytes that are not a well-formed frame or message.
    public static let malformedFrame = Code(name: "malformedFrame")
    /// A message that is not allowed at this point of the conversation.
    public static let outOfOrder = Code(name: "outOfOrder")
    /// A handshake with another protocol version.
    public static let versionMismatch = Code(name: "versionMismatch")
    /// A handshake with a missing or wrong token.
    public static let badToken = Code(name: "badToken")
    /// No handshake, or no heartbeat, within the allowed time.
    public static let timeout = Code(name: "timeout")
    /// The connection ended in the middle of a frame.
    public static let truncated = Code(name: "truncated")
  }

  /// The kind of problem.
  public let code: Code
  /// What was wrong and what to do about it.
  public let message: String

  /// Creates an error.
  public init(_ code: Code, _ message: String) {
    self.code = code
    self.message = message
  }

  /// `code: message`.
  public var description: String { "\(code): \(message)" }
}

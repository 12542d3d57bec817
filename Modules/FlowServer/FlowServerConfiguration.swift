import FlowCore
import Foundation

/// How `flow server` listens and what it allows.
public struct FlowServerConfiguration: Sendable {
  /// The address to listen on (`127.0.0.1` by default: loopback only).
  public var host: String
  /// The port (0: any free port, reported when listening).
  public var port: Int
  /// The token every request must carry (`Authorization: Bearer …` or the login cookie);
  /// required when `host` is not loopback.
  public var token: String?
  /// Running runs whose heartbeat is older than this are shown as Crashed.
  public var heartbeatTTL: Duration
  /// How often a live stream looks for changes in the store.
  public var pollInterval: Duration
  /// The largest request body accepted, in bytes (413 beyond it).
  public var maxBodyBytes: Int
  /// The most records one page of the API returns.
  public var maxPageSize: Int

  /// A configuration; loopback on port 8080 without a token by default.
  public init(
    host: String = "127.0.0.1", port: Int = 8080, token: String? = nil,
    heartbeatTTL: Duration = RunStoreReading.defaultHeartbeatTTL,
    pollInterval: Duration = .milliseconds(100), maxBodyBytes: Int = 64 * 1024,
    maxPageSize: Int = 1000
  ) {
    self.host = host
    self.port = port
    self.token = token
    self.heartbeatTTL = heartbeatTTL
    self.pollInterval = pollInterval
    self.maxBodyBytes = maxBodyBytes
    self.maxPageSize = maxPageSize
  }

  /// Whether `host` names the loopback interface.
  public static func isLoopback(_ host: String) -> Bool {
    host == "localhost" || host == "::1" || host == "[::1]" || host.hasPrefix("127.")
  }

  /// Throws when the configuration would expose the server without a token, or is invalid.
  public func validate() throws(FlowServerError) {
    if !Self.isLoopback(host), token?.isEmpty ?? true {
      throw FlowServerError(
        .tokenRequired,
        message:
          "refusing to listen on \(host) without a token: anyone who can reach it could read "
          + "the run history; pass --token T (or FLOW_SERVER_TOKEN), or listen on 127.0.0.1")
    }
    if !(0...65535).contains(port) {
      throw FlowServerError(
        .invalidConfiguration, message: "port \(port) is not a TCP port; use 0 to 65535")
    }
    if maxBodyBytes < 1 || maxPageSize < 1 {
      throw FlowServerError(
        .invalidConfiguration, message: "the body and page size limits must be positive")
    }
  }
}

/// The server could not start: the problem and how to fix it.
public struct FlowServerError: Error, Sendable, CustomStringConvertible {
  /// What kind of failure it was; a struct with static members so that it can grow.
  public struct Code: Hashable, Sendable, CustomStringConvertible {
    /// The code's name.
    public let name: String
    /// A code named `name`.
    public init(name: String) { self.name = name }
    /// The name.
    public var description: String { name }
    /// Listening beyond loopback needs a token.
    public static let tokenRequired = Code(name: "tokenRequired")
    /// An option is out of range.
    public static let invalidConfiguration = Code(name: "invalidConfiguration")
    /// The store cannot serve the server (it lacks the browsing reads).
    public static let unsupportedStore = Code(name: "unsupportedStore")
  }

  /// What kind of failure it was.
  public let code: Code
  /// What went wrong and what to do about it.
  public let message: String

  /// Creates an error.
  public init(_ code: Code, message: String) {
    self.code = code
    self.message = message
  }

  /// The message.
  public var description: String { "flow server: \(message)" }
}

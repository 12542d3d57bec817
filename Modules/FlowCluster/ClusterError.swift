/// Why a cluster could not start or keep going.
public struct ClusterError: Error, Sendable, CustomStringConvertible {
  /// What kind of problem (extensible).
  public struct Code: Hashable, Sendable, CustomStringConvertible {
    /// The code's name.
    public let name: String
    /// Creates a code.
    public init(name: String) { self.name = name }
    /// The name.
    public var description: String { name }
    /// Listening beyond loopback without a token.
    public static let insecureListen = Code(name: "insecureListen")
    /// Fewer workers than required joined in time.
    public static let notEnoughWorkers = Code(name: "notEnoughWorkers")
    /// A local worker process could not start or exited early.
    public static let workerProcess = Code(name: "workerProcess")
    /// The address could not be bound or reached.
    public static let network = Code(name: "network")
    /// A certificate or key could not be loaded.
    public static let tls = Code(name: "tls")
    /// The scheduler has shut down.
    public static let stopped = Code(name: "stopped")
    /// A bad argument (an address, a resource, a thread count).
    public static let invalidArgument = Code(name: "invalidArgument")
  }

  /// The kind of problem.
  public let code: Code
  /// What happened and what to do.
  public let message: String

  /// Creates an error.
  public init(_ code: Code, _ message: String) {
    self.code = code
    self.message = message
  }

  /// The message.
  public var description: String { message }
}

/// TLS for the cluster's connections (swift-nio-ssl), from PEM files.
public struct ClusterTLS: Sendable {
  /// The scheduler's certificate chain (PEM); needed to listen with TLS.
  public var certificatePath: String?
  /// The scheduler's private key (PEM); needed to listen with TLS.
  public var privateKeyPath: String?
  /// Certificates a worker trusts (PEM); nil trusts the system's roots.
  public var trustRootsPath: String?
  /// When false, a worker checks the scheduler's certificate but not its host name (for
  /// clusters addressed by IP).
  public var verifyHostname: Bool

  /// Creates a TLS setting.
  public init(
    certificatePath: String? = nil, privateKeyPath: String? = nil, trustRootsPath: String? = nil,
    verifyHostname: Bool = true
  ) {
    self.certificatePath = certificatePath
    self.privateKeyPath = privateKeyPath
    self.trustRootsPath = trustRootsPath
    self.verifyHostname = verifyHostname
  }
}

/// The kind of a ``ClusterMessage``: its name in logs and errors, and its tag byte on the wire
/// (one type for both, so that they cannot drift apart).
public struct ClusterMessageKind: Hashable, Sendable, CustomStringConvertible {
  /// The message's first byte on the wire.
  public let tag: UInt8
  /// The kind's name (`hello`, `assign`…).
  public let name: String

  private init(_ tag: UInt8, _ name: String) {
    self.tag = tag
    self.name = name
  }

  /// The name.
  public var description: String { name }

  /// ``ClusterMessage/hello(_:)``.
  public static let hello = Self(1, "hello")
  /// ``ClusterMessage/welcome(workerID:heartbeatMilliseconds:)``.
  public static let welcome = Self(2, "welcome")
  /// ``ClusterMessage/refused(reason:)``.
  public static let refused = Self(3, "refused")
  /// ``ClusterMessage/assign(_:)``.
  public static let assign = Self(4, "assign")
  /// ``ClusterMessage/results(_:)``.
  public static let results = Self(5, "results")
  /// ``ClusterMessage/heartbeat(running:)``.
  public static let heartbeat = Self(6, "heartbeat")
  /// ``ClusterMessage/cancel(_:)``.
  public static let cancel = Self(7, "cancel")
  /// ``ClusterMessage/drain``.
  public static let drain = Self(8, "drain")
  /// ``ClusterMessage/draining``.
  public static let draining = Self(9, "draining")
  /// ``ClusterMessage/handBack(_:)``.
  public static let handBack = Self(10, "handBack")
  /// ``ClusterMessage/goodbye(reason:)``.
  public static let goodbye = Self(11, "goodbye")
  /// ``ClusterMessage/runContext(_:)``.
  public static let runContext = Self(12, "runContext")
  /// ``ClusterMessage/outputPart(_:_:)``.
  public static let outputPart = Self(13, "outputPart")

  /// Every kind of this protocol version, by tag.
  public static let all: [ClusterMessageKind] = [
    hello, welcome, refused, assign, results, heartbeat, cancel, drain, draining, handBack,
    goodbye, runContext, outputPart,
  ]
}

extension ClusterMessage {
  /// The message's kind.
  public var kind: ClusterMessageKind {
    switch self {
    case .hello: .hello
    case .welcome: .welcome
    case .refused: .refused
    case .assign: .assign
    case .results: .results
    case .heartbeat: .heartbeat
    case .cancel: .cancel
    case .drain: .drain
    case .draining: .draining
    case .handBack: .handBack
    case .goodbye: .goodbye
    case .runContext: .runContext
    case .outputPart: .outputPart
    }
  }
}

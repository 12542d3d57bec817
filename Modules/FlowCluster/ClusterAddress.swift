/// A host and port to listen on or connect to (`127.0.0.1:8786`, `[::1]:8786`).
public struct ClusterAddress: Sendable, Hashable, CustomStringConvertible {
  /// The host name or IP address.
  public var host: String
  /// The TCP port (0 picks a free one when listening).
  public var port: Int

  /// Creates an address.
  public init(host: String, port: Int) {
    self.host = host
    self.port = port
  }

  /// Parses `HOST:PORT` (IPv6 hosts in brackets); nil when it is not one.
  public init?(_ text: String) {
    guard let colon = text.lastIndex(of: ":"), let port = Int(text[text.index(after: colon)...]),
      (0...65535).contains(port)
    else { return nil }
    var host = String(text[..<colon])
    if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
    guard !host.isEmpty else { return nil }
    self.init(host: host, port: port)
  }

  /// True for `localhost`, 127.0.0.0/8 and `::1`: addresses other machines cannot reach.
  public var isLoopback: Bool {
    host == "localhost" || host == "::1" || host.hasPrefix("127.")
  }

  /// `HOST:PORT`.
  public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

import Foundation

/// The process facts a cluster needs from the system (kept in a `System*` file, DESIGN rule 1).
enum SystemProcessInfo {
  /// `host:pid`.
  static var defaultWorkerName: String {
    "\(ProcessInfo.processInfo.hostName):\(ProcessInfo.processInfo.processIdentifier)"
  }

  /// The path of the running executable.
  static var executablePath: String? {
    Bundle.main.executableURL?.path ?? CommandLine.arguments.first
  }

  /// A random token for a local cluster (128 bits, hex).
  static func randomToken() -> String {
    var generator = SystemRandomNumberGenerator()
    return (0..<4).map { _ in String(generator.next() as UInt32, radix: 16) }.joined()
  }
}

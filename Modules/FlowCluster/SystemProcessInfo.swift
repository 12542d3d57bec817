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

  /// The host's load average over the last minute (`/proc/loadavg`), when the system tells.
  static func loadAverage() -> Double? {
    guard let text = try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8) else {
      return nil
    }
    return text.split(separator: " ").first.flatMap { Double($0) }
  }

  /// A random token for a local cluster (128 bits, hex).
  static func randomToken() -> String {
    var generator = SystemRandomNumberGenerator()
    return (0..<4).map { _ in String(generator.next() as UInt32, radix: 16) }.joined()
  }
}

extension SystemProcessInfo {
  /// Set by a ``LocalCluster`` in its workers' environment: `stdin` means the worker's standard
  /// input is a pipe from its parent, and end-of-file there means the parent died.
  static let parentWatchVariable = "SWIFT_FLOW_PARENT_WATCH"

  /// True when this process was started by a ``LocalCluster`` that it must not outlive.
  static var watchesParentThroughStandardInput: Bool {
    ProcessInfo.processInfo.environment[parentWatchVariable] == "stdin"
  }

  /// Ends the process now, without waiting for running task bodies (they belong to a
  /// scheduler that is gone).
  static func terminate(status: Int32) -> Never {
    exit(status)
  }
}

extension SystemProcessInfo {
  /// Counts the times a worker restarted itself to rejoin its scheduler.
  static let rejoinVariable = "SWIFT_FLOW_WORKER_REJOINS"
  /// The most times a worker restarts itself in a row to rejoin.
  static let maxRejoins = 20

  /// A welcome ends the row of restarts.
  static func joined() {
    if ProcessInfo.processInfo.environment[rejoinVariable] != nil { unsetenv(rejoinVariable) }
  }

  /// Replaces this process with a fresh run of the same command line (same arguments, same
  /// standard input), abandoning running task bodies; returns only when that is not possible
  /// (the restart budget is spent, or `execv` failed).
  static func restartToRejoin() {
    let count = Int(ProcessInfo.processInfo.environment[rejoinVariable] ?? "") ?? 0
    guard count < maxRejoins, let path = executablePath else { return }
    setenv(rejoinVariable, "\(count + 1)", 1)
    // The first restart is immediate; a scheduler that keeps closing the connection (a
    // throttled address) sees the restarts slow down, then stop.
    if count > 0 { usleep(UInt32(min(count, 10)) * 200_000) }
    let arguments = [path] + CommandLine.arguments.dropFirst()
    var argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) }
    argv.append(nil)
    execv(path, &argv)
    for pointer in argv { free(pointer) }
  }
}

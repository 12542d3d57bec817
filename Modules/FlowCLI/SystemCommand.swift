import Foundation

/// The running executable and re-running a recorded command (kept in a `System*` file,
/// DESIGN rule 1).
enum SystemCommand {
  /// The path of the running executable.
  static var executablePath: String {
    Bundle.main.executableURL?.path ?? CommandLine.arguments.first ?? "flow"
  }

  /// True when standard error is a terminal (not a file or a pipe).
  static var standardErrorIsTerminal: Bool { isatty(STDERR_FILENO) == 1 }

  /// Runs `command` (an executable path and its arguments) with this process's standard
  /// streams and environment, and returns its exit status.
  static func run(_ command: [String], environment: [String: String]) async throws -> Int32 {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: command[0])
    process.arguments = Array(command.dropFirst())
    process.environment = environment
    return try await withCheckedThrowingContinuation { continuation in
      process.terminationHandler = { continuation.resume(returning: $0.terminationStatus) }
      do {
        try process.run()
      } catch {
        process.terminationHandler = nil
        continuation.resume(throwing: error)
      }
    }
  }
}

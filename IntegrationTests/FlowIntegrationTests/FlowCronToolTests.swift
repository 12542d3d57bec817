import Foundation
import Testing

/// Runs the real `flow` binary: `flow cron next` and `flow cron explain`.
@Suite("flow cron, end to end", .timeLimit(.minutes(2)))
struct FlowCronToolTests {
  struct Output {
    let status: Int32
    let stdout: String
    let stderr: String
  }

  /// The `flow` binary, built next to the test bundle because this target depends on it.
  static func binary() throws -> URL {
    let candidates = [
      Bundle.main.bundleURL,
      URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent(),
    ]
    let found = candidates.map { $0.appendingPathComponent("flow") }
      .first { url in
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory)
          && !isDirectory.boolValue && FileManager.default.isExecutableFile(atPath: url.path)
      }
    return try #require(found, "flow not found next to \(candidates.map(\.path))")
  }

  func flow(_ arguments: String...) throws -> Output { try runArguments(arguments) }

  @Test("next: one fire time a line with its offset; a skipped 02:00 runs at 03:00")
  func nextAcrossSpringForward() throws {
    let output = try flow(
      "cron", "next", "0 2 * * *", "--timezone", "America/New_York", "--after",
      "2025-03-08T00:00:00-05:00", "--count", "3")
    #expect(output.status == 0, "stderr: \(output.stderr)")
    #expect(
      output.stdout
        == "2025-03-08T02:00:00-05:00\n2025-03-09T03:00:00-04:00\n2025-03-10T02:00:00-04:00\n")
    #expect(output.stderr.isEmpty)
  }

  @Test("next: a repeated 02:30 runs once; --after without an offset reads --timezone")
  func nextAcrossFallBack() throws {
    let output = try flow(
      "cron", "next", "30 2 * * *", "-z", "Europe/Berlin", "--after", "2025-10-25T12:00:00",
      "-n", "2")
    #expect(output.status == 0, "stderr: \(output.stderr)")
    #expect(output.stdout == "2025-10-26T02:30:00+02:00\n2025-10-27T02:30:00+01:00\n")
  }

  @Test("next: elapsed-time expressions step through the change, every 30 minutes")
  func nextEveryHalfHour() throws {
    let output = try flow(
      "cron", "next", "*/30 * * * *", "-z", "America/New_York", "--after",
      "2025-03-09T01:00:00-05:00", "-n", "3")
    #expect(output.status == 0)
    #expect(
      output.stdout
        == "2025-03-09T01:30:00-05:00\n2025-03-09T03:00:00-04:00\n2025-03-09T03:30:00-04:00\n")
  }

  @Test(
    "a bad expression is a usage error carrying the field, the token and the range",
    arguments: [
      (["cron", "next", "61 * * * *"], "minute: 61 is outside 0-59"),
      (["cron", "explain", "0 9 * * FUN"], "day-of-week: 'FUN' is not a number in 0-7"),
      (["cron", "next", "0 0 30 2 *"], "day-of-month: 30 never comes"),
      (["cron", "next", "* * *"], "expected 5 fields"),
      (["cron", "next", "0 0 * * *", "-z", "Mars/Olympus"], "unknown time zone 'Mars/Olympus'"),
      (["cron", "next", "0 0 * * *", "--after", "yesterday"], "--after: 'yesterday'"),
      (["cron", "next", "0 0 * * *", "-n", "0"], "--count must be 1-10000"),
    ])
  func usageErrors(arguments: [String], message: String) throws {
    let process = try runArguments(arguments)
    #expect(process.status == 64, "stdout: \(process.stdout)")
    #expect(process.stdout.isEmpty)
    #expect(process.stderr.contains("Error: \(message)"), "stderr: \(process.stderr)")
    #expect(process.stderr.contains("Usage: flow cron"))
  }

  @Test("an expression that never fires exits 1 and says so")
  func neverFires() throws {
    let output = try flow(
      "cron", "next", "0 0 */31 * MON#5", "-z", "UTC", "--after", "2025-01-01T00:00:00Z")
    #expect(output.status == 1)
    #expect(output.stdout.isEmpty)
    #expect(
      output.stderr
        == "'0 0 */31 * MON#5' does not fire within 50 years after 2025-01-01T00:00:00+00:00\n")
  }

  @Test("explain: plain English, exit 0")
  func explain() throws {
    let output = try flow("cron", "explain", "0 9 * * MON-FRI")
    #expect(output.status == 0)
    #expect(output.stdout == "At 09:00, on Monday through Friday\n")
  }

  func runArguments(_ arguments: [String]) throws -> Output {
    let process = Process()
    process.executableURL = try Self.binary()
    process.arguments = arguments
    let out = Pipe()
    let err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    let stdout = out.fileHandleForReading.readDataToEndOfFile()
    let stderr = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return Output(
      status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
      stderr: String(decoding: stderr, as: UTF8.self))
  }
}

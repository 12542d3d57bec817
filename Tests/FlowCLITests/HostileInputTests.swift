import Foundation
import Testing

@testable import FlowCLI

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// Inputs an unlucky operator gives (issue 14): each is a usage error naming the problem and
/// the limit, never a trap, a hang or a silent default.
@Suite struct HostileInputTests {
  @Test(
    "--workers and --threads are range-checked before any arithmetic",
    arguments: [
      (["--workers", "9223372036854775807", "--threads", "2"], "--workers must be 1-256"),
      (["--workers", "100000", "--executor", "cluster"], "--workers must be 1-256"),
      (["--threads", "9223372036854775807"], "--threads must be 1-4096"),
      (["--workers", "200", "--threads", "200"], "runs at most 4096"),
      (["--workers", "0"], "--workers must be at least 1"),
    ])
  func workersAndThreads(arguments: [String], message: String) async {
    for command in ["run", "schedule"] {
      let recorder = Recorder()
      let captured = Captured()
      let status = await commandLine(recorder).execute(
        [command] + arguments + ["--log-level", "critical"], output: captured.output,
        handlingSignals: false)
      #expect(status == 64, "\(command) \(arguments): \(captured.err)")
      #expect(captured.err.contains(message), "\(captured.err)")
      #expect(recorder.all.isEmpty)
    }
  }

  @Test("an empty --results-dir is an error, not the current directory")
  func emptyResultsDirectory() async {
    let (status, captured, _) = await execute("run", "--results-dir", "")
    #expect(status == 64)
    #expect(captured.err.contains("--results-dir is empty"), "\(captured.err)")
  }

  @Test("a device, a FIFO or a directory as --param-file is named as such")
  func specialParameterFiles() async throws {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
      "params-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    let fifo = directory.appendingPathComponent("fifo").path
    try #require(mkfifo(fifo, 0o600) == 0)
    for (path, kind) in [
      ("/dev/zero", "is a device"), (fifo, "is not a regular file"),
      (directory.path, "is a directory"),
    ] {
      let (status, captured, _) = await execute("run", "--param-file", path)
      #expect(status == 64, "\(path): \(captured.err)")
      #expect(captured.err.contains("'\(path)' \(kind)"), "\(captured.err)")
    }
  }
}

import Foundation
import Testing

/// Runs `flow simulate` as a real process.
@Suite("flow simulate, end to end", .timeLimit(.minutes(2)))
struct FlowSimulateTests {
  /// The `flow` binary, built next to the test bundle because this target depends on it.
  static func binary() throws -> URL {
    let candidates = [
      Bundle.main.bundleURL,
      URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent(),
    ]
    let found = candidates.map { $0.appendingPathComponent("flow") }
      .first { FileManager.default.isExecutableFile(atPath: $0.path) }
    return try #require(found, "flow not found next to \(candidates.map(\.path))")
  }

  func run(_ arguments: String...) throws -> (status: Int32, stdout: String, stderr: String) {
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
    return (
      process.terminationStatus, String(decoding: stdout, as: UTF8.self),
      String(decoding: stderr, as: UTF8.self)
    )
  }

  @Test("two runs with the same seed print the same line; the line has every field")
  func sameSeedSameLine() throws {
    let first = try run("simulate", "--seed", "31337", "--workers", "3", "--faults", "all")
    let second = try run("simulate", "--seed", "31337", "--workers", "3", "--faults", "all")
    #expect(first.status == 0, "stderr: \(first.stderr)")
    #expect(first.stdout == second.stdout)
    let lines = first.stdout.split(separator: "\n")
    #expect(lines.count == 1)
    let object = try #require(
      try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as? [String: Any])
    #expect(object["seed"] as? Int == 31337)
    #expect(object["invariants"] as? String == "ok")
    #expect((object["trace_hash"] as? String)?.count == 16)
    #expect((object["events"] as? Int ?? 0) > 100)
    #expect((object["simulated_seconds"] as? Double ?? 0) >= 20)
    let other = try run("simulate", "--seed", "31338", "--workers", "3", "--faults", "all")
    #expect(other.stdout != first.stdout)
  }

  @Test("a range of seeds prints one line per seed, in order")
  func seedRange() throws {
    // Crashes past a task's limit fail some of these runs: expected here.
    let output = try run(
      "simulate", "--seeds", "10..14", "--map-width", "20", "--faults", "crash,partition",
      "--allow-failed-runs")
    #expect(output.status == 0, "stderr: \(output.stderr)")
    let seeds = output.stdout.split(separator: "\n").compactMap {
      (try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])?["seed"] as? Int
    }
    #expect(seeds == [10, 11, 12, 13, 14])
  }

  @Test("a failed stand-in run makes the exit status non-zero and names its failing tasks")
  func failedRunExitStatus() throws {
    let output = try run(
      "simulate", "--seeds", "10..14", "--map-width", "20", "--faults", "crash,partition")
    #expect(output.status == 1, "stderr: \(output.stderr)")
    let objects = output.stdout.split(separator: "\n").compactMap {
      try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
    }
    #expect(objects.count == 5)
    let failed = objects.filter { $0["state"] as? String != "Success" }
    #expect(!failed.isEmpty)
    for object in failed {
      let failing = object["failing_tasks"] as? [[String: String]] ?? []
      #expect(!failing.isEmpty, "\(object)")
      #expect(failing.allSatisfy { $0["task"] != nil && $0["state"] != nil }, "\(object)")
    }
    #expect(output.stderr.contains("--allow-failed-runs"), "\(output.stderr)")
  }

  @Test("a seed that violates an invariant makes the exit status non-zero")
  func violationExitStatus() throws {
    let output = try run(
      "simulate", "--seeds", "1..2", "--faults", "none", "--plant-bug", "forget-result")
    #expect(output.status == 1)
    let lines = output.stdout.split(separator: "\n")
    #expect(lines.count == 2)
    #expect(lines.allSatisfy { $0.contains("never reached a final state") })
  }

  @Test("bad arguments are usage errors that say what is allowed")
  func badArguments() throws {
    let faults = try run("simulate", "--seed", "1", "--faults", "meteor")
    #expect(faults.status != 0)
    #expect(faults.stderr.contains("unknown fault 'meteor'"))
    let both = try run("simulate", "--seed", "1", "--seeds", "1..2")
    #expect(both.status != 0)
    #expect(both.stderr.contains("exactly one of --seed S and --seeds A..B"))
    let range = try run("simulate", "--seeds", "5..2")
    #expect(range.stderr.contains("--seeds takes A..B"))
  }
}

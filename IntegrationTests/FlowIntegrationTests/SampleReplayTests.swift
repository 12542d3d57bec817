import Foundation
import Testing

/// Records each sample's run history with `run --history` and replays it with `replay`
/// (the replayer in the sample's own executable, through its own flow and engine).
extension SampleSuites {
  @Suite("sample histories replay through the engine", .timeLimit(.minutes(3)))
  struct SampleReplayTests {
    @Test(
      "a recorded run of each sample replays to the same transitions; a tampered one does not",
      arguments: [
        ("ticket-model-evaluation", [String]()), ("iris-pipeline", []),
        ("taxi-resource-manager", ["--param", "workers=2"]),
      ])
    func replay(sample name: String, arguments: [String]) async throws {
      let sample = SampleProcess(name: name)
      let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
        "replay-\(name)-\(UUID().uuidString)")
      defer { try? FileManager.default.removeItem(at: directory) }
      let history = directory.appendingPathComponent("history.json").path
      let run = try await sample.run(["run", "--history", history] + arguments, in: directory)
      #expect(run.status == 0, "stderr: \(run.stderr)")
      let replay = try await sample.run(["replay", history], in: directory)
      #expect(replay.status == 0, "stderr: \(replay.stderr)")
      #expect(replay.stdout.contains("the same transitions"))
      // A history whose recorded answer differs from what the engine decides: the replay
      // names the first differing event.
      let text = try String(contentsOfFile: history, encoding: .utf8)
      let tampered = try #require(
        text.range(of: "\"Starting task run (attempt 1).\""),
        "the history has no first attempt")
      try text.replacingCharacters(in: tampered, with: "\"Starting task run (attempt 9).\"")
        .write(toFile: history, atomically: true, encoding: .utf8)
      let diverged = try await sample.run(["replay", history], in: directory)
      #expect(diverged.status != 0)
      #expect(diverged.stderr.contains("first differing event #"), "stderr: \(diverged.stderr)")
    }
  }
}

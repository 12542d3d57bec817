import Foundation
import Testing

/// `schedule --cron / --interval` on a sample executable, as a real process.
extension SampleSuites {
  @Suite("schedule overrides on iris-pipeline", .timeLimit(.minutes(2)))
  struct ScheduleOverrideSampleTests {
    let sample = SampleProcess(name: "iris-pipeline")

    @Test("--interval runs the sample on a new schedule and ends with a readable summary")
    func interval() async throws {
      let directory = FileManager.default.temporaryDirectory
        .appendingPathComponent("iris-schedule-\(UUID().uuidString)")
      defer { try? FileManager.default.removeItem(at: directory) }
      let output = try await sample.run(
        ["schedule", "--interval", "1s", "--max-runs", "1", "--log-level", "warning"],
        in: directory)
      #expect(output.status == 0, "stderr: \(output.stderr)")
      #expect(output.stderr.contains("Scheduling flow 'main-flow': every 1.0 seconds (GMT)"))
      #expect(output.stderr.contains("Next fire times: "))
      #expect(
        output.stderr.contains(
          "Schedule stopped because --max-runs was reached: 1 run started, 1 succeeded"),
        "stderr: \(output.stderr)")
    }

    @Test("a bad --cron is a usage error naming the field and the fix")
    func badCron() async throws {
      let output = try await sample.run(["schedule", "--cron", "0 25 * * *"])
      #expect(output.status == 64)
      #expect(
        output.stderr.contains("--cron '0 25 * * *': hour: 25 is outside 0-23"), "\(output.stderr)")
    }
  }
}

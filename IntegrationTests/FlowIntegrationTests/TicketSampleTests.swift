import Foundation
import Testing

/// Runs the `ticket-model-evaluation` sample as a real process.
extension SampleSuites {
  @Suite("ticket-model-evaluation sample, end to end", .timeLimit(.minutes(2)))
  struct TicketSampleTests {
    let sample = SampleProcess(name: "ticket-model-evaluation")

    @Test("with no arguments: one run on the bundled data, one JSON line on stdout, logs on stderr")
    func defaultRun() async throws {
      let output = try await sample.run([])
      #expect(output.status == 0, "stderr: \(output.stderr)")
      let lines = output.stdout.split(separator: "\n")
      #expect(lines.count == 1)
      let object = try #require(
        try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as? [String: Any])
      let data = try #require(object["data"] as? [String: Any])
      #expect(data["num_obs"] as? Int == 1000)
      let metrics = try #require(data["metrics"] as? [String: Double])
      #expect(Set(metrics.keys) == ["MAE", "MedAE", "MSE", "R2"])
      #expect(output.stderr.contains("Task 'evaluate_model-4': Starting task run..."))
      #expect(output.stderr.contains("Flow run 'ticket-model-evaluation': Success"))
    }

    @Test("batch-size=all over a file gives numpy's metrics; a seed repeats a draw")
    func allRowsAndSeeds() async throws {
      let fixture = FileManager.default.temporaryDirectory.appendingPathComponent(
        "incidents-\(UUID().uuidString).csv")
      // Three incidents: 2 h, 30 h and 300 h to close; priorities Critical, High, Low.
      try Data(
        """
        number,priority,sys_updated_at,closed_at
        A,1 - Critical,1/2/2016 10:00,1/2/2016 12:00
        B,2 - High,1/2/2016 10:00,2/2/2016 16:00
        C,4 - Low,1/2/2016 10:00,13/2/2016 22:00

        """.utf8
      ).write(to: fixture)
      defer { try? FileManager.default.removeItem(at: fixture) }
      let output = try await sample.run([
        "--param", "batch-size=all", "--param", "data-url=\(fixture.path)", "--log-level", "error",
      ])
      #expect(output.status == 0, "stderr: \(output.stderr)")
      // Errors (h): 2-6 = -4, 30-24 = 6, 300-240 = 60 -> MAE 70/3 h, MedAE 6 h, MSE 3652/3 h².
      let line = output.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
      let object = try #require(
        try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any])
      let data = try #require(object["data"] as? [String: Any])
      let metrics = try #require(data["metrics"] as? [String: Double])
      #expect(abs(metrics["MAE"]! - 70.0 / 3 * 3600) < 1e-6)
      #expect(metrics["MedAE"] == Double(6 * 3600))
      #expect(abs(metrics["MSE"]! - 3652.0 / 3 * 3600 * 3600) < 1e-3)
      let target = try #require(data["target"] as? [String: Double])
      #expect(target["min"] == Double(2 * 3600))
      #expect(target["max"] == Double(300 * 3600))
      #expect(target["median"] == Double(30 * 3600))
      let seeded = [
        "--param", "sample-seed=7", "--param", "batch-size=50", "--param",
        "data-url=\(fixture.path)",
        "--log-level", "error",
      ]
      let first = try await sample.run(seeded)
      let second = try await sample.run(seeded)
      func metricsPart(_ text: String) -> Substring {
        text[text.range(of: "\"data\"")!.lowerBound...]
      }
      #expect(metricsPart(first.stdout) == metricsPart(second.stdout))
      #expect(first.stdout.contains("\"num_obs\": 50"))
    }

    @Test("bad input is a usage error; a failing run exits 1 naming the failing task")
    func errors() async throws {
      let bad = try await sample.run(["--param", "batch-size=abc"])
      #expect(bad.status == 64)
      #expect(
        bad.stderr.contains(
          "parameter 'batch-size' expects a value of type BatchSize, and 'abc' is not one"))
      #expect(bad.stdout.isEmpty)
      // Issue 14: Int.max rows crashed the sample; now a usage error naming the limit.
      let huge = try await sample.run(["--param", "batch-size=9223372036854775807"])
      #expect(huge.status == 64)
      #expect(huge.stderr.contains("a batch size must be 1-10000000 rows"), "\(huge.stderr)")
      let overflow = try await sample.run(["--workers", "9223372036854775807", "--threads", "2"])
      #expect(overflow.status == 64)
      #expect(overflow.stderr.contains("--workers must be 1-256"), "\(overflow.stderr)")
      let missing = try await sample.run([
        "--param", "data-url=/nonexistent/incidents.zip", "--log-level", "critical",
      ])
      #expect(missing.status == 1)
      #expect(missing.stderr.contains("Failing tasks:\n  get_ticket_data_batch: Failed"))
      #expect(
        missing.stderr.contains("cannot read the incident data at '/nonexistent/incidents.zip'"))
      let list = try await sample.run(["list"])
      #expect(list.stdout.contains("--param batch-size=<BatchSize>  (default 1000)"))
      #expect(list.stdout.contains("schedule: every 60.0 seconds (GMT)"))
    }
  }
}

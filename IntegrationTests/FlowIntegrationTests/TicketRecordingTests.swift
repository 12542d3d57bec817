import Foundation
import Testing

/// The done-when: the ticket sample records its run in the embedded default database,
/// and `flow runs show <ID>` prints every task run and parameter with states and timings.
extension SampleSuites {
  @Suite("ticket-model-evaluation records its run", .timeLimit(.minutes(2)))
  struct TicketRecordingTests {
    @Test("the default database (under HOME) holds the run; `flow runs show` prints it")
    func recordedByDefault() async throws {
      // A temporary HOME: the default ~/.flow/flow.sqlite lands there, never in the real one.
      let home = FileManager.default.temporaryDirectory.appendingPathComponent(
        "ticket-home-\(UUID().uuidString)")
      try FileManager.default.createDirectory(at: home, withIntermediateDirectories: true)
      defer { try? FileManager.default.removeItem(at: home) }
      var environment = ["HOME": home.path]
      environment["FLOW_DATABASE"] = ""
      let run = try await SampleProcess(name: "ticket-model-evaluation").run(
        ["--log-level", "error"], in: home, environment: environment)
      #expect(run.status == 0, "\(run.stderr)")
      let database = home.appendingPathComponent(".flow/flow.sqlite").path
      #expect(FileManager.default.fileExists(atPath: database))
      #expect(run.stderr.contains("Recording the run in sqlite:\(database)"), "\(run.stderr)")
      let idLine = try #require(
        run.stderr.split(separator: "\n").first { $0.hasPrefix("Flow run ID ") })
      let id = String(idLine.dropFirst("Flow run ID ".count).prefix(36))

      let shown = try await SampleProcess(name: "flow").run(
        ["runs", "show", id], in: home, environment: environment)
      #expect(shown.status == 0, "\(shown.stderr)")
      let text = shown.stdout
      #expect(text.contains("flow:      ticket-model-evaluation"))
      #expect(text.contains("state:     Success"))
      #expect(text.contains("Parameters (3):"))
      for parameter in ["batch-size", "sample-seed", "data-url"] {
        #expect(text.contains("  \(parameter) "), "\(parameter) missing:\n\(text)")
      }
      #expect(text.contains("Task runs (10):"))
      let tasks = [
        "get_trial_id", "get_ticket_data_batch", "get_target", "predict", "evaluate_model",
        "evaluate_model-2", "evaluate_model-3", "evaluate_model-4", "get_trial_summary",
        "write_trial_summary",
      ]
      let rows = text.split(separator: "\n").filter { $0.hasPrefix("  ") }
      for slug in tasks {
        let row = rows.first { $0.hasPrefix("  \(slug) ") }
        #expect(row?.contains("Success") == true, "\(slug):\n\(text)")
        // A start time and a duration (e.g. `2026-12-03T04:35:47.151Z  0.3ms`).
        let timed = row.map { $0.contains(#/Z +[0-9.]+(ms|s) /#) } ?? false
        #expect(timed, "\(slug) has no start time and duration:\n\(text)")
      }
    }
  }
}

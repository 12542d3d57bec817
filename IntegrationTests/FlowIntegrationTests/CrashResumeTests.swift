import FlowCore
import FlowStorePostgres
import FlowStoreSQLite
import Foundation
import Testing

/// kill -9 a recorded run, see it Crashed after the heartbeat TTL, resume it with
/// `flow runs resume`, and check that the persisted tasks did not run again.
extension SampleSuites {
  @Suite("Crashed runs are reported and resumed", .timeLimit(.minutes(3)))
  struct CrashResumeTests {
    /// The databases to try: SQLite always, PostgreSQL with FLOW_TEST_POSTGRES_URL.
    static let databases: [String] = {
      var all = ["sqlite"]
      if ProcessInfo.processInfo.environment["FLOW_TEST_POSTGRES_URL"] != nil {
        all.append("postgres")
      }
      return all
    }()

    @Test(
      "kill -9, Crashed after the TTL, resume: the checkpointed task is not run again",
      arguments: databases)
    func killAndResume(database: String) async throws {
      let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
        "crash-resume-\(UUID().uuidString)")
      try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
      defer { try? FileManager.default.removeItem(at: directory) }
      let results = directory.appendingPathComponent("results")
      try FileManager.default.createDirectory(at: results, withIntermediateDirectories: true)
      let hold = results.appendingPathComponent("hold")
      try Data().write(to: hold)
      let location =
        database == "sqlite"
        ? "sqlite:" + directory.appendingPathComponent("flow.sqlite").path
        : ProcessInfo.processInfo.environment["FLOW_TEST_POSTGRES_URL"]!
      var environment = ProcessInfo.processInfo.environment
      environment["FLOW_DATABASE"] = location
      environment["FLOW_HEARTBEAT_INTERVAL"] = "0.2"
      environment["FLOW_HEARTBEAT_TTL"] = "1"

      // 1. Start a recorded run and kill it while `slow` holds.
      let probe = Process()
      probe.executableURL = try SampleProcess(name: "RecordingProbe").binary()
      probe.arguments = ["run", "--results-dir", results.path, "--log-level", "critical"]
      probe.currentDirectoryURL = directory
      probe.environment = environment
      probe.standardOutput = FileHandle.nullDevice
      let stderr = Pipe()
      probe.standardError = stderr
      let errors = PipeReader(stderr)
      try probe.run()
      let ran = results.appendingPathComponent("ran")
      var waited = 0
      while (try? String(contentsOf: ran, encoding: .utf8))?.contains("slow") != true {
        try await Task.sleep(for: .milliseconds(50))
        waited += 1
        #expect(waited < 600, "the probe never reached `slow`")
        if waited >= 600 { break }
      }
      // Let a heartbeat or two land, then kill -9.
      try await Task.sleep(for: .milliseconds(500))
      kill(probe.processIdentifier, SIGKILL)
      probe.waitUntilExit()
      #expect(probe.terminationReason == .uncaughtSignal)
      let startup = String(decoding: await errors.data(), as: UTF8.self)
      #expect(startup.contains("Recording the run in"), "\(startup)")
      let id = try await RunsReader.lastRunID(location: location)

      // 2. Right after the kill the run still says Running; after the TTL readers say Crashed.
      let flowTool = SampleProcess(name: "flow")
      let before = try await flowTool.run(
        ["runs", "show", id], in: directory,
        environment: ["FLOW_DATABASE": location, "FLOW_HEARTBEAT_TTL": "30"])
      #expect(before.stdout.contains("state:     Running"), "\(before.stdout)\(before.stderr)")
      try await Task.sleep(for: .milliseconds(1500))
      let crashed = try await flowTool.run(
        ["runs", "list", "--state", "Crashed", "--flow", "probe"], in: directory,
        environment: ["FLOW_DATABASE": location, "FLOW_HEARTBEAT_TTL": "1"])
      #expect(crashed.status == 0, "\(crashed.stderr)")
      #expect(crashed.stdout.contains(id), "\(crashed.stdout)")
      let shown = try await flowTool.run(
        ["runs", "show", id], in: directory,
        environment: ["FLOW_DATABASE": location, "FLOW_HEARTBEAT_TTL": "1"])
      #expect(shown.stdout.contains("state:     Crashed"), "\(shown.stdout)")
      #expect(shown.stdout.contains("flow runs resume \(id)"))

      // 3. Resume through `flow runs resume`: it re-runs the recorded command with --resume.
      try FileManager.default.removeItem(at: hold)
      let resumed = try await flowTool.run(
        ["runs", "resume", id], in: directory,
        environment: ["FLOW_DATABASE": location, "FLOW_HEARTBEAT_TTL": "1"])
      #expect(resumed.status == 0, "\(resumed.stdout)\(resumed.stderr)")
      let bodies = try String(contentsOf: ran, encoding: .utf8).split(separator: "\n")
      // `first` was checkpointed before the kill: it ran once. `slow` was killed mid-body and
      // ran again; `last` ran once, in the resumed run.
      #expect(bodies == ["first", "slow", "slow", "last"])
      let after = try await flowTool.run(
        ["runs", "show", id], in: directory, environment: ["FLOW_DATABASE": location])
      #expect(after.stdout.contains("state:     Success"), "\(after.stdout)")
      #expect(after.stdout.contains("first"))
      let firstLine = after.stdout.split(separator: "\n").first { $0.contains("  first ") }
      #expect(firstLine?.contains("Cached") == true, "\(after.stdout)")
    }
  }
}

/// Reads the newest run of flow `probe` straight from the database.
enum RunsReader {
  static func lastRunID(location: String) async throws -> String {
    let query = FlowRunQuery(flowName: "probe", limit: 1, staleBefore: .distantPast)
    let runs: [FlowRunRecord]
    if location.hasPrefix("sqlite:") {
      let store = try await SQLiteRunStore.open(
        path: String(location.dropFirst("sqlite:".count)), migrating: false)
      runs = try await store.flowRuns(query)
      await store.close()
    } else {
      runs = try await PostgresRunStore.withStore(url: location) { try await $0.flowRuns(query) }
    }
    return try #require(runs.first).id.uuidString.lowercased()
  }
}

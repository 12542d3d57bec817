import FlowCore
import FlowStorePostgres
import FlowStoreSQLite
import Foundation
import Testing

/// Agents as real processes on one database: they claim runs with leases, one is killed with
/// SIGKILL mid-run, another takes its runs over and resumes them from their recorded history.
extension SampleSuites {
  @Suite("Agents claim, crash and take over runs", .timeLimit(.minutes(4)))
  struct AgentIntegrationTests {
    /// SQLite always, PostgreSQL with FLOW_TEST_POSTGRES_URL.
    static let databases = CrashResumeTests.databases

    /// How many runs the takeover test queues (FLOW_TEST_AGENT_RUNS for a larger run).
    static let runCount =
      ProcessInfo.processInfo.environment["FLOW_TEST_AGENT_RUNS"].flatMap(Int.init) ?? 24

    /// The probe's flow with its own result store, and the one that relies on the agents'
    /// durable outputs (persisted by default).
    static let flows = ["agent-probe", "agent-probe-durable"]

    @Test(
      "kill -9 an agent mid-run: its runs are taken over and resumed, each exactly once",
      arguments: databases, flows)
    func takeover(database: String, flow: String) async throws {
      let scene = try AgentScene(database: database)
      defer { scene.stop() }
      let deployed = try await scene.probe(
        [
          "deploy", flow, "--name", "probe-\(scene.label)", "--labels", scene.label,
          "--crash-retries", "3",
        ])
      #expect(deployed.status == 0, "\(deployed.stderr)")
      let ids = try await scene.withStore { store in
        let deployment = try #require(
          try await store.deployment(project: "default", name: "probe-\(scene.label)"))
        var ids: [UUID] = []
        for n in 0..<Self.runCount {
          let run = try await store.createDeploymentRun(
            DeploymentRunRequest(
              runID: UUID(), deploymentID: deployment.id, scheduledAt: Date(),
              parameters: ["n": "\(n)", "delay-ms": "2000"], idempotencyKey: "test-\(n)",
              now: Date()))
          #expect(run.created)
          ids.append(run.run.id)
        }
        return ids
      }
      let agents = try (0..<3).map { try scene.startAgent("a\($0)") }
      // Kill the first agent mid-run, once `first` is checkpointed in every run it holds
      // (they are then in `slow`, a 2 s body), a second one at a random moment after that.
      // A kill between a body's end and its checkpoint's commit would run that body again:
      // at least once is all any engine can promise for the body a process dies in.
      try await scene.waitForCheckpoints(of: "a0", among: ids)
      kill(agents[0].processIdentifier, SIGKILL)
      try await scene.waitForCheckpoints(of: "a1", among: ids)
      try await Task.sleep(for: .milliseconds(Int64.random(in: 0...700)))
      kill(agents[1].processIdentifier, SIGKILL)
      _ = try scene.startAgent("a3")
      let (runs, histories) = try await scene.finishedRuns(ids, timeout: 150)
      #expect(runs.allSatisfy { $0.state == "Success" }, "\(runs.map(\.state))")
      let crashed = runs.filter { $0.crashes > 0 }
      #expect(!crashed.isEmpty, "no run was held by the killed agents")
      for run in runs {
        let history = histories[run.id] ?? []
        #expect(history.map(\.epoch) == Array(1...Int64(history.count)))
        for (held, next) in zip(history, history.dropFirst()) {
          #expect(
            held.endedAt <= next.claimedAt,
            "run \(run.id): epoch \(held.epoch) overlapped epoch \(next.epoch)")
        }
      }
      // Every checkpointed body ran once per run: `first` and `last` once; `slow` again only
      // in runs whose agent was killed while it ran.
      var counts: [String: Int] = [:]
      for line in scene.sideEffects() { counts[line, default: 0] += 1 }
      for (n, run) in runs.enumerated() {
        let held = (histories[run.id] ?? []).map { "\($0.agentID)@\($0.epoch)" }
        #expect(
          counts["\(n) first"] == 1,
          "run \(n): first ran \(counts["\(n) first"] ?? 0)×, held by \(held)")
        #expect(
          counts["\(n) last"] == 1,
          "run \(n): last ran \(counts["\(n) last"] ?? 0)×, held by \(held)")
        #expect((counts["\(n) slow"] ?? 0) >= 1)
      }
      print(
        "Agents on \(database) (\(flow)): \(Self.runCount) runs, \(crashed.count) taken over after a "
          + "kill -9, max epoch \(runs.map(\.leaseEpoch).max() ?? 0)")
    }

    /// How a scheduled deployment gets its runs: `serve` alone, or `deploy` then a plain agent
    /// (agents create scheduled runs too).
    static let schedulers = ["serve", "deploy, then agent"]

    @Test(
      "an every-second interval makes one run per fire time, with serve or deploy and an agent",
      arguments: databases, schedulers)
    func serve(database: String, scheduler: String) async throws {
      let scene = try AgentScene(database: database)
      defer { scene.stop() }
      let deployment = [
        "tick", "--project", "default", "--name", "tick-\(scene.label)", "--interval", "1s",
        "--labels", scene.label,
      ]
      let agent = ["--agent-labels", scene.label, "--poll", "0.2", "--log-level", "critical"]
      let serve: Process
      if scheduler == "serve" {
        serve = try scene.start(["serve"] + deployment + agent, log: "serve")
      } else {
        let deployed = try await scene.probe(["deploy"] + deployment)
        #expect(deployed.status == 0, "\(deployed.stderr)")
        serve = try scene.start(["agent"] + agent, log: "serve")
      }
      try await Task.sleep(for: .seconds(5))
      // The agent registered itself (the server lists it even before it claims anything).
      let pid = Int(serve.processIdentifier)
      let registered = try await scene.withStore { store in
        try await store.registeredAgents().filter { $0.processID == pid }
      }
      #expect(registered.count == 1 && registered.first?.labels == [scene.label])
      #expect(registered.first?.stoppedAt == nil)
      let stoppedAt = Date()
      kill(serve.processIdentifier, SIGTERM)
      try await scene.waitFor("serve to stop after SIGTERM", timeout: 20) { !serve.isRunning }
      #expect(serve.terminationStatus == 0, "\(scene.log("serve"))")
      let stopped = try await scene.withStore { store in
        try await store.registeredAgents().filter { $0.processID == pid }
      }
      #expect(stopped.first?.stoppedAt != nil, "a cleanly stopped agent is marked stopped")
      let runs = try await scene.withStore { store in
        let deployment = try #require(
          try await store.deployment(project: "default", name: "tick-\(scene.label)"))
        return try await store.deploymentRuns(
          DeploymentRunQuery(deploymentID: deployment.id, limit: 1000))
      }
      let times = runs.map(\.scheduledAt.timeIntervalSince1970).sorted()
      #expect(Set(times).count == times.count, "a fire time has two runs")
      #expect(times.allSatisfy { $0 == $0.rounded() }, "fire times are on whole seconds")
      for (a, b) in zip(times, times.dropFirst()) { #expect(b - a == 1, "a gap: \(a) → \(b)") }
      let due = runs.filter { $0.scheduledAt < stoppedAt.addingTimeInterval(-1) }
      #expect(due.count >= 3, "\(runs.map(\.state))")
      #expect(due.allSatisfy { $0.state == "Success" }, "\(due.map(\.state))")
      let lateness = try await scene.withStore { store in
        var lateness: [Double] = []
        for run in due {
          if let record = try await store.flowRun(id: run.id) {
            lateness.append(record.startedAt.timeIntervalSince(run.scheduledAt))
          }
        }
        return lateness.sorted()
      }
      print(
        "\(scheduler) on \(database): \(due.count) runs, lateness (fire time to start) "
          + lateness.map { String(format: "%.0fms", $0 * 1000) }.joined(separator: " "))
    }
  }
}

/// A test's directory, database, label and agent processes.
final class AgentScene: @unchecked Sendable {
  // @unchecked: `processes` is only touched under `lock`.
  let directory: URL
  let location: String
  /// The label of this test's deployments and agents: another test's runs on a shared
  /// PostgreSQL are never claimed here.
  let label = "t" + UUID().uuidString.prefix(8).lowercased()
  private let lock = NSLock()
  private var processes: [Process] = []

  init(database: String) throws {
    directory = FileManager.default.temporaryDirectory.appendingPathComponent(
      "agents-\(UUID().uuidString)")
    try FileManager.default.createDirectory(
      at: directory.appendingPathComponent("results"), withIntermediateDirectories: true)
    switch database {
    case "sqlite": location = "sqlite:" + directory.appendingPathComponent("flow.sqlite").path
    case "postgres": location = ProcessInfo.processInfo.environment["FLOW_TEST_POSTGRES_URL"]!
    default: location = database  // a PostgreSQL URL
    }
  }

  /// A probe process started through another program (`ip netns exec NS`), reaching the
  /// database at its own URL.
  struct Command {
    let executable: String
    let prefix: [String]
    let arguments: [String]
    let database: String
  }

  var results: String { directory.appendingPathComponent("results").path }

  /// Waits (up to `timeout` seconds) for the runs `ids` to finish; returns them in that order,
  /// with each one's lease history.
  func finishedRuns(_ ids: [UUID], timeout: Double) async throws -> (
    runs: [DeploymentRunRecord], histories: [UUID: [LeaseHistoryRecord]]
  ) {
    try await waitFor("every run to finish", timeout: timeout) {
      try await self.withStore { store in
        try await store.deploymentRuns(DeploymentRunQuery(limit: 10_000))
          .filter { ids.contains($0.id) }.allSatisfy(\.isFinished)
      }
    }
    return try await withStore { store in
      var runs: [DeploymentRunRecord] = []
      var histories: [UUID: [LeaseHistoryRecord]] = [:]
      for id in ids {
        runs.append(try #require(try await store.deploymentRun(id: id)))
        histories[id] = try await store.leaseHistory(runID: id)
      }
      return (runs, histories)
    }
  }

  /// Waits until `agent` holds runs among `ids` and each of them has `first` recorded
  /// Success: its checkpoint is in the database.
  func waitForCheckpoints(of agent: String, among ids: [UUID]) async throws {
    try await waitFor("\(agent) to checkpoint `first` in the runs it holds", timeout: 60) {
      try await self.withStore { store in
        let held = try await store.deploymentRuns(DeploymentRunQuery(limit: 10_000))
          .filter { ids.contains($0.id) && $0.leaseAgent == agent && !$0.isFinished }
        guard !held.isEmpty else { return false }
        for run in held {
          let first = try await store.taskRuns(flowRunID: run.id).first { $0.slug == "first" }
          guard first?.state == "Success" else { return false }
        }
        return true
      }
    }
  }

  /// Runs the probe to its end.
  func probe(_ arguments: [String]) async throws -> SampleProcess.Output {
    try await SampleProcess(name: "AgentProbe").run(
      arguments + ["--database", location], in: directory)
  }

  /// Starts the probe with `arguments`, its output in `<log>.log`.
  func start(_ arguments: [String], log: String) throws -> Process {
    try start(
      Command(
        executable: try SampleProcess(name: "AgentProbe").binary().path, prefix: [],
        arguments: arguments, database: location), log: log)
  }

  /// Starts the probe as `command` says, its output in `<log>.log`.
  func start(_ command: Command, log: String) throws -> Process {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: command.executable)
    let probe = try SampleProcess(name: "AgentProbe").binary().path
    process.arguments =
      (command.prefix.isEmpty ? [] : command.prefix + [probe]) + command.arguments
      + ["--database", command.database, "--results-dir", results]
    process.currentDirectoryURL = directory
    let file = directory.appendingPathComponent("\(log).log")
    _ = FileManager.default.createFile(atPath: file.path, contents: nil)
    let handle = try FileHandle(forWritingTo: file)
    process.standardOutput = handle
    process.standardError = handle
    try process.run()
    lock.withLock { processes.append(process) }
    return process
  }

  /// Kills `process` with the scene's own at its end.
  func adopt(_ process: Process) {
    lock.withLock { processes.append(process) }
  }

  /// Starts an agent named `name` with a 5 s lease (long enough for a loaded CI machine).
  func startAgent(_ name: String) throws -> Process {
    try start(
      [
        "agent", "--agent-name", name, "--agent-labels", label, "--limit", "4", "--lease", "5",
        "--poll", "0.2", "--log-level", "critical",
      ], log: name)
  }

  func log(_ name: String) -> String {
    (try? String(contentsOf: directory.appendingPathComponent("\(name).log"), encoding: .utf8))
      ?? ""
  }

  /// The lines the task bodies wrote.
  func sideEffects() -> [String] {
    let text =
      (try? String(contentsOfFile: results + "/ran", encoding: .utf8)) ?? ""
    return text.split(separator: "\n").map(String.init)
  }

  func withStore<T: Sendable>(_ body: (any DeploymentStore) async throws -> T) async throws -> T {
    if location.hasPrefix("sqlite:") {
      let store = try await SQLiteRunStore.open(path: String(location.dropFirst("sqlite:".count)))
      do {
        let result = try await body(store)
        await store.close()
        return result
      } catch {
        await store.close()
        throw error
      }
    }
    return try await PostgresRunStore.withStore(url: location) { try await body($0) }
  }

  func waitFor(
    _ what: String, timeout: Double, _ condition: () async throws -> Bool
  ) async throws {
    let deadline = Date().addingTimeInterval(timeout)
    while try await !condition() {
      if Date() > deadline {
        let logs = ["a0", "a1", "a2", "a3", "serve"].map { "\($0): \(log($0).suffix(2000))" }
        Issue.record("timed out waiting for \(what)\n\(logs.joined(separator: "\n"))")
        stop()
        throw CancellationError()
      }
      try await Task.sleep(for: .milliseconds(100))
    }
  }

  /// Kills every process still running and removes the directory.
  func stop() {
    for process in lock.withLock({ processes }) where process.isRunning {
      kill(process.processIdentifier, SIGKILL)
      process.waitUntilExit()
    }
    try? FileManager.default.removeItem(at: directory)
  }
}

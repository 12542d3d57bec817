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
      // Each agent runs 4 runs at once (16 for a large run, so that it ends in minutes).
      let limit = Self.runCount > 24 ? 16 : 4
      // A 15 s lease: the database is read right after each kill, before the lease runs out
      // and another agent takes the runs over; on a loaded machine (the whole suite on 2
      // cores) that read once took 9 s.
      let lease = 15
      let agents = try (0..<3).map {
        try scene.startAgent("a\($0)", limit: limit, lease: lease)
      }
      // Kill the first agent at a random moment once it holds runs in `slow` (a 2 s body),
      // a second one at random a little later. A body whose process dies between its end and
      // its checkpoint's commit runs again on takeover (at least once is all any engine can
      // promise for it); the kill shows which bodies those were: the rest must run once.
      try await scene.waitFor("a0 to hold runs in `slow`", timeout: 60) {
        try await !scene.held(by: "a0", among: ids).isEmpty
          && scene.sideEffects().contains { $0.hasSuffix(" slow") }
      }
      try await Task.sleep(for: .milliseconds(Int64.random(in: 0...1_000)))
      let first = try await scene.killAgent(agents[0], named: "a0", among: ids, lease: lease)
      #expect(!first.held.isEmpty, "a0 held no run when it was killed")
      try await Task.sleep(for: .milliseconds(Int64.random(in: 200...900)))
      let second = try await scene.killAgent(agents[1], named: "a1", among: ids, lease: lease)
      let uncommitted = first.uncommitted.union(second.uncommitted)
      _ = try scene.startAgent("a3", limit: limit, lease: lease)
      let (runs, histories) = try await scene.finishedRuns(
        ids, timeout: 150 + Double(Self.runCount) / 8)
      #expect(runs.allSatisfy { $0.state == "Success" }, "\(runs.map(\.state))")
      // Every run the killed agents held was taken over.
      let crashed = Set(runs.filter { $0.crashes > 0 }.map(\.id))
      #expect(first.held.union(second.held).isSubset(of: crashed))
      for run in runs {
        let history = histories[run.id] ?? []
        #expect(history.map(\.epoch) == Array(1...Int64(history.count)))
        for (held, next) in zip(history, history.dropFirst()) {
          #expect(
            held.endedAt <= next.claimedAt,
            "run \(run.id): epoch \(held.epoch) overlapped epoch \(next.epoch)")
        }
      }
      // Every checkpointed body ran once per run, or twice if it was one of the killed
      // agents' bodies whose checkpoint was not committed (`slow`, killed while it ran).
      var counts: [String: Int] = [:]
      for line in scene.sideEffects() { counts[line, default: 0] += 1 }
      for (n, run) in runs.enumerated() {
        let held = (histories[run.id] ?? []).map { "\($0.agentID)@\($0.epoch)" }
        for task in ["first", "slow", "last"] {
          let line = "\(n) \(task)"
          let allowed = 1...(uncommitted.contains(line) ? 2 : 1)
          #expect(
            allowed.contains(counts[line] ?? 0),
            "run \(n): \(task) ran \(counts[line] ?? 0)×, held by \(held)")
        }
      }
      let cut = uncommitted.filter { !$0.hasSuffix(" slow") }.count
      print(
        "Agents on \(database) (\(flow)): \(Self.runCount) runs, \(crashed.count) taken over after a "
          + "kill -9, max epoch \(runs.map(\.leaseEpoch).max() ?? 0); \(cut) bodies other than "
          + "`slow` were killed between their end and their checkpoint's commit")
    }

    /// How long the every-second deployment is served (FLOW_TEST_SERVE_SECONDS for longer).
    static let serveSeconds =
      ProcessInfo.processInfo.environment["FLOW_TEST_SERVE_SECONDS"].flatMap(Int.init) ?? 5

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
      try await Task.sleep(for: .seconds(Self.serveSeconds))
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
      // The deployment's schedule is taken off again: on a shared PostgreSQL the schedulers
      // of later tests would otherwise go on making runs of it that no agent claims.
      let unscheduled = try await scene.probe([
        "deploy", "tick", "--project", "default", "--name", "tick-\(scene.label)", "--labels",
        scene.label, "--no-schedule",
      ])
      #expect(unscheduled.status == 0, "\(unscheduled.stderr)")
      let times = runs.map(\.scheduledAt.timeIntervalSince1970).sorted()
      #expect(Set(times).count == times.count, "a fire time has two runs")
      #expect(times.allSatisfy { $0 == $0.rounded() }, "fire times are on whole seconds")
      for (a, b) in zip(times, times.dropFirst()) { #expect(b - a == 1, "a gap: \(a) → \(b)") }
      let due = runs.filter { $0.scheduledAt < stoppedAt.addingTimeInterval(-1) }
      #expect(due.count >= Self.serveSeconds - 2, "\(runs.map(\.state))")
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
        "\(scheduler) on \(database): \(due.count) runs in \(Self.serveSeconds) s, one per fire "
          + "time, lateness (fire time to start) "
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

  /// The unfinished runs among `ids` whose lease `agent` holds. Reads Running runs only: a
  /// read of every run of a shared database that earlier tests filled took seconds on a loaded
  /// machine, long enough for the runs it saw held to end before the kill it timed.
  func held(by agent: String, among ids: [UUID]) async throws -> [DeploymentRunRecord] {
    let wanted = Set(ids)
    return try await withStore { store in
      try await store.deploymentRuns(DeploymentRunQuery(states: ["Running"], limit: 10_000))
        .filter { wanted.contains($0.id) && $0.leaseAgent == agent && !$0.isFinished }
    }
  }

  /// Kills the agent `process` (named `agent`) with SIGKILL and returns the runs it held and
  /// the bodies it ran ("N TASK", as the probe notes them) in those runs whose task the
  /// database does not have Success: their checkpoints were not committed, so they may run
  /// again. Read at once, well within the lease, before another agent can take the runs over.
  func killAgent(_ process: Process, named agent: String, among ids: [UUID], lease: Int)
    async throws
    -> (held: Set<UUID>, uncommitted: Set<String>)
  {
    kill(process.processIdentifier, SIGKILL)
    process.waitUntilExit()
    let killed = Date()
    let ran = Set(sideEffects())
    var uncommitted: Set<String> = []
    let runs = try await held(by: agent, among: ids)
    try await withStore { store in
      for run in runs {
        guard let n = run.parameters["n"] else { continue }
        let succeeded = Set(
          try await store.taskRuns(flowRunID: run.id).filter { $0.state == "Success" }.map(\.slug))
        for task in ["first", "slow", "last"] where !succeeded.contains(task) {
          if ran.contains("\(n) \(task)") { uncommitted.insert("\(n) \(task)") }
        }
      }
    }
    #expect(
      Date().timeIntervalSince(killed) < Double(lease - 1),
      "reading the killed agent's runs outlasted its lease")
    return (Set(runs.map(\.id)), uncommitted)
  }

  /// Waits until `agent` holds runs among `ids` and each of them is early in `slow` (a body
  /// of `delay` seconds, started less than half of it ago) with `first` recorded Success: its
  /// checkpoint is in the database and the kill cannot land in another body.
  func waitUntilInSlow(agent: String, among ids: [UUID], delay: Double) async throws {
    try await waitFor("\(agent) to be in `slow` of every run it holds", timeout: 60) {
      let held = try await self.held(by: agent, among: ids)
      guard !held.isEmpty else { return false }
      let recent = Date().addingTimeInterval(-delay / 2)
      return try await self.withStore { store in
        for run in held {
          let tasks = try await store.taskRuns(flowRunID: run.id)
          guard tasks.first(where: { $0.slug == "first" })?.state == "Success",
            let slow = tasks.first(where: { $0.slug == "slow" }), slow.state == "Running",
            let started = slow.startedAt, started > recent
          else { return false }
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

  /// Starts an agent named `name` running up to `limit` runs at once, with a lease of `lease`
  /// seconds (5 s is long enough for a loaded CI machine).
  func startAgent(_ name: String, limit: Int = 4, lease: Int = 5) throws -> Process {
    try start(
      [
        "agent", "--agent-name", name, "--agent-labels", label, "--limit", "\(limit)", "--lease",
        "\(lease)",
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

import FlowCore
import FlowStoreSQLite
import Foundation
import Testing

@testable import FlowCLI

/// `run` records into the database `--database`/`FLOW_DATABASE` names; `runs` and `db` read it.
@Suite("Run history commands", .timeLimit(.minutes(1)))
struct RunHistoryCommandTests {
  /// A temporary database location and the environment naming it.
  struct Database {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
      "flow-cli-\(UUID().uuidString)")
    var path: String { directory.appendingPathComponent("flow.sqlite").path }
    var environment: [String: String] {
      ProcessInfo.processInfo.environment.merging(["FLOW_DATABASE": "sqlite:\(path)"]) { $1 }
    }
    func remove() { try? FileManager.default.removeItem(at: directory) }
  }

  func execute(_ database: Database, _ arguments: String...) async -> (Int32, Captured) {
    let captured = Captured()
    let status = await commandLine(Recorder()).execute(
      arguments, output: captured.output, handlingSignals: false,
      environment: database.environment)
    return (status, captured)
  }

  @Test("agents list shows a registered agent that never claimed a run, and a stopped one")
  func agentsList() async throws {
    let database = Database()
    defer { database.remove() }
    let (empty, none) = await execute(database, "agents")
    #expect(empty == 0, "\(none.err)")
    #expect(none.out == "No agents\n")
    let store = try await SQLiteRunStore.open(path: database.path)
    let now = Date()
    for (name, stopped) in [("idle-agent", nil), ("old-agent", now)] as [(String, Date?)] {
      try await store.registerAgent(
        AgentRecord(
          agentID: name, host: "box", processID: 42, labels: ["gpu", "eu"], limit: 4, flows: [],
          heartbeatInterval: .seconds(10), startedAt: now.addingTimeInterval(-7_200),
          lastHeartbeatAt: now.addingTimeInterval(-1), stoppedAt: stopped))
    }
    await store.close()
    let (status, list) = await execute(database, "agents", "list")
    #expect(status == 0, "\(list.err)")
    let lines = list.out.split(separator: "\n").map(String.init)
    #expect(lines.count == 3, "\(list.out)")
    let idle = try #require(lines.first { $0.hasPrefix("idle-agent") })
    #expect(idle.contains("Idle") && idle.contains("box:42") && idle.contains("0/4"))
    #expect(idle.contains("gpu,eu"))
    // Its last heartbeat was a second before the listing, or a few under load.
    #expect(idle.contains(#/ [1-9][0-9]?s ago/#), "\(idle)")
    #expect(lines.contains { $0.hasPrefix("old-agent") && $0.contains("Stopped") })
  }

  @Test("runs cancel: a queued deployment run ends Cancelled; ended and local runs are errors")
  func cancel() async throws {
    let database = Database()
    defer { database.remove() }
    _ = await execute(database, "deploy", "main")
    let (_, created) = await execute(database, "run-deployment", "main")
    let id = try #require(created.out.firstMatch(of: #/Flow run ([0-9a-f-]{36})/#)).output.1
    let (status, cancelled) = await execute(database, "runs", "cancel", String(id))
    #expect(status == 0, "\(cancelled.err)")
    #expect(cancelled.out == "Run \(id): Cancelled (no agent had claimed it)\n")
    let (again, ended) = await execute(database, "runs", "cancel", String(id))
    #expect(again == 1)
    #expect(ended.err.contains("run \(id) already ended Cancelled; nothing to cancel"))
    let (ran, local) = await execute(database, "run", "main")
    #expect(ran == 0, "\(local.err)")
    let localID = try #require(local.err.firstMatch(of: #/run ID ([0-9a-f-]{36})/#)).output.1
    let (refused, notAgent) = await execute(database, "runs", "cancel", String(localID))
    #expect(refused == 1)
    #expect(notAgent.err.contains("was not started by an agent"), "\(notAgent.err)")
    let (unknown, none) = await execute(
      database, "runs", "cancel", "3f2a9c1e-8b7d-4e6f-a5c4-1d2e3f4a5b6c")
    #expect(unknown == 1 && none.err.contains("3f2a9c1e-8b7d-4e6f-a5c4-1d2e3f4a5b6c"))
  }

  @Test("a usage error found while a subcommand runs shows that subcommand's usage and help")
  func subcommandUsage() async throws {
    let database = Database()
    defer { database.remove() }
    let (status, bad) = await execute(database, "deploy", "--cron", "61 * * * *")
    #expect(status == 64)
    #expect(bad.err.hasPrefix("Error: --cron: the cron expression is invalid: minute: 61"))
    #expect(bad.err.contains("\nUsage: demo deploy [<flows> ...]"), "\(bad.err)")
    #expect(bad.err.contains("See 'demo deploy --help' for more information."))
    #expect(!bad.err.contains("<subcommand>"))
  }

  @Test("deploy registers the flow's declared schedule unless --interval, --cron or --no-schedule")
  func declaredSchedule() async throws {
    let database = Database()
    defer { database.remove() }
    let (declared, first) = await execute(database, "deploy", "ticking", "main")
    #expect(declared == 0, "\(first.err)")
    #expect(first.out.contains("Deployment default/ticking version 1"), "\(first.out)")
    #expect(first.out.contains("schedule: every 0.2s"), "\(first.out)")
    #expect(first.out.contains("Deployment default/main version 1 (flow main@"))
    #expect(first.out.contains("schedule: none"), "main declares no schedule: \(first.out)")
    let (overridden, second) = await execute(database, "deploy", "ticking", "--interval", "5m")
    #expect(overridden == 0, "\(second.err)")
    #expect(second.out.contains("schedule: every 5m"), "\(second.out)")
    let (off, third) = await execute(database, "deploy", "ticking", "--no-schedule")
    #expect(off == 0, "\(third.err)")
    #expect(third.out.contains("schedule: none"), "\(third.out)")
    let (both, conflict) = await execute(
      database, "deploy", "ticking", "--no-schedule", "--cron", "* * * * *")
    #expect(both == 64)
    #expect(conflict.err.contains("--no-schedule registers no schedule"))
  }

  @Test("deployments pause and resume a schedule; deploy keeps it paused; bad targets are errors")
  func pauseAndResume() async throws {
    let database = Database()
    defer { database.remove() }
    let (deployed, deploy) = await execute(database, "deploy", "ticking", "main")
    #expect(deployed == 0, "\(deploy.err)")
    let (paused, pause) = await execute(database, "deployments", "pause", "ticking")
    #expect(paused == 0, "\(pause.err)")
    #expect(pause.out == "Schedule of default/ticking (every 0.2s) paused\n", "\(pause.out)")
    let (_, list) = await execute(database, "deployments", "list")
    #expect(list.out.contains("default/ticking version 1"), "\(list.out)")
    #expect(list.out.contains("schedule: every 0.2s (paused)"), "\(list.out)")
    let (again, redeploy) = await execute(database, "deploy", "ticking")
    #expect(again == 0, "\(redeploy.err)")
    #expect(redeploy.out.contains("schedule: every 0.2s (paused)"), "\(redeploy.out)")
    #expect(
      redeploy.err.contains(
        "the schedule of default/ticking stays paused; resume it with `flow deployments resume "
          + "default/ticking`"), "\(redeploy.err)")
    let (resumed, resume) = await execute(database, "deployments", "resume", "default/ticking")
    #expect(resumed == 0, "\(resume.err)")
    #expect(resume.out == "Schedule of default/ticking (every 0.2s) resumed\n", "\(resume.out)")
    let store = try await SQLiteRunStore.open(path: database.path)
    let record = try await store.deployment(project: "default", name: "ticking")
    await store.close()
    #expect(record?.schedulePaused == false && record?.scheduleResumedAt != nil)
    let (unscheduled, none) = await execute(database, "deployments", "pause", "main")
    #expect(unscheduled == 1)
    #expect(none.err.contains("default/main has no schedule to pause or resume"), "\(none.err)")
    let (unknown, missing) = await execute(database, "deployments", "resume", "nope")
    #expect(unknown == 1)
    #expect(missing.err.contains("there is no deployment nope"), "\(missing.err)")
    let (usage, bad) = await execute(database, "deployments", "pause", "a/")
    #expect(usage == 64)
    #expect(bad.err.contains("'a/' is not PROJECT/NAME or NAME"), "\(bad.err)")
  }

  @Test("deployments delete: its queued run goes, the listing is empty, a second delete fails")
  func deleteDeployment() async throws {
    let database = Database()
    defer { database.remove() }
    let (deployed, deploy) = await execute(database, "deploy", "main")
    #expect(deployed == 0, "\(deploy.err)")
    let (queued, run) = await execute(database, "run-deployment", "main")
    #expect(queued == 0, "\(run.err)")
    let (deleted, delete) = await execute(database, "deployments", "delete", "default/main")
    #expect(deleted == 0, "\(delete.err)")
    #expect(
      delete.out == "Deployment default/main deleted; 1 run not yet started removed\n",
      "\(delete.out)")
    let (_, list) = await execute(database, "deployments", "list")
    #expect(list.out == "No deployments\n", "\(list.out)")
    let (again, missing) = await execute(database, "deployments", "delete", "main")
    #expect(again == 1)
    #expect(missing.err.contains("there is no deployment main"), "\(missing.err)")
  }

  @Test("run-deployment --wait with no agent running says what the run waits for, and gives up")
  func runDeploymentWaitsForAnAgent() async throws {
    let database = Database()
    defer { database.remove() }
    let (deployed, deploy) = await execute(database, "deploy", "main")
    #expect(deployed == 0, "\(deploy.err)")
    let (status, waited) = await execute(
      database, "run-deployment", "main", "--wait", "--timeout", "4")
    #expect(status != 0)
    let hint = "no agent is running: start one with `demo agent` (or `demo serve`)"
    #expect(waited.err.contains("Waiting for an agent whose executable contains flow main@"))
    #expect(waited.err.contains(hint), "\(waited.err)")
    #expect(waited.err.contains("is still Scheduled after 4.0s. Waiting for"), "\(waited.err)")
  }

  @Test("run-deployment takes PROJECT/NAME, or a NAME one project has; bad names are errors")
  func runDeploymentNames() async throws {
    let database = Database()
    defer { database.remove() }
    let (deployed, deploy) = await execute(database, "deploy", "main")
    #expect(deployed == 0, "\(deploy.err)")
    let (bare, byName) = await execute(database, "run-deployment", "main", "--param", "name=y")
    #expect(bare == 0, "\(byName.err)")
    #expect(byName.out.contains("of default/main created (`demo runs show "), "\(byName.out)")
    let (qualified, byProject) = await execute(database, "run-deployment", "default/main")
    #expect(qualified == 0, "\(byProject.err)")
    #expect(byProject.out.contains("of default/main created"))
    let (unknown, none) = await execute(database, "run-deployment", "nope")
    #expect(unknown != 0)
    #expect(none.err.contains("there is no deployment nope"), "\(none.err)")
    for text in ["/main", "default/", ""] {
      let (malformed, usage) = await execute(database, "run-deployment", text)
      #expect(malformed == 64, "'\(text)'")
      #expect(usage.err.contains("is not PROJECT/NAME or NAME"), "\(usage.err)")
    }
    _ = await execute(database, "projects", "create", "other")
    let (again, other) = await execute(database, "deploy", "main", "--project", "other")
    #expect(again == 0, "\(other.err)")
    let (ambiguous, both) = await execute(database, "run-deployment", "main")
    #expect(ambiguous == 64)
    #expect(
      both.err.contains(
        "several projects have a deployment named 'main': default/main, other/main"),
      "\(both.err)")
    let store = try await SQLiteRunStore.open(path: database.path)
    let runs = try await store.deploymentRuns(DeploymentRunQuery())
    let deployments = try await store.deployments(project: nil)
    await store.close()
    #expect(runs.count == 2, "the refused requests created no run")
    let serving = DeploymentText.serving(
      deployments.sorted { $0.qualifiedName < $1.qualifiedName }, store: "sqlite:x")
    #expect(serving.hasPrefix("Serving 2 deployments from sqlite:x: scheduled runs are created"))
    #expect(
      serving.contains(
        "default/main, other/main have no schedule (--interval or --cron gives one): start a run "
          + "with `flow run-deployment default/main`"), "\(serving)")
  }

  @Test("run records; runs list, show, logs and db status read it back")
  func recordAndRead() async throws {
    let database = Database()
    defer { database.remove() }
    let (status, run) = await execute(
      database, "run", "main", "--param", "batch-size=7", "--log-level", "critical")
    #expect(status == 0, "\(run.err)")
    #expect(run.err.contains("Recording the run in sqlite:\(database.path)"))
    let line = try #require(run.err.split(separator: "\n").first { $0.hasPrefix("Flow run ID ") })
    let id = String(line.dropFirst("Flow run ID ".count).prefix(36))
    #expect(line.contains("(`demo runs show \(id)`)"), "the hint names this executable: \(line)")

    let (listed, list) = await execute(database, "runs", "list")
    #expect(listed == 0)
    #expect(list.out.contains(id) && list.out.contains("main") && list.out.contains("Success"))
    let (_, json) = await execute(database, "runs", "list", "--json", "--state", "Success")
    let object = try #require(
      try JSONSerialization.jsonObject(with: Data(json.out.utf8)) as? [String: Any])
    #expect(object["flowName"] as? String == "main")
    let (_, lowercase) = await execute(database, "runs", "list", "--state", "success")
    #expect(lowercase.out.contains(id), "a state's name is matched whatever its case")
    let (_, none) = await execute(database, "runs", "list", "--flow", "broken")
    #expect(!none.out.contains(id))

    let (shown, show) = await execute(database, "runs", "show", id, "--transitions")
    #expect(shown == 0, "\(show.err)")
    #expect(show.out.contains("Parameters (6):"))
    #expect(show.out.contains("batch-size"))
    #expect(show.out.contains("7  (Int, default 10)"))
    #expect(show.out.contains("Task runs (1):"))
    #expect(show.out.contains("echo"))
    #expect(show.out.contains("flow run: Pending → Running"))
    let (_, dot) = await execute(database, "runs", "show", id, "--graph", "dot")
    #expect(
      dot.out.contains("\"echo\" [shape=box, label=\"echo\", style=filled, fillcolor=\"#28a745\"]"))

    let (_, logs) = await execute(database, "runs", "logs", id)
    #expect(logs.out.contains("Beginning Flow run for 'main'"))
    #expect(logs.out.contains("[echo] Starting task run..."))
    let (_, quiet) = await execute(database, "runs", "logs", id, "--level", "error")
    #expect(quiet.out.isEmpty)

    let (_, db) = await execute(database, "db", "status")
    #expect(db.out.contains("schema version \(RunStoreSchema.current)"))
    let (pruned, prune) = await execute(database, "runs", "prune", "--older-than", "0s")
    #expect(pruned == 0)
    #expect(prune.out.contains("Pruned 1 flow run(s)"))
    let (gone, missing) = await execute(database, "runs", "show", id)
    #expect(gone == 1)
    #expect(missing.err.contains("no flow run has the ID \(id)"))
  }

  @Test("runs show, logs and resume take the first characters of a run's ID")
  func idPrefix() async throws {
    let database = Database()
    defer { database.remove() }
    let store = try await SQLiteRunStore.open(path: database.path)
    var batch = RunStoreBatch()
    let ids = ["9a23e7be-0000-4000-8000-000000000001", "9a23f000-0000-4000-8000-000000000002"]
    batch.flowRuns = ids.enumerated().map { index, id in
      FlowRunRecord(
        id: UUID(uuidString: id)!, flowName: "main", flowVersion: "v1", parameters: [:],
        executor: "sequential", host: "box", processID: 42, command: [],
        scheduledAt: Date(timeIntervalSince1970: Double(index)),
        startedAt: Date(timeIntervalSince1970: Double(index)),
        endedAt: Date(timeIntervalSince1970: Double(index) + 1), state: "Success", message: nil,
        heartbeatAt: Date(timeIntervalSince1970: Double(index) + 1))
    }
    try await store.write(batch)
    await store.close()

    let (shown, show) = await execute(database, "runs", "show", "9a23e7be")
    #expect(shown == 0, "\(show.err)")
    #expect(show.out.hasPrefix("Flow run \(ids[0])"))
    let (_, logs) = await execute(database, "runs", "logs", "9A23F")
    #expect(logs.err.isEmpty, "\(logs.err)")
    let (ambiguous, both) = await execute(database, "runs", "show", "9a23")
    #expect(ambiguous == 1)
    #expect(both.err.contains("'9a23' starts the IDs of 2 runs; give more of the ID"))
    #expect(both.err.contains(ids[0]) && both.err.contains(ids[1]))
    let (resumed, resume) = await execute(database, "runs", "resume", "9a23e7")
    #expect(resumed == 1)
    #expect(resume.err.contains("run \(ids[0]) was started from a library"), "\(resume.err)")
    let (unknown, missing) = await execute(database, "runs", "show", "0bad")
    #expect(unknown == 1)
    #expect(missing.err.contains("no flow run has the ID 0bad"))
    let (short, tooShort) = await execute(database, "runs", "show", "9a2")
    #expect(short == 64)
    #expect(tooShort.err.contains("or their first characters (at least 4"))
  }

  @Test("--database none records nothing; bad locations and IDs are clear errors")
  func badInput() async throws {
    let database = Database()
    defer { database.remove() }
    let (status, run) = await execute(
      database, "run", "main", "--database", "none", "--log-level", "critical")
    #expect(status == 0)
    #expect(!run.err.contains("Recording"))
    #expect(!FileManager.default.fileExists(atPath: database.path))

    let (badURL, url) = await execute(database, "runs", "list", "--database", "mysql://x")
    #expect(badURL == 64)
    #expect(url.err.contains("is not a database location; write sqlite:PATH"))
    let (badID, id) = await execute(database, "runs", "show", "not-an-id")
    #expect(badID == 64)
    #expect(id.err.contains("is not a run ID"))
    #expect(id.err.contains("(see `demo runs list`)"))
    let (badLevel, level) = await execute(
      database, "runs", "logs", UUID().uuidString, "--level", "loud")
    #expect(badLevel == 64)
    #expect(level.err.contains("--level loud is not a level"))
    let (badState, state) = await execute(database, "runs", "list", "--state", "Sucess")
    #expect(badState == 64)
    #expect(state.err.contains("'Sucess' is not a run state; use one of Pending, Scheduled"))
    let (badAge, age) = await execute(database, "runs", "prune", "--older-than", "soon")
    #expect(badAge == 64)
    #expect(age.err.contains("is not an age"))
    let (unreachable, server) = await execute(
      database, "runs", "list", "--database", "postgres://flow:secret@127.0.0.1:1/flow")
    #expect(unreachable == 1)
    #expect(server.err.contains("cannot reach the PostgreSQL server"))
    #expect(!server.err.contains("secret"))
  }

  @Test("run --resume of an unknown run fails before running anything")
  func resumeUnknown() async throws {
    let database = Database()
    defer { database.remove() }
    let unknown = UUID().uuidString.lowercased()
    let (status, run) = await execute(database, "run", "main", "--resume", unknown)
    #expect(status == 1)
    #expect(run.err.contains("no flow run has the ID \(unknown)"))
  }
}

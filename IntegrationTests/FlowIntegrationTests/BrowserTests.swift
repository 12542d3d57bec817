import FlowClusterProtocol
import FlowCore
import FlowStoreSQLite
import Foundation
import Testing

/// The server's UI in a real headless Chromium driven over WebDriver: the ticket sample's run
/// recorded into a temporary SQLite database, `flow server` on it, the run list, the run's
/// schematic all Success, a hostile task name shown as text, and a state change arriving live.
@Suite(
  "The server UI in a real browser", .serialized, .timeLimit(.minutes(5)),
  .enabled(if: BrowserTools.available))
struct BrowserTests {
  /// Where screenshots go: beside the test bundle, under the build folder.
  static let artifacts: URL = {
    let bundle = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    let directory = bundle.appendingPathComponent("browser-screenshots")
    try? FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    return directory
  }()

  /// A temporary directory, the server on a database in it, chromedriver and a session;
  /// everything is stopped and removed afterwards.
  static func withBrowser(
    _ body: (_ directory: URL, _ database: String, _ server: String, _ browser: WebDriver)
      async throws -> Void
  ) async throws {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
      "flow-browser-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    let database = directory.appendingPathComponent("flow.sqlite").path
    // The database exists (migrated) before the server opens it.
    await (try SQLiteRunStore.open(path: database)).close()
    let flow = try SampleProcess(name: "flow").binary()
    let server = try ChildProcess(
      flow, ["server", "--database", "sqlite:\(database)", "--port", "0"])
    defer { server.stop() }
    let line = try await server.waitForLine(containing: "listening on http://")
    let address = try #require(line.firstMatch(of: #/http://[0-9.]+:[0-9]+/#)).output
    let port = try BrowserTools.freePort()
    // Chromium keeps its profile and singleton socket under TMPDIR: a directory of this test's,
    // removed with the browser (one that did not exit cleanly left them in /tmp before). Its
    // path stays short: the socket's path must fit in 108 bytes.
    let browserTemporary = FileManager.default.temporaryDirectory.appendingPathComponent(
      "fb-\(UUID().uuidString.prefix(8))")
    try FileManager.default.createDirectory(
      at: browserTemporary, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: browserTemporary) }
    let driver = try ChildProcess(
      try #require(BrowserTools.chromedriver), ["--port=\(port)", "--allowed-ips=127.0.0.1"],
      environment: ["TMPDIR": browserTemporary.path])
    defer { driver.stop() }
    _ = try await driver.waitForLine(containing: "started successfully")
    let browser = try await WebDriver.start(
      base: URL(string: "http://127.0.0.1:\(port)")!, chromium: try #require(BrowserTools.chromium))
    do {
      try await body(directory, database, String(address), browser)
    } catch {
      await browser.quit()
      throw error
    }
    await browser.quit()
  }

  static func screenshot(_ browser: WebDriver, _ name: String) async throws {
    let file = artifacts.appendingPathComponent("\(name).png")
    try await browser.screenshot(to: file)
    print("Screenshot: \(file.path)")
  }

  @Test("the ticket sample's run: the run list, the run, every schematic node Success")
  func ticketRun() async throws {
    try await Self.withBrowser { directory, database, server, browser in
      let run = try await SampleProcess(name: "ticket-model-evaluation").run(
        ["--log-level", "error"], in: directory,
        environment: ["FLOW_DATABASE": "sqlite:\(database)"])
      #expect(run.status == 0, "\(run.stderr)")
      let idLine = try #require(
        run.stderr.split(separator: "\n").first { $0.hasPrefix("Flow run ID ") })
      let id = String(idLine.dropFirst("Flow run ID ".count).prefix(36)).lowercased()

      try await browser.open("\(server)/runs")
      try await browser.waitUntil(
        "return document.querySelectorAll('table#runs tbody tr').length === 1")
      try await Self.screenshot(browser, "run-list")
      try await browser.click("table#runs tbody tr a")
      try await browser.waitUntil("return location.pathname === '/runs/\(id)'")
      try await browser.waitUntil("return document.querySelector('svg.schematic') !== null")
      let fills =
        try await browser.execute(
          """
          return Array.from(document.querySelectorAll('svg.schematic g.node:not(.parameter) rect'))
            .map(function (r) { return getComputedStyle(r).fill; });
          """) as? [String] ?? []
      #expect(fills.count == 10, "\(fills)")
      #expect(fills.allSatisfy { $0 == "rgb(40, 167, 69)" }, "\(fills)")
      let parameters =
        try await browser.execute(
          "return document.querySelectorAll('table.parameters tr').length") as? Int
      #expect(parameters == 3)
      try await browser.waitUntil("return document.getElementById('run').dataset.live === 'ended'")
      try await Self.screenshot(browser, "ticket-run")
    }
  }

  @Test("a task named <script>alert(1)</script> renders as text; a state change arrives live")
  func escapingAndLiveUpdates() async throws {
    try await Self.withBrowser { _, database, server, browser in
      let store = try await SQLiteRunStore.open(path: database)
      let hostile = "<script>alert(1)</script>"
      let id = UUID()
      let start = Date()
      let graph =
        #"{"name":"<b>hostile</b>","parameters":[{"defaultJSON":"1","name":"<i>n</i>","type":"Int"}],"#
        + #""referenceTasks":[],"tasks":[{"mapped":false,"name":"<script>alert(1)</script>","#
        + #""slug":"<script>alert(1)</script>","upstream":["<i>n</i>"]}]}"#
      var batch = RunStoreBatch()
      batch.flows = [
        FlowRecord(
          name: "<b>hostile</b>", version: "v1", graphJSON: graph, parameterSchemaJSON: "{}")
      ]
      var record = FlowRunRecord(
        id: id, flowName: "<b>hostile</b>", flowVersion: "v1",
        parameters: ["<i>n</i>": "\"<img src=x onerror=alert(2)>\""], executor: "sequential",
        host: "test", processID: 1, command: [], scheduledAt: start, startedAt: start,
        endedAt: nil, state: "Running", message: nil, heartbeatAt: start.addingTimeInterval(3600))
      batch.flowRuns = [record]
      batch.taskRuns = [
        TaskRunRecord(
          flowRunID: id, slug: hostile, mapIndex: -1, taskRunID: nil, state: "Running",
          message: hostile, attempts: 1, crashedAttempts: 0, startedAt: start, endedAt: nil,
          resultLocation: nil, position: 0)
      ]
      batch.transitions = [
        TransitionRecord(
          flowRunID: id, sequence: 1, slug: nil, mapIndex: -1, from: "Pending", to: "Running",
          time: start, message: nil),
        TransitionRecord(
          flowRunID: id, sequence: 2, slug: hostile, mapIndex: -1, from: "Pending",
          to: "Running", time: start, message: nil),
      ]
      batch.logs = [
        StoredLogRecord(
          flowRunID: id, sequence: 1, time: start, level: StoredLogLevel(name: "info")!,
          message: "<script>alert(3)</script>", metadata: ["task": hostile])
      ]
      try await store.write(batch)

      try await browser.open("\(server)/runs/\(id.uuidString.lowercased())")
      try await browser.waitUntil("return document.getElementById('run').dataset.live === 'open'")
      #expect(await browser.alertText() == nil)
      let text = try await browser.execute("return document.body.textContent") as? String ?? ""
      #expect(text.contains(hostile))
      #expect(text.contains("<b>hostile</b>"))
      #expect(text.contains("<img src=x onerror=alert(2)>"))
      #expect(text.contains("<script>alert(3)</script>"))
      let scripts = try await browser.execute("return document.scripts.length") as? Int
      #expect(scripts == 1)
      let node = "document.querySelector('svg.schematic g.node:not(.parameter)')"
      #expect(try await browser.execute("return \(node).dataset.state") as? String == "Running")
      let bar = "document.querySelector('#timeline rect[data-label]')"
      #expect(try await browser.execute("return \(bar).dataset.open") as? String == "1")
      try await Self.screenshot(browser, "hostile-running")

      // The task and the run finish in the database; the open page follows without a reload.
      let changed = Date()
      var finish = RunStoreBatch()
      record.state = "Success"
      record.endedAt = changed
      finish.flowRuns = [record]
      finish.taskRuns = batch.taskRuns.map {
        var task = $0
        task.state = "Success"
        task.endedAt = changed
        return task
      }
      finish.transitions = [
        TransitionRecord(
          flowRunID: id, sequence: 3, slug: hostile, mapIndex: -1, from: "Running",
          to: "Success", time: changed, message: nil),
        TransitionRecord(
          flowRunID: id, sequence: 4, slug: nil, mapIndex: -1, from: "Running", to: "Success",
          time: changed, message: nil),
      ]
      finish.logs = [
        StoredLogRecord(
          flowRunID: id, sequence: 2, time: changed, level: StoredLogLevel(name: "warning")!,
          message: "done <u>here</u>", metadata: [:])
      ]
      try await browser.execute("window.flowMarker = 1; return true")
      try await store.write(finish)
      let latency = try await browser.waitUntil(
        "return \(node).dataset.state === 'Success' && "
          + "document.querySelector('#run-state .badge').textContent === 'Success' && "
          + "document.getElementById('logs').textContent.includes('done <u>here</u>')")
      print("A state change reached the open page in \(latency) (target ≤ 500 ms).")
      // The timeline's bar ended with the task, coloured by its state.
      try await browser.waitUntil("return \(bar).classList.contains('s-Success')")
      #expect(
        try await browser.execute("return document.querySelectorAll('#timeline rect').length")
          as? Int == 1)
      #expect(latency < .seconds(2))
      #expect(try await browser.execute("return window.flowMarker") as? Int == 1)  // no reload
      let fill =
        try await browser.execute("return getComputedStyle(\(node).querySelector('rect')).fill")
        as? String
      #expect(fill == "rgb(40, 167, 69)")
      #expect(await browser.alertText() == nil)
      try await Self.screenshot(browser, "hostile-finished")
      await store.close()
    }
  }

  @Test("the dashboard; a real 2-worker cluster run's dashboard: a lane per worker thread")
  func dashboardAndCluster() async throws {
    try await Self.withBrowser { directory, database, server, browser in
      let run = try await SampleProcess(name: "ticket-model-evaluation").run(
        ["--executor", "cluster", "--workers", "2", "--threads", "2", "--log-level", "error"],
        in: directory, environment: ["FLOW_DATABASE": "sqlite:\(database)"])
      #expect(run.status == 0, "\(run.stderr)")
      let idLine = try #require(
        run.stderr.split(separator: "\n").first { $0.hasPrefix("Flow run ID ") })
      let id = String(idLine.dropFirst("Flow run ID ".count).prefix(36)).lowercased()

      try await browser.open("\(server)/dashboard")
      try await browser.waitUntil(
        "return document.querySelectorAll('svg.run-chart rect.s-Success').length === 1 && "
          + "document.querySelectorAll('table#runs tbody tr').length === 1")
      try await Self.screenshot(browser, "dashboard")

      try await browser.open("\(server)/runs/\(id)")
      try await browser.click("#cluster-link")
      try await browser.waitUntil("return location.pathname === '/runs/\(id)/cluster'")
      // Two workers of two threads each: four lanes, a bar per task attempt, both workers.
      let store = try await SQLiteRunStore.open(path: database)
      let tasks = try await store.taskRuns(flowRunID: UUID(uuidString: id)!)
      await store.close()
      let attempts = tasks.filter { $0.state != "Mapped" }.count
      try await browser.waitUntil(
        "return document.querySelectorAll('svg.task-stream g.lane').length === 4 && "
          + "document.querySelectorAll('svg.task-stream g.bars rect').length === \(attempts) && "
          + "document.querySelectorAll('table#workers tbody tr').length === 2")
      let done =
        try await browser.execute(
          "return Array.from(document.querySelectorAll('#progress td.count')).map(c => c.textContent)"
        )
        as? [String] ?? []
      // Every task is done: `k / k` on each row.
      #expect(
        !done.isEmpty
          && done.allSatisfy {
            let parts = $0.split(separator: " ")
            return parts.count == 3 && parts[0] == parts[2]
          }, "\(done)")
      try await Self.screenshot(browser, "cluster-dashboard")
    }
  }

  @Test("the cluster dashboard follows a running run: new workers, lanes, bars and progress")
  func clusterDashboardIsLive() async throws {
    try await Self.withBrowser { _, database, server, browser in
      let store = try await SQLiteRunStore.open(path: database)
      let id = UUID()
      let start = Date()
      func report(_ sequence: Int64, worker: String, thread: Int, index: Int, at: Date)
        -> StoredLogRecord
      {
        var record = ClusterAttemptReport.record(
          ClusterTaskResult(taskID: 1, outcome: .success([])), slot: thread, threads: 2,
          running: 1, started: at, ended: at.addingTimeInterval(0.2), load: 0.5)
        record.metadata[ClusterLogKeys.worker] = worker
        record.metadata["task"] = "square"
        record.metadata["map_index"] = String(index)
        return StoredLogRecord(
          flowRunID: id, sequence: sequence, time: at, level: StoredLogLevel(rank: 2),
          message: record.message, metadata: record.metadata)
      }
      var batch = RunStoreBatch()
      batch.flowRuns = [
        FlowRunRecord(
          id: id, flowName: "squares", flowVersion: "v1", parameters: [:],
          executor: "cluster(127.0.0.1:1)", host: "test", processID: 1, command: [],
          scheduledAt: start, startedAt: start, endedAt: nil, state: "Running", message: nil,
          heartbeatAt: start.addingTimeInterval(3600))
      ]
      batch.logs = [report(1, worker: "w1", thread: 0, index: 0, at: start)]
      batch.transitions = [
        TransitionRecord(
          flowRunID: id, sequence: 1, slug: "square", mapIndex: 0, from: "Pending", to: "Running",
          time: start, message: nil),
        TransitionRecord(
          flowRunID: id, sequence: 2, slug: "square", mapIndex: 0, from: "Running", to: "Success",
          time: start, message: nil),
      ]
      batch.taskRuns = [
        TaskRunRecord(
          flowRunID: id, slug: "square", mapIndex: 0, taskRunID: nil, state: "Success",
          message: nil, attempts: 1, crashedAttempts: 0, startedAt: start, endedAt: start,
          resultLocation: nil, position: 0)
      ]
      try await store.write(batch)
      try await browser.open("\(server)/runs/\(id.uuidString.lowercased())/cluster")
      try await browser.waitUntil(
        "return document.getElementById('cluster').dataset.live === 'open' && "
          + "document.querySelectorAll('svg.task-stream g.lane').length === 2")
      try await browser.execute("window.flowMarker = 1; return true")

      let later = Date()
      var more = RunStoreBatch()
      more.logs = [
        report(2, worker: "w2", thread: 1, index: 1, at: later),
        report(3, worker: "w1", thread: 1, index: 2, at: later),
      ]
      more.transitions = [
        TransitionRecord(
          flowRunID: id, sequence: 3, slug: "square", mapIndex: 1, from: "Pending", to: "Running",
          time: later, message: nil),
        TransitionRecord(
          flowRunID: id, sequence: 4, slug: "square", mapIndex: 1, from: "Running", to: "Success",
          time: later, message: nil),
        TransitionRecord(
          flowRunID: id, sequence: 5, slug: "square", mapIndex: 2, from: "Pending", to: "Running",
          time: later, message: nil),
      ]
      try await store.write(more)
      let latency = try await browser.waitUntil(
        "return document.querySelectorAll('svg.task-stream g.lane').length === 4 && "
          + "document.querySelectorAll('svg.task-stream g.bars rect').length === 3 && "
          + "document.querySelectorAll('table#workers tbody tr').length === 2 && "
          + "document.querySelector('#progress td.count').textContent === '2 / 3'")
      print("Attempt reports reached the open cluster dashboard in \(latency).")
      #expect(try await browser.execute("return window.flowMarker") as? Int == 1)  // no reload
      try await Self.screenshot(browser, "cluster-dashboard-live")
      await store.close()
    }
  }

  @Test("Quick Run through an agent reaches Success live; custom parameters: error, then a run")
  func quickRunAndCustomParameters() async throws {
    try await Self.withBrowser { directory, database, server, browser in
      // The ticket sample deployed into the server's database, and an agent of the same
      // executable on it: runs queued in the browser are picked up and run for real.
      let ticket = SampleProcess(name: "ticket-model-evaluation")
      let deployed = try await ticket.run(
        [
          "deploy", "ticket-model-evaluation", "--name", "tickets", "--no-schedule",
          "--database", "sqlite:\(database)",
        ],
        in: directory)
      #expect(deployed.status == 0, "\(deployed.stderr)")
      let store = try await SQLiteRunStore.open(path: database)
      let deployment = try await store.deployment(project: "default", name: "tickets")
      await store.close()
      let deploymentID = try #require(deployment).id.uuidString.lowercased()
      let agent = try ChildProcess(
        try ticket.binary(),
        ["agent", "--database", "sqlite:\(database)", "--poll", "0.2", "--agent-name", "browser"],
        in: directory)
      defer { agent.stop() }
      // Waits for `script` while the agent runs; names the agent's output when it times out.
      func waitWhileRunning(_ script: String) async throws -> Duration {
        do {
          return try await browser.waitUntil(script, timeout: .seconds(120))
        } catch {
          throw BrowserTestError("\(error)\nagent: \(agent.output.suffix(3000))")
        }
      }
      let nodes = "document.querySelectorAll('svg.schematic g.node:not(.parameter)')"
      let finished =
        "return document.querySelector('#run-state .badge').textContent === 'Success' && "
        + "\(nodes).length === 10 && "
        + "Array.from(\(nodes)).every(function (n) { return n.dataset.state === 'Success'; })"

      // Quick Run: the new run's page follows it from Scheduled to Success without a reload.
      try await browser.open("\(server)/deployments/\(deploymentID)")
      try await Self.screenshot(browser, "deployment")
      try await browser.click("form.quick-run button")
      try await browser.waitUntil("return location.pathname.startsWith('/runs/')")
      try await browser.execute("window.flowMarker = 1; return true")
      let quick = try await waitWhileRunning(finished)
      print("A Quick Run reached Success on its open page \(quick) after it was queued.")
      #expect(try await browser.execute("return window.flowMarker") as? Int == 1)  // no reload
      let fills =
        try await browser.execute(
          "return Array.from(\(nodes)).map(function (n) { "
            + "return getComputedStyle(n.querySelector('rect')).fill; })") as? [String] ?? []
      #expect(fills.count == 10 && fills.allSatisfy { $0 == "rgb(40, 167, 69)" }, "\(fills)")
      // The agent's host, process and executor replace the queued record's, without a reload.
      let host =
        try await browser.execute(
          "return document.getElementById('run-host').textContent") as? String ?? ""
      #expect(!host.contains("pid 0") && host.contains("(pid "), "\(host)")
      // "Scheduled for" became "Started", and the queue's hint is gone, without a reload.
      let started =
        try await browser.execute(
          "return document.getElementById('run-started-label').textContent + '|' + "
            + "(document.getElementById('run-queue') === null)") as? String ?? ""
      #expect(started == "Started|true", "\(started)")
      let executor =
        try await browser.execute(
          "return document.getElementById('run-executor').textContent") as? String ?? ""
      #expect(!executor.isEmpty)
      // The timeline drew a bar per attempt as the transitions arrived.
      let bars =
        try await browser.execute(
          "return document.querySelectorAll('#timeline rect').length") as? Int ?? 0
      #expect(bars >= 10, "timeline bars: \(bars)")
      try await Self.screenshot(browser, "quick-run-success")

      // The deployment's page lists the run, and a run queued elsewhere appears live.
      try await browser.open("\(server)/deployments/\(deploymentID)")
      try await browser.waitUntil("return document.querySelectorAll('#runs tbody tr').length === 1")
      try await browser.execute("window.flowMarker = 2; return true")
      let port = Int(server.split(separator: ":").last ?? "") ?? 0
      let created = try await LoopbackHTTP.send(
        method: "POST",
        url: URL(string: "http://127.0.0.1:\(port)/api/deployments/\(deploymentID)/runs")!,
        body: Data(#"{"parameters": {"batch-size": 10}}"#.utf8))
      #expect(String(decoding: created, as: UTF8.self).contains("\"Scheduled\""))
      let latency = try await browser.waitUntil(
        "return document.querySelectorAll('#runs tbody tr').length === 2")
      print("A queued run appeared on the open deployment page in \(latency).")
      #expect(try await browser.execute("return window.flowMarker") as? Int == 2)

      // Run with custom parameters: a bad value shows the field's error inline, and no run.
      for (bad, expected) in [("lots", "\"all\""), ("0", "from 1 to 10000000")] {
        try await browser.open("\(server)/deployments/\(deploymentID)")
        try await browser.execute(
          "document.getElementById('p-batch-size').value = '\(bad)';"
            + "document.getElementById('custom-run').submit(); return true")
        try await browser.waitUntil("return document.querySelector('.field-error') !== null")
        let error =
          try await browser.execute(
            "return document.querySelector('.field.invalid').dataset.parameter + ': ' + "
              + "document.querySelector('.field-error').textContent") as? String ?? ""
        #expect(error.hasPrefix("batch-size: "), "\(error)")
        #expect(error.contains("BatchSize") && error.contains(expected), "\(error)")
        print("batch-size=\(bad): \(error)")
      }
      try await Self.screenshot(browser, "custom-parameters-error")
      try await browser.open("\(server)/deployments/\(deploymentID)")
      try await browser.execute(
        "document.getElementById('p-sample-seed').value = 'seven';"
          + "document.getElementById('custom-run').submit(); return true")
      try await browser.waitUntil("return document.querySelector('.field-error') !== null")
      let seedError =
        try await browser.execute(
          "return document.querySelector('.field.invalid').dataset.parameter") as? String
      #expect(seedError == "sample-seed")
      // Good values: the new run uses them and reaches Success.
      try await browser.open("\(server)/deployments/\(deploymentID)")
      try await browser.execute(
        "document.getElementById('p-batch-size').value = '250';"
          + "document.getElementById('p-sample-seed').value = '7';"
          + "document.getElementById('custom-run').submit(); return true")
      try await browser.waitUntil("return location.pathname.startsWith('/runs/')")
      let parameters =
        try await browser.execute(
          "return Array.from(document.querySelectorAll('table.parameters tr')).map("
            + "function (r) { return r.textContent.replace(/\\s+/g, ' ').trim(); })")
        as? [String] ?? []
      #expect(
        parameters.contains { $0.hasPrefix("batch-size") && $0.contains("250") }, "\(parameters)")
      #expect(
        parameters.contains { $0.hasPrefix("sample-seed") && $0.contains("7") }, "\(parameters)")
      try await browser.execute("window.flowMarker = 3; return true")
      let custom = try await waitWhileRunning(finished)
      print("The custom run reached Success on its open page in \(custom).")
      #expect(try await browser.execute("return window.flowMarker") as? Int == 3)
      try await Self.screenshot(browser, "custom-parameters-run")
      let runs = try await SQLiteRunStore.open(path: database)
      let recorded = try await runs.flowRuns(FlowRunQuery(limit: 10, staleBefore: .distantPast))
      await runs.close()
      #expect(recorded.count == 3, "\(recorded.map(\.state))")
      let used = recorded.first { $0.parameters["batch-size"] == "250" }
      #expect(used?.state == "Success" && used?.parameters["sample-seed"] == "7", "\(recorded)")

      // With the agent stopped, a Quick Run's page says no agent runs, and Cancel ends it.
      agent.stop()
      try await browser.open("\(server)/deployments/\(deploymentID)")
      try await browser.click("form.quick-run button")
      try await browser.waitUntil("return location.pathname.startsWith('/runs/')")
      let queue =
        try await browser.execute("return document.getElementById('run-queue').textContent")
        as? String ?? ""
      #expect(queue.contains("no agent is running"), "\(queue)")
      try await Self.screenshot(browser, "queued-without-agent")
      try await browser.click("#cancel-run button")
      try await browser.waitUntil(
        "return document.querySelector('#run-state .badge').textContent === 'Cancelled' && "
          + "document.getElementById('cancel-run') === null")
    }
  }

  @Test("a deployment's schedule is paused and resumed by its buttons; typing its name deletes it")
  func pauseResumeAndDelete() async throws {
    try await Self.withBrowser { _, database, server, browser in
      let store = try await SQLiteRunStore.open(path: database)
      let now = Date()
      _ = try await store.createProject(ProjectRecord(name: "default", createdAt: now))
      let deployment = try await store.registerDeployment(
        DeploymentRegistration(
          project: "default", name: "hourly",
          flow: FlowRecord(
            name: "hourly", version: "v1",
            graphJSON: #"{"name":"hourly","parameters":[],"referenceTasks":[],"tasks":[]}"#,
            parameterSchemaJSON: #"{"properties":{},"type":"object"}"#),
          schedule: .interval(seconds: 3600), id: UUID()), now: now)
      let id = deployment.id.uuidString.lowercased()
      try await browser.open("\(server)/deployments/\(id)")
      try await browser.click("#schedule-pause")
      try await browser.waitUntil(
        "return document.getElementById('schedule').textContent.includes('every 1h (paused)') && "
          + "document.querySelector('.next-runs').textContent === 'paused'")
      #expect(try await store.deployment(id: deployment.id)?.schedulePaused == true)
      try await Self.screenshot(browser, "deployment-paused")
      try await browser.click("#schedule-resume")
      try await browser.waitUntil("return document.getElementById('schedule-pause') !== null")
      #expect(try await store.deployment(id: deployment.id)?.schedulePaused == false)
      // A wrong name deletes nothing; the right one deletes it and lands on the list.
      try await browser.execute("document.getElementById('confirm-delete').value = 'hourly'")
      try await browser.click("#delete-deployment")
      try await browser.waitUntil(
        "return document.body.textContent.includes('type its name default/hourly')")
      #expect(try await store.deployment(id: deployment.id) != nil)
      try await browser.open("\(server)/deployments/\(id)")
      try await browser.execute(
        "document.getElementById('confirm-delete').value = 'default/hourly'")
      try await browser.click("#delete-deployment")
      try await browser.waitUntil(
        "return location.pathname === '/deployments' && "
          + "document.body.textContent.includes('No deployment yet')")
      #expect(try await store.deployment(id: deployment.id) == nil)
      await store.close()
    }
  }
}

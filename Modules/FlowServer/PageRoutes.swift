import FlowCore
import Foundation
import Hummingbird

/// The server-rendered pages and their assets.
struct PageRoutes: Sendable {
  let server: FlowServer
  var store: any RunStoreBrowsing { server.store }

  /// Task-run table rows per page of the run page.
  static let taskRowsPerPage = 500
  /// Log lines the run page renders before the live stream takes over.
  static let initialLogLines = 1000

  func register(on router: Router<BasicRequestContext>) {
    router.get("/") { _, _ in Response(status: .seeOther, headers: [.location: "/dashboard"]) }
    router.get("/assets/flow.css") { _, _ in
      Self.asset(StaticAssets.css, type: "text/css; charset=utf-8")
    }
    router.get("/assets/flow.js") { _, _ in
      Self.asset(StaticAssets.javascript, type: "text/javascript; charset=utf-8")
    }
    router.get("/runs") { request, _ in try await runList(request) }
    router.get("/runs/:id") { request, context in
      let run = try await APIRoutes.flowRun(
        id: context.parameters.get("id") ?? "", store: store, staleBefore: server.staleBefore)
      return try await runPage(run, request: request)
    }
    router.get("/flows") { _, _ in try await flowList() }
    router.get("/login") { _, _ in HTMLResponse.page(Self.loginPage(error: nil)) }
    router.post("/login") { request, _ in try await login(request) }
  }

  static func asset(_ text: String, type: String) -> Response {
    Response(
      status: .ok, headers: [.contentType: type, .cacheControl: "public, max-age=300"],
      body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
  }

  // MARK: Runs

  func runList(_ request: Request) async throws -> Response {
    HTMLResponse.page(try await runListHTML(try RunListFilter(request, server: server)))
  }

  func runListHTML(_ filter: RunListFilter) async throws -> HTML {
    async let page = store.flowRuns(filter.query(staleBefore: server.staleBefore))
    async let flows = store.flowSummaries()
    let flowNames = Array(Set(try await flows.map(\.name))).sorted()
    return Self.runListPage(filter: filter, page: try await page, flowNames: flowNames)
  }

  static func runListPage(filter: RunListFilter, page: [FlowRunRecord], flowNames: [String])
    -> HTML
  {
    var flowOptions: [HTML] = ["<option value=\"\">All flows</option>"]
    for name in flowNames {
      flowOptions.append(
        "<option value=\"\(name)\"\(HTML(trusted: name == filter.flowName ? " selected" : ""))>\(name)</option>"
      )
    }
    var stateOptions: [HTML] = ["<option value=\"\">All states</option>"]
    for state in RunListFilter.states {
      stateOptions.append(
        "<option\(HTML(trusted: state == filter.state ? " selected" : ""))>\(state)</option>")
    }
    let rows = page.map(runRow)
    var streamQuery: [String] = []
    if let flow = filter.flowName { streamQuery.append("flow=" + Self.queryEscaped(flow)) }
    if let state = filter.state { streamQuery.append("state=" + Self.queryEscaped(state)) }
    streamQuery.append("limit=\(filter.limit)")
    let live = filter.after == nil
    var next: HTML = ""
    if page.count == filter.limit, let last = page.last {
      var query = streamQuery
      query.append("after=" + CursorText.text(last))
      next =
        "<p><a class=\"next\" href=\"/runs?\(query.joined(separator: "&"))\">Older runs →</a></p>"
    }
    let streamAttribute: HTML =
      live ? " data-stream=\"/api/flow-runs/stream?\(streamQuery.joined(separator: "&"))\"" : ""
    return Layout.page(
      title: "Runs",
      body: """
        <h1>Flow runs</h1>
        <form class="filters" method="get" action="/runs">
        <label>Flow <select name="flow">\(flowOptions)</select></label>
        <label>State <select name="state">\(stateOptions)</select></label>
        <button type="submit">Filter</button></form>
        <table class="runs" id="runs"\(streamAttribute)><thead><tr><th>State</th><th>Flow</th>
        <th>Run</th><th>Started</th><th>Duration</th><th>Host</th></tr></thead>
        <tbody>\(rows)</tbody></table>
        \(page.isEmpty ? HTML("<p class=\"empty\">No runs match.</p>") : "")
        \(next)
        """)
  }

  static func runRow(_ run: FlowRunRecord) -> HTML {
    let id = run.id.uuidString.lowercased()
    return """
      <tr data-id="\(id)"><td class="state">\(Layout.badge(run.state))</td><td>\(run.flowName)</td>
      <td><a href="/runs/\(id)">\(String(id.prefix(8)))</a></td>
      <td>\(Layout.time(run.startedAt))</td>
      <td class="duration">\(Layout.duration(run.endedAt.map { $0.timeIntervalSince(run.startedAt) }))</td>
      <td>\(run.host)</td></tr>
      """
  }

  static func queryEscaped(_ text: String) -> String {
    var allowed = CharacterSet.alphanumerics
    allowed.insert(charactersIn: "-._~")
    return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? ""
  }

  // MARK: A run

  func runPage(_ run: FlowRunRecord, request: Request) async throws -> Response {
    let taskOffset = Int(
      try APIRoutes.integer(request.uri.queryParameters.get("tasks"), "tasks") ?? 0)
    let (token, cookie) = DeploymentRoutes(server: server).csrfToken(request)
    return HTMLResponse.page(
      try await runPageHTML(run, taskOffset: taskOffset, csrf: token), headers: cookie)
  }

  /// The run page; with `csrf`, a deployment run that has not ended gets a Cancel button.
  func runPageHTML(_ run: FlowRunRecord, taskOffset: Int, csrf: String? = nil) async throws
    -> HTML
  {
    // Every task run and transition is read only in the columns the schematic and the
    // timeline draw; the task table reads its page of full rows.
    async let outline = store.runOutline(flowRunID: run.id)
    async let logs = store.logs(
      flowRunID: run.id, after: 0, minimumLevel: .trace, limit: Self.initialLogLines)
    let layout = try await server.schematics.layout(
      name: run.flowName, version: run.flowVersion, store: store)
    let pending = try await pendingRun(run)
    let outlined = try await outline
    let offset = min(max(taskOffset, 0), max(outlined.taskRuns.count - 1, 0))
    let shown = try await store.taskRuns(
      flowRunID: run.id, offset: offset, limit: Self.taskRowsPerPage)
    return Self.runPage(
      run: run, layout: layout, outline: outlined, shownTasks: shown, taskOffset: offset,
      logs: try await logs, pending: pending, csrf: csrf, now: server.clock.now())
  }

  /// A deployment run that has not ended: what it waits for while no agent has started it,
  /// and whether its cancellation was asked for.
  struct PendingRun {
    var queue: QueueHint?
    var cancelRequested: Bool
  }

  /// `run` as a deployment run that has not ended (nil for any other run).
  func pendingRun(_ run: FlowRunRecord) async throws -> PendingRun? {
    guard run.endedAt == nil, let deployments = server.deployments,
      let queued = try await deployments.deploymentRun(id: run.id), !queued.isFinished
    else { return nil }
    var queue: QueueHint?
    if run.processID == 0, run.host.isEmpty, queued.state != "Running" {
      queue = QueueHint.make(
        queued: queued, agents: try await deployments.registeredAgents(),
        now: server.clock.now())
    }
    return PendingRun(queue: queue, cancelRequested: queued.cancelRequested)
  }

  /// The Cancel button of a pending run, or what became of the request.
  static func cancelControl(_ pending: PendingRun?, id: String, csrf: String?) -> HTML {
    guard let pending else { return "" }
    if pending.cancelRequested {
      return """
        <p class="cancel-run" id="cancel-run">Cancellation requested: the agent stops the run at \
        its next lease renewal.</p>
        """
    }
    guard let csrf else { return "" }
    return """
      <form class="cancel-run" id="cancel-run" method="post" action="/runs/\(id)/cancel">
      <input type="hidden" name="csrf" value="\(csrf)"><button type="submit">Cancel run</button></form>
      """
  }

  static func runPage(
    run: FlowRunRecord, layout: SchematicLayout?, outline: RunOutline,
    shownTasks shown: [TaskRunRecord], taskOffset offset: Int, logs: [StoredLogRecord],
    pending: PendingRun? = nil, csrf: String? = nil, now: Date
  ) -> HTML {
    let queue = pending?.queue
    let taskRuns = outline.taskRuns
    let transitions = outline.transitions
    let id = run.id.uuidString.lowercased()
    let states = NodeStates(taskRuns)
    let schematic: HTML
    if let layout {
      schematic = SchematicSVG.render(layout, states: states)
    } else {
      schematic = "<p class=\"empty\">The flow's graph was not recorded.</p>"
    }
    let timeline = Timeline(
      transitions: transitions, runStart: run.startedAt, runEnd: run.endedAt, now: now)
    var parameterRows: [HTML] = []
    for (name, value) in run.parameters.sorted(by: { $0.key < $1.key }) {
      parameterRows.append("<tr><th>\(name)</th><td><code>\(value)</code></td></tr>")
    }
    var taskRows: [HTML] = []
    taskRows.reserveCapacity(shown.count)
    for task in shown {
      taskRows.append(
        """
        <tr data-task="\(task.label)"><td class="state">\(Layout.badge(task.state))</td><td>\(task.label)</td>
        <td>\(task.attempts)</td><td>\(Layout.time(task.startedAt))</td>
        <td>\(Layout.duration(task.duration))</td><td>\(task.message)</td></tr>
        """)
    }
    var taskPager: HTML = ""
    if taskRuns.count > taskRowsPerPage {
      var links: [HTML] = []
      if offset > 0 {
        links.append(
          "<a href=\"/runs/\(id)?tasks=\(max(offset - taskRowsPerPage, 0))#tasks\">← Previous</a>")
      }
      if offset + taskRowsPerPage < taskRuns.count {
        links.append("<a href=\"/runs/\(id)?tasks=\(offset + taskRowsPerPage)#tasks\">Next →</a>")
      }
      taskPager =
        "<p class=\"pager\">Task runs \(offset + 1)–\(offset + shown.count) of \(taskRuns.count) \(links)</p>"
    }
    var logLines: [HTML] = []
    logLines.reserveCapacity(logs.count)
    for log in logs { logLines.append(logLine(log)) }
    let lastTransition = transitions.last?.sequence ?? 0
    let lastLog = logs.last?.sequence ?? 0
    var levelOptions: [HTML] = []
    for name in StoredLogLevel.names {
      levelOptions.append(
        "<option value=\"\(name)\"\(HTML(trusted: name == "trace" ? " selected" : ""))>\(name)</option>"
      )
    }
    let stream =
      "/api/flow-runs/\(id)/stream?transitions_after=\(lastTransition)&logs_after=\(lastLog)"
    return Layout.page(
      title: "\(run.flowName) run",
      body: """
        <section class="run" id="run" data-run="\(id)" data-stream="\(stream)">
        <h1><span id="run-state">\(Layout.badge(run.state))</span> \(run.flowName)</h1>
        <dl class="facts"><dt>Run</dt><dd><code>\(id)</code></dd>
        <dt>Version</dt><dd><code>\(run.flowVersion)</code></dd>
        <dt id="run-started-label">\(queue == nil ? "Started" : "Scheduled for")</dt><dd id="run-started">\(Layout.time(queue == nil ? run.startedAt : run.scheduledAt))</dd>
        <dt>Ended</dt><dd id="run-ended">\(Layout.time(run.endedAt))</dd>
        <dt>Executor</dt><dd><span id="run-executor">\(run.executor)</span>\(run.executor.lowercased().contains("cluster") ? HTML(" · <a id=\"cluster-link\" href=\"/runs/\(id)/cluster\">cluster dashboard</a>") : "")</dd>
        <dt>Host</dt><dd id="run-host">\(Self.hostText(run))</dd>
        <dt>Message</dt><dd id="run-message">\(run.message)</dd>
        \(queue.map { HTML("<dt id=\"run-queue-label\">Queue</dt><dd id=\"run-queue\">\($0.text)</dd>") } ?? "")</dl>
        \(Self.cancelControl(pending, id: id, csrf: csrf))
        </section>
        <h2>Parameters</h2>
        \(parameterRows.isEmpty ? HTML("<p class=\"empty\">\(queue == nil ? "No parameters." : "None given: the flow's defaults apply.")</p>") : "<table class=\"parameters\">\(parameterRows)</table>")
        <h2>Schematic</h2>
        <div class="scroll schematic-box">\(schematic)</div>
        <h2>Timeline</h2>
        <div class="scroll">\(timeline.svg())</div>
        <h2 id="tasks">Task runs</h2>\(taskPager)
        <table class="tasks"><thead><tr><th>State</th><th>Task</th><th>Attempts</th><th>Started</th>
        <th>Duration</th><th>Message</th></tr></thead><tbody>\(taskRows)</tbody></table>
        <h2>Logs</h2>
        <div class="log-tools"><label>Level <select id="log-level">\(levelOptions)</select></label>
        <label>Search <input id="log-search" type="search" placeholder="text in the message"></label>
        <span id="log-count"></span></div>
        <div class="logs" id="logs">\(logLines)</div>
        """)
  }

  /// `host (pid 123)`, or `not started yet` for a queued run no agent has started.
  static func hostText(_ run: FlowRunRecord) -> String {
    run.processID == 0 && run.host.isEmpty
      ? "not started yet" : "\(run.host) (pid \(run.processID))"
  }

  static func logLine(_ log: StoredLogRecord) -> HTML {
    let task = log.metadata["task"].map { " [\($0)]" } ?? ""
    return """
      <div class="log l-\(log.level.description)" data-level="\(log.level.rank)"><time>\(Layout.time(log.time))</time> <b>\(log.level.description)</b>\(task) \(log.message)</div>
      """
  }

  // MARK: Flows

  func flowList() async throws -> Response {
    let flows = try await store.flowSummaries()
    let deployments = try await server.deployments?.deployments(project: nil) ?? []
    let now = server.clock.now()
    var rows: [HTML] = []
    for flow in flows {
      let link = "/runs?flow=" + Self.queryEscaped(flow.name)
      var schedules: [HTML] = []
      for deployment in deployments
      where deployment.flowName == flow.name && deployment.flowVersion == flow.version {
        let id = deployment.id.uuidString.lowercased()
        schedules.append(
          """
          <div class="flow-deployment"><a href="/deployments/\(id)">\(deployment.qualifiedName)</a>: \(deployment.schedule == nil ? "no schedule" : deployment.scheduleSummary)
          <div class="next-runs">\(DeploymentRoutes.nextRuns(deployment, after: now, count: 1))</div></div>
          """)
      }
      rows.append(
        """
        <tr><td><a href="\(link)">\(flow.name)</a></td><td><code>\(flow.version)</code></td>
        <td>\(schedules.isEmpty ? HTML("<span class=\"empty\">not deployed</span>") : HTML(trusted: schedules.map(\.text).joined()))</td>
        <td><code>\(flow.parameterSchemaJSON)</code></td></tr>
        """)
    }
    return HTMLResponse.page(
      Layout.page(
        title: "Flows",
        body: """
          <h1>Flows</h1>
          <table class="flows"><thead><tr><th>Flow</th><th>Version</th><th>Deployments, schedule and next run</th><th>Parameters</th></tr></thead>
          <tbody>\(rows)</tbody></table>
          \(flows.isEmpty ? HTML("<p class=\"empty\">No flow has been recorded yet.</p>") : "")
          """))
  }

  // MARK: Login

  static func loginPage(error: String?) -> HTML {
    Layout.page(
      title: "Sign in",
      body: """
        <h1>Sign in</h1>
        \(error.map { HTML("<p class=\"error\">\($0)</p>") } ?? "")
        <form method="post" action="/login"><label>Token <input name="token" type="password"
        autocomplete="current-password" required></label> <button type="submit">Sign in</button></form>
        """)
  }

  func login(_ request: Request) async throws -> Response {
    let body = try await request.body.collect(upTo: server.configuration.maxBodyBytes)
    let form = FormBody(String(buffer: body))
    guard let expected = server.configuration.token else {
      return Response(status: .seeOther, headers: [.location: "/runs"])
    }
    guard let token = form["token"], RequestGuard.constantTimeEqual(token, expected) else {
      return HTMLResponse.page(
        Self.loginPage(error: "That is not this server's token."), status: .unauthorized)
    }
    return Response(
      status: .seeOther,
      headers: [
        .location: "/runs",
        .setCookie: "\(RequestGuard.tokenCookie)=\(token); Path=/; HttpOnly; SameSite=Strict",
      ])
  }
}

/// An `application/x-www-form-urlencoded` body.
struct FormBody: Sendable {
  var fields: [(String, String)] = []

  init(_ text: String) {
    for pair in text.split(separator: "&") {
      let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
      func decode(_ part: Substring) -> String {
        part.replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? String(part)
      }
      fields.append((decode(parts[0]), parts.count > 1 ? decode(parts[1]) : ""))
    }
  }

  subscript(name: String) -> String? { fields.first { $0.0 == name }?.1 }
}

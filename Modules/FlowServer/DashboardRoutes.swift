import FlowCore
import Foundation
import Hummingbird

/// The dashboard (runs by state over time, late and crashed runs, agents' health) and its API:
/// `/api/agents` and `/api/run-counts`.
struct DashboardRoutes: Sendable {
  let server: FlowServer

  /// Bars in the runs-over-time chart.
  static let buckets = 24
  /// Late and crashed runs listed at most.
  static let listed = 20

  func register(on router: Router<BasicRequestContext>) {
    router.get("/api/agents") { _, _ in
      struct Body: Encodable { var agents: [AgentJSON] }
      let now = server.clock.now()
      return ServerJSON.response(
        Body(agents: try await agents(now: now).map { AgentJSON($0, now: now) }))
    }
    router.get("/api/run-counts") { request, _ in
      let hours = try Self.hours(request)
      let counts = try await RunCounts.read(
        store(), hours: hours, now: server.clock.now(), staleBefore: server.staleBefore)
      return ServerJSON.response(counts)
    }
    router.get("/dashboard") { request, _ in
      HTMLResponse.page(try await dashboardHTML(hours: try Self.hours(request)))
    }
  }

  func store() throws -> any RunStoreDashboard {
    guard let store = server.store as? any RunStoreDashboard else {
      throw APIError(
        status: .notFound, code: "noDashboard",
        message: "this server's store has no dashboard reads (use SQLite or PostgreSQL)")
    }
    return store
  }

  /// Every agent: the registered ones (heartbeats) merged with those of the lease history.
  func agents(now: Date) async throws -> [AgentStatus] {
    let store = try store()
    async let leases = store.agents(now: now)
    async let registered = server.deployments?.registeredAgents() ?? []
    return AgentStatus.merged(registered: try await registered, leases: try await leases)
  }

  /// The `hours` query parameter: 1 to 720, 24 by default.
  static func hours(_ request: Request) throws(APIError) -> Int {
    guard let text = request.uri.queryParameters.get("hours"), !text.isEmpty else { return 24 }
    guard let hours = Int(text), (1...720).contains(hours) else {
      throw APIError.badRequest("`hours` must be a whole number from 1 to 720, not '\(text)'")
    }
    return hours
  }

  /// The dashboard page over the last `hours`.
  func dashboardHTML(hours: Int) async throws -> HTML {
    let store = try store()
    let now = server.clock.now()
    let staleBefore = server.staleBefore
    async let counts = RunCounts.read(store, hours: hours, now: now, staleBefore: staleBefore)
    async let late = store.flowRuns(
      FlowRunQuery(state: "Late", limit: Self.listed, staleBefore: staleBefore))
    async let crashed = store.flowRuns(
      FlowRunQuery(state: "Crashed", limit: Self.listed, staleBefore: staleBefore))
    async let agents = agents(now: now)
    async let recent = store.flowRuns(FlowRunQuery(limit: 10, staleBefore: staleBefore))
    return Self.page(
      hours: hours, counts: try await counts, late: try await late, crashed: try await crashed,
      agents: try await agents, recent: try await recent, now: now)
  }

  static func page(
    hours: Int, counts: RunCounts, late: [FlowRunRecord], crashed: [FlowRunRecord],
    agents: [AgentStatus], recent: [FlowRunRecord], now: Date
  ) -> HTML {
    var totals: [HTML] = []
    for (state, count) in counts.totals.sorted(by: { $0.key < $1.key }) {
      totals.append("<li>\(Layout.badge(state)) <b>\(count)</b></li>")
    }
    var ranges: [HTML] = []
    for choice in [1, 6, 24, 168] {
      let label = choice < 24 ? "\(choice) h" : "\(choice / 24) d"
      ranges.append(
        choice == hours
          ? "<b>\(label)</b>" : "<a href=\"/dashboard?hours=\(choice)\">\(label)</a>")
    }
    var agentRows: [HTML] = []
    for agent in agents {
      let json = AgentJSON(agent, now: now)
      let heartbeat: HTML =
        json.lastHeartbeatSecondsAgo.map { (seconds) -> HTML in
          "\(Layout.age(seconds)) ago <small>(every \(Layout.age(json.heartbeatIntervalSeconds ?? 0)))</small>"
        } ?? "<small>not registered</small>"
      let place = agent.registration.map { "\($0.host):\($0.processID)" } ?? ""
      agentRows.append(
        """
        <tr data-agent="\(agent.agentID)" data-health="\(json.health)"><td>\(agent.agentID)<br><small>\(place)</small></td>
        <td>\(Layout.badge(json.health))</td><td class="labels">\((json.labels ?? []).joined(separator: ", "))</td>
        <td class="heartbeat">\(heartbeat)</td><td>\(json.held)\(json.limit.map { " / \($0)" } ?? "")</td>
        <td>\(Layout.time(json.heldUntil))</td>
        <td>\(Layout.time(json.lastSeenAt)) <small>(\(Layout.age(json.lastSeenSecondsAgo)) ago)</small></td>
        <td>\(json.leases)</td><td>\(json.lost)</td></tr>
        """)
    }
    let noAgents: HTML =
      agents.isEmpty
      ? "<p class=\"empty\">No agent is registered yet: start one with `flow agent`.</p>" : ""
    return Layout.page(
      title: "Dashboard",
      body: """
        <h1>Dashboard</h1>
        <h2>Runs by state, last \(hours) h</h2>
        <p class="ranges">\(ranges)</p>
        <div class="chart" id="run-chart">\(counts.svg())</div>
        <ul class="totals" id="run-totals">\(totals)</ul>
        \(counts.totals.isEmpty ? HTML("<p class=\"empty\">No run started in this period.</p>") : "")
        <div class="columns">
        <section><h2>Late runs</h2>\(runTable(late, id: "late-runs", empty: "No run is late."))</section>
        <section><h2>Crashed runs</h2>\(runTable(crashed, id: "crashed-runs", empty: "No run crashed."))</section>
        </div>
        <h2>Agents</h2>
        <p class="hint">An agent registers when it starts and heartbeats while it runs (three missed heartbeats: Unresponsive); it renews the leases of the runs it works on.</p>
        <table class="agents" id="agents"><thead><tr><th>Agent</th><th>Health</th><th>Labels</th>
        <th>Heartbeat</th><th>Runs held</th><th>Lease renewed until</th><th>Last claim or release</th><th>Leases taken</th><th>Leases lost</th></tr></thead>
        <tbody>\(agentRows)</tbody></table>\(noAgents)
        <h2>Latest runs</h2>
        <table class="runs" id="runs" data-stream="/api/flow-runs/stream?limit=10"><thead><tr><th>State</th><th>Flow</th>
        <th>Run</th><th>Started</th><th>Duration</th><th>Host</th></tr></thead>
        <tbody>\(recent.map(PageRoutes.runRow))</tbody></table>
        """)
  }

  static func runTable(_ runs: [FlowRunRecord], id: String, empty: String) -> HTML {
    guard !runs.isEmpty else { return "<p class=\"empty\" id=\"\(id)\">\(empty)</p>" }
    var rows: [HTML] = []
    for run in runs {
      let runID = run.id.uuidString.lowercased()
      rows.append(
        """
        <tr data-id="\(runID)"><td>\(Layout.badge(run.state))</td><td>\(run.flowName)</td>
        <td><a href="/runs/\(runID)">\(String(runID.prefix(8)))</a></td>
        <td>\(Layout.time(run.scheduledAt))</td><td>\(run.message ?? "")</td></tr>
        """)
    }
    return """
      <table class="runs-small" id="\(id)"><thead><tr><th>State</th><th>Flow</th><th>Run</th>
      <th>Scheduled</th><th>Message</th></tr></thead><tbody>\(rows)</tbody></table>
      """
  }
}

/// Runs by state per interval, as the API and the chart show them.
struct RunCounts: Encodable, Sendable {
  struct Bucket: Encodable, Sendable {
    var start: Date
    var counts: [String: Int]
  }

  var since: Date
  var bucketSeconds: Double
  var buckets: [Bucket]

  /// Runs per state over all buckets.
  var totals: [String: Int] {
    var totals: [String: Int] = [:]
    for bucket in buckets {
      for (state, count) in bucket.counts { totals[state, default: 0] += count }
    }
    return totals
  }

  static func read(
    _ store: any RunStoreDashboard, hours: Int, now: Date, staleBefore: Date
  ) async throws -> RunCounts {
    let width = Double(hours) * 3600 / Double(DashboardRoutes.buckets)
    // Buckets start on whole multiples of their width, so that a reload keeps the bars.
    let end = (now.timeIntervalSince1970 / width).rounded(.up) * width
    let since = Date(timeIntervalSince1970: end - width * Double(DashboardRoutes.buckets))
    let rows = try await store.runCounts(
      since: since, bucket: .milliseconds(Int64(width * 1000)), staleBefore: staleBefore)
    var buckets = (0..<DashboardRoutes.buckets).map {
      Bucket(start: since.addingTimeInterval(Double($0) * width), counts: [:])
    }
    for row in rows where buckets.indices.contains(row.bucket) {
      buckets[row.bucket].counts[row.state, default: 0] += row.count
    }
    return RunCounts(since: since, bucketSeconds: width, buckets: buckets)
  }

  /// States from the bottom of a bar up.
  static let order = [
    "Success", "Cached", "Failed", "TimedOut", "TriggerFailed", "Crashed", "Cancelled",
    "Skipped", "Running", "Retrying", "Paused", "Late", "Scheduled", "Pending",
  ]

  static let width = 960
  static let height = 160

  /// A stacked bar per interval, one colour per state.
  func svg() -> HTML {
    let highest = max(buckets.map { $0.counts.values.reduce(0, +) }.max() ?? 0, 1)
    let slot = Double(Self.width) / Double(max(buckets.count, 1))
    var text =
      "<svg class=\"run-chart\" xmlns=\"http://www.w3.org/2000/svg\" width=\"\(Self.width)\" "
      + "height=\"\(Self.height + 18)\" viewBox=\"0 0 \(Self.width) \(Self.height + 18)\" "
      + "role=\"img\" aria-label=\"Runs by state per interval\">"
    for (index, bucket) in buckets.enumerated() {
      var y = Double(Self.height)
      let states = bucket.counts.keys.sorted {
        (Self.order.firstIndex(of: $0) ?? 99, $0) < (Self.order.firstIndex(of: $1) ?? 99, $1)
      }
      let x = Double(index) * slot + 1
      for state in states {
        let count = bucket.counts[state] ?? 0
        let h = Double(count) / Double(highest) * Double(Self.height - 4)
        y -= h
        text +=
          "<rect class=\"s-\(Layout.cssState(state))\" data-state=\"\(Layout.cssState(state))\" "
          + "data-count=\"\(count)\" x=\"\(Layout.fixed(x, digits: 1))\" "
          + "y=\"\(Layout.fixed(y, digits: 1))\" width=\"\(Layout.fixed(slot - 2, digits: 1))\" "
          + "height=\"\(Layout.fixed(h, digits: 1))\"><title>"
        HTML.escape("\(Layout.time(bucket.start)): \(count) \(state)", into: &text)
        text += "</title></rect>"
      }
    }
    text +=
      "<text x=\"0\" y=\"\(Self.height + 14)\">\(HTML.escaped(Layout.time(since)))</text>"
      + "<text x=\"\(Self.width)\" y=\"\(Self.height + 14)\" text-anchor=\"end\">"
      + "\(HTML.escaped(Layout.time(since.addingTimeInterval(bucketSeconds * Double(buckets.count)))))"
      + "</text><text x=\"\(Self.width)\" y=\"12\" text-anchor=\"end\">max \(highest)</text></svg>"
    return HTML(trusted: text)
  }
}

/// An agent as the API returns it.
struct AgentJSON: Encodable {
  var agentID: String
  var health: String
  var host: String?
  var processID: Int?
  var labels: [String]?
  var limit: Int?
  var flows: [String]?
  var startedAt: Date?
  var lastHeartbeatAt: Date?
  var lastHeartbeatSecondsAgo: Double?
  var heartbeatIntervalSeconds: Double?
  var stoppedAt: Date?
  var held: Int
  var heldUntil: Date?
  var leases: Int
  var lost: Int
  var firstClaimAt: Date?
  var lastClaimAt: Date?
  var lastReleaseAt: Date?
  var lastSeenAt: Date
  var lastSeenSecondsAgo: Double

  init(_ agent: AgentStatus, now: Date) {
    agentID = agent.agentID
    health = agent.health(now: now)
    let registration = agent.registration
    host = registration?.host
    processID = registration?.processID
    labels = registration?.labels
    limit = registration?.limit
    flows = registration?.flows.map(\.description)
    startedAt = registration?.startedAt
    lastHeartbeatAt = registration?.lastHeartbeatAt
    lastHeartbeatSecondsAgo = registration.map { max(now.timeIntervalSince($0.lastHeartbeatAt), 0) }
    heartbeatIntervalSeconds = registration?.heartbeatInterval.timeInterval
    stoppedAt = registration?.stoppedAt
    let leases = agent.leases
    held = leases?.held ?? 0
    heldUntil = leases?.heldUntil
    self.leases = leases?.leases ?? 0
    lost = leases?.lost ?? 0
    firstClaimAt = leases?.firstClaimAt
    lastClaimAt = leases?.lastClaimAt
    lastReleaseAt = leases?.lastReleaseAt
    lastSeenAt = agent.lastSeenAt
    lastSeenSecondsAgo = max(now.timeIntervalSince(agent.lastSeenAt), 0)
  }
}

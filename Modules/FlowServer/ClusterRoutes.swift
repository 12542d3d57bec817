import FlowClusterProtocol
import FlowCore
import Foundation
import Hummingbird

/// The cluster dashboard of a run (Dask's status page): its workers with their last report,
/// load and threads, the task stream (one lane per worker thread) and the progress per task
/// name. It reads the attempt reports the workers ship with their results
/// (``ClusterAttemptReport``), which the run's log keeps.
struct ClusterRoutes: Sendable {
  let server: FlowServer

  /// Log records read at most for one dashboard.
  static let maximumLogRecords = 200_000

  func register(on router: Router<BasicRequestContext>) {
    router.get("/api/flow-runs/:id/cluster") { _, context in
      let run = try await APIRoutes(server: server).flowRun(context)
      let view = try await ClusterView.read(run, store: server.store, now: server.clock.now())
      return ServerJSON.response(view.json)
    }
    router.get("/runs/:id/cluster") { _, context in
      let run = try await APIRoutes(server: server).flowRun(context)
      let view = try await ClusterView.read(run, store: server.store, now: server.clock.now())
      return HTMLResponse.page(view.page())
    }
  }
}

/// What the cluster dashboard shows of one run.
struct ClusterView: Sendable {
  struct Worker: Sendable {
    var name: String
    var threads: Int
    var attempts = 0
    var failures = 0
    var busySeconds = 0.0
    var lastReport: Date
    var running: Int
    var load: Double?
  }

  struct Lane: Hashable, Comparable, Sendable {
    var worker: String
    var thread: Int
    static func < (a: Lane, b: Lane) -> Bool { (a.worker, a.thread) < (b.worker, b.thread) }
  }

  struct Bar: Sendable {
    var lane: Lane
    var label: String
    var slug: String
    var started: Date
    var ended: Date
    var succeeded: Bool
  }

  struct Progress: Sendable {
    var slug: String
    var counts: [String: Int] = [:]
    var total: Int { counts.values.reduce(0, +) }
  }

  var run: FlowRunRecord
  var workers: [Worker]
  var lanes: [Lane]
  var bars: [Bar]
  var progress: [Progress]
  var lastLog: Int64
  var lastTransition: Int64
  var now: Date

  static func read(_ run: FlowRunRecord, store: any RunStoreBrowsing, now: Date) async throws
    -> ClusterView
  {
    async let taskRuns = store.taskRuns(flowRunID: run.id)
    async let transitions = store.transitions(flowRunID: run.id)
    var reports: [(ClusterAttemptReport, StoredLogRecord)] = []
    var after: Int64 = 0
    var read = 0
    while read < ClusterRoutes.maximumLogRecords {
      let page = try await store.logs(
        flowRunID: run.id, after: after, minimumLevel: StoredLogLevel(rank: 2), limit: 5000)
      for record in page {
        if let report = ClusterAttemptReport(metadata: record.metadata) {
          reports.append((report, record))
        }
      }
      read += page.count
      guard let last = page.last, page.count == 5000 else {
        if let last = page.last { after = last.sequence }
        break
      }
      after = last.sequence
    }
    let lastTransition = try await transitions.last?.sequence ?? 0
    return ClusterView(
      run: run, reports: reports, taskRuns: try await taskRuns, lastLog: after,
      lastTransition: lastTransition, now: now)
  }

  init(
    run: FlowRunRecord, reports: [(ClusterAttemptReport, StoredLogRecord)],
    taskRuns: [TaskRunRecord], lastLog: Int64, lastTransition: Int64, now: Date
  ) {
    self.run = run
    self.now = now
    self.lastLog = lastLog
    self.lastTransition = lastTransition
    var workers: [String: Worker] = [:]
    var lanes: Set<Lane> = []
    var bars: [Bar] = []
    for (report, record) in reports {
      var worker =
        workers[report.worker]
        ?? Worker(
          name: report.worker, threads: report.threads, lastReport: report.ended,
          running: report.running, load: report.load)
      worker.attempts += 1
      worker.failures += report.succeeded ? 0 : 1
      worker.busySeconds += max(report.ended.timeIntervalSince(report.started), 0)
      worker.threads = max(worker.threads, report.threads)
      if report.ended >= worker.lastReport {
        worker.lastReport = report.ended
        worker.running = report.running
        worker.load = report.load ?? worker.load
      }
      workers[report.worker] = worker
      let lane = Lane(worker: report.worker, thread: report.thread)
      lanes.insert(lane)
      let slug = record.metadata["task"] ?? "?"
      let label = record.metadata["map_index"].map { "\(slug)[\($0)]" } ?? slug
      bars.append(
        Bar(
          lane: lane, label: label, slug: slug, started: report.started, ended: report.ended,
          succeeded: report.succeeded))
    }
    self.workers = workers.values.sorted { $0.name < $1.name }
    // Every thread of every worker gets a lane, busy or not.
    for worker in workers.values {
      for thread in 0..<max(worker.threads, 1) {
        lanes.insert(Lane(worker: worker.name, thread: thread))
      }
    }
    self.lanes = lanes.sorted()
    self.bars = bars
    var progress: [String: Progress] = [:]
    var order: [String] = []
    for task in taskRuns {
      // A mapped parent is the sum of its children: count the children only.
      if task.mapIndex < 0, task.state == "Mapped" { continue }
      if progress[task.slug] == nil {
        progress[task.slug] = Progress(slug: task.slug)
        order.append(task.slug)
      }
      progress[task.slug]?.counts[task.state, default: 0] += 1
    }
    self.progress = order.compactMap { progress[$0] }
  }

  /// The end of the stream's time axis: the run's end, or now.
  var end: Date { max(run.endedAt ?? now, bars.map(\.ended).max() ?? now) }
  var start: Date { min(run.startedAt, bars.map(\.started).min() ?? run.startedAt) }

  /// A colour per task name (Dask colours the stream by task prefix).
  static func colour(_ slug: String) -> String {
    var hash: UInt32 = 2_166_136_261
    for byte in slug.utf8 { hash = (hash ^ UInt32(byte)) &* 16_777_619 }
    let hue = Double(hash % 360) / 360
    // HSL(hue, 60%, 55%) as hex.
    let s = 0.6
    let l = 0.55
    let q = l + s - l * s
    let p = 2 * l - q
    func channel(_ t: Double) -> Int {
      var t = t
      if t < 0 { t += 1 }
      if t > 1 { t -= 1 }
      let value: Double
      if t < 1.0 / 6 {
        value = p + (q - p) * 6 * t
      } else if t < 0.5 {
        value = q
      } else if t < 2.0 / 3 {
        value = p + (q - p) * (2.0 / 3 - t) * 6
      } else {
        value = p
      }
      return Int((value * 255).rounded())
    }
    return String(
      format: "#%02x%02x%02x", channel(hue + 1.0 / 3), channel(hue), channel(hue - 1.0 / 3))
  }

  static let width = 1000
  static let laneHeight = 16
  static let labelWidth = 180

  /// The task stream: one lane per worker thread, one bar per attempt.
  func streamSVG() -> HTML {
    let origin = start
    let span = max(end.timeIntervalSince(origin), 0.001)
    let height = max(lanes.count, 1) * Self.laneHeight + 20
    let total = Self.labelWidth + Self.width
    var text =
      "<svg class=\"task-stream\" id=\"task-stream\" xmlns=\"http://www.w3.org/2000/svg\" "
      + "width=\"\(total)\" height=\"\(height)\" viewBox=\"0 0 \(total) \(height)\" "
      + "data-start=\"\(Int64((origin.timeIntervalSince1970 * 1000).rounded()))\" "
      + "data-span=\"\(Int64((span * 1000).rounded()))\" role=\"img\" "
      + "aria-label=\"Task stream: one lane per worker thread\">"
    var laneIndex: [Lane: Int] = [:]
    for (index, lane) in lanes.enumerated() {
      laneIndex[lane] = index
      text += "<g class=\"lane\" data-worker=\""
      HTML.escape(lane.worker, into: &text)
      text +=
        "\" data-thread=\"\(lane.thread)\"><text x=\"0\" y=\"\(index * Self.laneHeight + 12)\">"
      HTML.escape(SchematicSVG.shortened(lane.worker) + " #\(lane.thread + 1)", into: &text)
      text += "</text></g>"
    }
    text += "<g class=\"bars\" transform=\"translate(\(Self.labelWidth),0)\">"
    for bar in bars {
      guard let lane = laneIndex[bar.lane] else { continue }
      let x = bar.started.timeIntervalSince(origin) / span * Double(Self.width)
      let w = max(bar.ended.timeIntervalSince(bar.started) / span * Double(Self.width), 1)
      text += "<rect data-lane=\"\(lane)\" data-s=\""
      text += "\(Int64((bar.started.timeIntervalSince(origin) * 1000).rounded()))\" data-e=\""
      text += "\(Int64((bar.ended.timeIntervalSince(origin) * 1000).rounded()))\" fill=\""
      text += bar.succeeded ? Self.colour(bar.slug) : "#eb0000"
      text += "\" x=\"\(Layout.fixed(x, digits: 1))\" y=\"\(lane * Self.laneHeight)\" "
      text += "width=\"\(Layout.fixed(w, digits: 1))\" height=\"\(Self.laneHeight - 3)\"><title>"
      HTML.escape(
        "\(bar.label) on \(bar.lane.worker) thread \(bar.lane.thread + 1): "
          + Layout.duration(bar.ended.timeIntervalSince(bar.started))
          + (bar.succeeded ? "" : ", failed"), into: &text)
      text += "</title></rect>"
    }
    let axis = max(lanes.count, 1) * Self.laneHeight + 14
    text += "</g><text x=\"\(Self.labelWidth)\" y=\"\(axis)\">0 s</text>"
    text +=
      "<text class=\"axis-end\" x=\"\(total)\" y=\"\(axis)\" text-anchor=\"end\">"
      + "\(HTML.escaped(Layout.duration(span)))</text></svg>"
    return HTML(trusted: text)
  }

  /// States that count as done, failed and running in a progress bar.
  static let done: Set<String> = ["Success", "Cached", "Mapped", "Skipped"]
  static let failed: Set<String> = ["Failed", "TimedOut", "TriggerFailed", "Crashed", "Cancelled"]
  static let active: Set<String> = ["Running", "Retrying"]

  func page() -> HTML {
    let id = run.id.uuidString.lowercased()
    var workerRows: [HTML] = []
    for worker in workers {
      let age = max(now.timeIntervalSince(worker.lastReport), 0)
      workerRows.append(
        """
        <tr data-worker="\(worker.name)" data-last="\(String(Int64((worker.lastReport.timeIntervalSince1970 * 1000).rounded())))"><td>\(worker.name)</td>
        <td class="threads">\(worker.threads)</td><td class="running">\(worker.running)</td>
        <td class="load">\(worker.load.map { String(format: "%.2f", $0) } ?? "")</td>
        <td class="attempts">\(worker.attempts)</td><td class="failures">\(worker.failures)</td>
        <td class="busy">\(Layout.duration(worker.busySeconds))</td>
        <td class="age">\(Layout.age(age)) ago</td></tr>
        """)
    }
    var progressRows: [HTML] = []
    for item in progress {
      let total = max(item.total, 1)
      var done = 0
      var failed = 0
      var active = 0
      for (state, count) in item.counts {
        if Self.done.contains(state) {
          done += count
        } else if Self.failed.contains(state) {
          failed += count
        } else if Self.active.contains(state) {
          active += count
        }
      }
      let scale = 300.0 / Double(total)
      let parts: [(String, Int)] = [
        ("s-Success", done), ("s-Failed", failed), ("s-Running", active),
      ]
      var x = 0.0
      var rects = ""
      for (cls, count) in parts where count > 0 {
        rects +=
          "<rect class=\"\(cls)\" x=\"\(Layout.fixed(x, digits: 1))\" y=\"0\" "
          + "width=\"\(Layout.fixed(Double(count) * scale, digits: 1))\" height=\"14\"/>"
        x += Double(count) * scale
      }
      progressRows.append(
        """
        <tr data-slug="\(item.slug)" data-counts="\(ServerJSON.encode(item.counts))"><td>\(item.slug)</td>
        <td><svg class="progress" width="300" height="14" viewBox="0 0 300 14"><rect class="track" width="300" height="14"/>\(HTML(trusted: rects))</svg></td>
        <td class="count">\(done) / \(item.total)\(failed > 0 ? " (\(failed) failed)" : "")</td></tr>
        """)
    }
    let stream =
      "/api/flow-runs/\(id)/stream?transitions_after=\(lastTransition)&logs_after=\(lastLog)"
    let noWorkers: HTML =
      workers.isEmpty
      ? "<p class=\"empty\" id=\"no-workers\">No worker has reported an attempt of this run yet (a run on the sequential or concurrent executor has none).</p>"
      : ""
    return Layout.page(
      title: "\(run.flowName) cluster",
      body: """
        <section class="cluster" id="cluster" data-run="\(id)" data-stream="\(stream)" data-now="\(String(Int64((now.timeIntervalSince1970 * 1000).rounded())))">
        <h1><span id="run-state">\(Layout.badge(run.state))</span> \(run.flowName) <small>on a cluster</small></h1>
        <p><a href="/runs/\(id)">← The run</a> · executor <code>\(run.executor)</code></p>
        </section>
        <h2>Workers</h2>
        <table class="workers" id="workers"><thead><tr><th>Worker</th><th>Threads</th><th>Running</th>
        <th>Load (1 min)</th><th>Attempts</th><th>Failed</th><th>Busy</th><th>Last report</th></tr></thead>
        <tbody>\(workerRows)</tbody></table>\(noWorkers)
        <h2>Task stream</h2>
        <div class="scroll">\(streamSVG())</div>
        <h2>Progress</h2>
        <table class="progress-table" id="progress"><thead><tr><th>Task</th><th>Progress</th><th>Done</th></tr></thead>
        <tbody>\(progressRows)</tbody></table>
        """)
  }

  /// The API's view.
  var json: ClusterJSON {
    ClusterJSON(
      workers: workers.map {
        .init(
          name: $0.name, threads: $0.threads, running: $0.running, load: $0.load,
          attempts: $0.attempts, failures: $0.failures, busySeconds: $0.busySeconds,
          lastReportAt: $0.lastReport,
          lastReportSecondsAgo: max(now.timeIntervalSince($0.lastReport), 0))
      },
      attempts: bars.map {
        .init(
          task: $0.label, worker: $0.lane.worker, thread: $0.lane.thread, startedAt: $0.started,
          endedAt: $0.ended, succeeded: $0.succeeded)
      },
      progress: progress.map { .init(task: $0.slug, counts: $0.counts) })
  }
}

/// The cluster view as the API returns it.
struct ClusterJSON: Encodable {
  struct Worker: Encodable {
    var name: String
    var threads: Int
    var running: Int
    var load: Double?
    var attempts: Int
    var failures: Int
    var busySeconds: Double
    var lastReportAt: Date
    var lastReportSecondsAgo: Double
  }

  struct Attempt: Encodable {
    var task: String
    var worker: String
    var thread: Int
    var startedAt: Date
    var endedAt: Date
    var succeeded: Bool
  }

  struct Progress: Encodable {
    var task: String
    var counts: [String: Int]
  }

  var workers: [Worker]
  var attempts: [Attempt]
  var progress: [Progress]
}

/// The UI's stylesheet and script, hand-written and served by the server itself (nothing is
/// fetched from elsewhere at run time).
enum StaticAssets {
  /// `/assets/flow.css`.
  static let css = #"""
    :root { --fg: #1d2733; --muted: #5d6b7a; --line: #d8dee6; --bg: #f6f8fa;
      --success: #28a745; --failed: #eb0000; --running: #00a5dd; --waiting: #ffab00;
      --skipped: #999999; --pending: #c9d1da; }
    * { box-sizing: border-box; }
    body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif;
      color: var(--fg); background: #fff; }
    header { display: flex; gap: 24px; align-items: center; padding: 10px 20px;
      background: #1d2733; color: #fff; }
    header a { color: #fff; text-decoration: none; margin-right: 16px; }
    header .brand { font-weight: 700; }
    main { padding: 16px 20px 40px; max-width: 1400px; }
    h1 { font-size: 22px; margin: 4px 0 12px; } h2 { font-size: 17px; margin: 24px 0 8px; }
    table { border-collapse: collapse; width: 100%; }
    th, td { text-align: left; padding: 5px 8px; border-bottom: 1px solid var(--line);
      vertical-align: top; }
    th { background: var(--bg); font-weight: 600; }
    code { font: 12px ui-monospace, SFMono-Regular, Menlo, monospace; word-break: break-all; }
    .filters { display: flex; gap: 12px; align-items: end; margin-bottom: 12px; }
    .empty { color: var(--muted); } .error { color: var(--failed); font-weight: 600; }
    .badge { display: inline-block; padding: 1px 8px; border-radius: 10px; color: #fff;
      font-size: 12px; font-weight: 600; background: var(--pending); }
    .facts { display: grid; grid-template-columns: max-content 1fr; gap: 2px 16px; }
    .facts dt { color: var(--muted); } .facts dd { margin: 0; }
    .scroll { overflow: auto; max-height: 70vh; border: 1px solid var(--line);
      background: var(--bg); }
    svg.schematic .edges path { fill: none; stroke: #8a96a3; stroke-width: 1.2; }
    svg.schematic .node rect { fill: var(--pending); stroke: #33404d; stroke-width: 1; }
    svg.schematic .node.parameter rect { fill: #fff; }
    svg.schematic .node.mapped rect { stroke-dasharray: 4 2; stroke-width: 2; }
    svg.schematic text { font: 12px system-ui, sans-serif; fill: #111; }
    svg.schematic text.detail { font-size: 11px; fill: #222; }
    svg.timeline rect { fill: var(--pending); }
    svg.timeline text { font: 11px system-ui, sans-serif; fill: var(--muted); }
    .s-Success, .s-Cached, .s-Mapped { background: var(--success); }
    svg.schematic .node.s-Success rect, svg.schematic .node.s-Cached rect, svg.schematic .node.s-Mapped rect,
    svg.timeline rect.s-Success, svg.timeline rect.s-Cached { fill: var(--success); }
    .s-Failed, .s-TimedOut, .s-TriggerFailed, .s-Crashed { background: var(--failed); }
    svg.schematic .node.s-Failed rect, svg.schematic .node.s-TimedOut rect, svg.schematic .node.s-TriggerFailed rect, svg.schematic .node.s-Crashed rect,
    svg.timeline rect.s-Failed, svg.timeline rect.s-TimedOut, svg.timeline rect.s-Crashed
      { fill: var(--failed); }
    .s-Running { background: var(--running); }
    svg.schematic .node.s-Running rect, svg.timeline rect.s-Running { fill: var(--running); }
    .s-Retrying, .s-Scheduled, .s-Paused, .s-Late { background: var(--waiting); }
    svg.schematic .node.s-Retrying rect, svg.schematic .node.s-Scheduled rect, svg.schematic .node.s-Paused rect,
    svg.timeline rect.s-Retrying { fill: var(--waiting); }
    .s-Skipped, .s-Cancelled { background: var(--skipped); }
    svg.schematic .node.s-Skipped rect, svg.schematic .node.s-Cancelled rect, svg.timeline rect.s-Skipped { fill: var(--skipped); }
    .s-Pending { background: var(--pending); color: var(--fg); }
    .log-tools { display: flex; gap: 16px; align-items: center; margin-bottom: 6px; }
    .logs { font: 12px/1.4 ui-monospace, SFMono-Regular, Menlo, monospace; background: #0f1720;
      color: #dfe6ee; padding: 8px; max-height: 60vh; overflow: auto; white-space: pre-wrap; }
    .logs .log[hidden] { display: none; }
    .logs time { color: #8a96a3; } .l-warning b { color: #ffab00; }
    .l-error b, .l-critical b { color: #ff6b6b; }
    .pager a { margin-left: 12px; }
    .quick-run { display: inline; }
    .custom-run .field { margin: 8px 0; } .custom-run label { display: block; font-weight: 600; }
    .custom-run input, .custom-run select { width: 320px; padding: 4px 6px; }
    .custom-run .invalid input, .custom-run .invalid select { border: 2px solid var(--failed); }
    .field-error { color: var(--failed); margin: 2px 0 0; }
    .totals { list-style: none; padding: 0; display: flex; gap: 16px; flex-wrap: wrap; }
    .columns { display: grid; grid-template-columns: 1fr 1fr; gap: 24px; }
    .hint, .ranges { color: var(--muted); } .ranges a, .ranges b { margin-right: 10px; }
    svg.run-chart rect { fill: var(--pending); } svg.run-chart text, svg.task-stream text
      { font: 11px system-ui, sans-serif; fill: var(--muted); }
    svg.run-chart rect.s-Success, svg.run-chart rect.s-Cached { fill: var(--success); }
    svg.run-chart rect.s-Failed, svg.run-chart rect.s-Crashed, svg.run-chart rect.s-TimedOut,
    svg.run-chart rect.s-TriggerFailed { fill: var(--failed); }
    svg.run-chart rect.s-Running { fill: var(--running); }
    svg.run-chart rect.s-Late, svg.run-chart rect.s-Scheduled, svg.run-chart rect.s-Retrying { fill: var(--waiting); }
    svg.run-chart rect.s-Cancelled, svg.run-chart rect.s-Skipped { fill: var(--skipped); }
    svg.task-stream g.lane text { fill: var(--fg); }
    svg.progress rect.track { fill: #e3e8ee; } svg.progress rect.s-Success { fill: var(--success); }
    svg.progress rect.s-Failed { fill: var(--failed); } svg.progress rect.s-Running { fill: var(--running); }
    .next-runs time { font: 12px ui-monospace, SFMono-Regular, Menlo, monospace; }
    """#

  /// `/assets/flow.js`: live updates over server-sent events, the log filter. Values from the
  /// server are only ever set as text (`textContent`), never as markup.
  static let javascript = #"""
    "use strict";
    (function () {
      function stateClass(state) { return "s-" + (String(state).replace(/[^A-Za-z]/g, "") || "Unknown"); }
      function setState(element, state) {
        for (const name of Array.from(element.classList)) {
          if (name.startsWith("s-")) element.classList.remove(name);
        }
        element.classList.add(stateClass(state));
      }
      function badge(state) {
        const span = document.createElement("span");
        span.className = "badge " + stateClass(state);
        span.textContent = state;
        return span;
      }
      function clock(iso) { return iso ? iso.slice(0, 19).replace("T", " ") : ""; }
      function duration(seconds) {
        if (seconds === null || seconds === undefined) return "";
        if (seconds < 60) return seconds.toFixed(3) + " s";
        if (seconds < 3600) return Math.floor(seconds / 60) + " min " + Math.floor(seconds % 60) + " s";
        return Math.floor(seconds / 3600) + " h " + Math.floor(seconds % 3600 / 60) + " min";
      }

      // The run list: rows change state, new runs appear on top.
      const runs = document.getElementById("runs");
      if (runs && runs.dataset.stream) {
        const body = runs.tBodies[0];
        const source = new EventSource(runs.dataset.stream);
        source.addEventListener("run", function (event) {
          const run = JSON.parse(event.data);
          let row = body.querySelector('tr[data-id="' + run.id + '"]');
          if (!row) {
            row = document.createElement("tr");
            row.dataset.id = run.id;
            const cells = [];
            for (let i = 0; i < 6; i++) cells.push(row.insertCell());
            cells[0].className = "state";
            cells[1].textContent = run.flowName;
            const link = document.createElement("a");
            link.href = "/runs/" + run.id;
            link.textContent = run.id.slice(0, 8);
            cells[2].appendChild(link);
            cells[3].textContent = clock(run.startedAt);
            cells[4].className = "duration";
            cells[5].textContent = run.host;
            body.insertBefore(row, body.firstChild);
            const empty = document.querySelector("p.empty");
            if (empty) empty.remove();
          }
          const state = row.querySelector("td.state");
          state.replaceChildren(badge(run.state));
          row.querySelector("td.duration").textContent = duration(run.durationSeconds);
        });
      }

      // A run: its state, the schematic's nodes, the task table and the logs, live.
      const run = document.getElementById("run");
      if (run && run.dataset.stream) {
        const nodes = new Map();
        for (const node of document.querySelectorAll("svg.schematic g.node")) {
          nodes.set(node.dataset.slug, node);
        }
        const rows = new Map();
        for (const row of document.querySelectorAll("table.tasks tr[data-task]")) {
          rows.set(row.dataset.task, row);
        }
        const precedence = ["Failed", "Crashed", "TimedOut", "TriggerFailed", "Running", "Retrying",
          "Paused", "Scheduled", "Pending", "Cancelled", "Skipped", "Cached", "Success", "Mapped"];
        function summary(counts) {
          for (const state of precedence) {
            if ((counts[state] || 0) > 0) return state === "Cached" || state === "Mapped" ? "Success" : state;
          }
          return "Pending";
        }
        function showNode(node, state, label) {
          setState(node, state);
          node.dataset.state = state;
          const detail = node.querySelector("text.detail");
          if (detail) detail.textContent = label;
          const title = node.querySelector("title");
          if (title) title.textContent = node.dataset.slug + ": " + state;
        }
        function applyTransition(t) {
          if (!t.slug) return;
          const label = t.mapIndex >= 0 ? t.slug + "[" + t.mapIndex + "]" : t.slug;
          const row = rows.get(label);
          if (row) row.querySelector("td.state").replaceChildren(badge(t.to));
          const node = nodes.get(t.slug);
          if (!node) return;
          if (t.mapIndex >= 0) {
            const counts = JSON.parse(node.dataset.counts || "{}");
            if ((counts[t.from] || 0) > 0) counts[t.from] -= 1;
            counts[t.to] = (counts[t.to] || 0) + 1;
            node.dataset.counts = JSON.stringify(counts);
            const text = Object.keys(counts).filter(function (k) { return counts[k] > 0; })
              .sort(function (a, b) { return counts[b] - counts[a] || (a < b ? -1 : 1); })
              .map(function (k) { return counts[k] + " " + k; }).join(" · ");
            showNode(node, summary(counts), text);
          } else if (!node.dataset.counts || node.dataset.counts === "{}") {
            showNode(node, t.to, t.to);
          }
        }
        const logs = document.getElementById("logs");
        const level = document.getElementById("log-level");
        const search = document.getElementById("log-search");
        const count = document.getElementById("log-count");
        const levels = ["trace", "debug", "info", "notice", "warning", "error", "critical"];
        const maximumLines = 5000;
        function visible(line) {
          const minimum = levels.indexOf(level.value);
          const needle = search.value.toLowerCase();
          return Number(line.dataset.level) >= minimum
            && (!needle || line.textContent.toLowerCase().includes(needle));
        }
        function filterLogs() {
          let shown = 0;
          for (const line of logs.children) {
            line.hidden = !visible(line);
            if (!line.hidden) shown += 1;
          }
          count.textContent = shown + " of " + logs.children.length + " lines";
        }
        level.addEventListener("change", filterLogs);
        search.addEventListener("input", filterLogs);
        filterLogs();
        function appendLog(record) {
          const line = document.createElement("div");
          line.className = "log l-" + record.level.replace(/[^a-z]/g, "");
          line.dataset.level = String(levels.indexOf(record.level));
          const time = document.createElement("time");
          time.textContent = clock(record.time);
          const name = document.createElement("b");
          name.textContent = record.level;
          line.append(time, " ", name, record.metadata && record.metadata.task
            ? " [" + record.metadata.task + "] " : " ", record.message);
          line.hidden = !visible(line);
          const atBottom = logs.scrollTop + logs.clientHeight >= logs.scrollHeight - 4;
          logs.appendChild(line);
          while (logs.children.length > maximumLines) logs.firstChild.remove();
          if (atBottom) logs.scrollTop = logs.scrollHeight;
        }
        // The timeline: a bar starts at each move to Running and ends at the task's next
        // transition; the scale stretches as the run goes on.
        const timeline = document.getElementById("timeline");
        const bars = [];
        const openBars = new Map();
        const lanes = [];
        let timelineEnd = 0;
        let runEnded = false;
        let skew = 0;
        let layoutPending = false;
        const svgNS = "http://www.w3.org/2000/svg";
        const laneHeight = 14;
        const maximumLanes = 64;
        if (timeline) {
          const origin = Number(timeline.dataset.start);
          timelineEnd = origin + Number(timeline.dataset.span);
          runEnded = Boolean(document.getElementById("run-ended").textContent);
          if (!runEnded) skew = timelineEnd - Date.now();
          for (const rect of timeline.querySelectorAll("rect[data-s]")) {
            const bar = { rect: rect, start: origin + Number(rect.dataset.s),
              end: origin + Number(rect.dataset.e), lane: Number(rect.dataset.lane),
              open: rect.dataset.open === "1", label: rect.dataset.label };
            bars.push(bar);
            if (bar.open) openBars.set(bar.label, bar);
            const holder = lanes[bar.lane];
            if (!holder || holder.open || (!bar.open && bar.end >= holder.end)) lanes[bar.lane] = bar;
          }
        }
        function now() { return runEnded ? timelineEnd : Math.max(timelineEnd, Date.now() + skew); }
        function barTitle(bar, state) {
          let title = bar.rect.querySelector("title");
          if (!title) { title = document.createElementNS(svgNS, "title"); bar.rect.appendChild(title); }
          title.textContent = bar.label + ": " + state;
        }
        function layoutTimeline() {
          layoutPending = false;
          if (!timeline) return;
          const origin = Number(timeline.dataset.start);
          const end = now();
          const span = Math.max(end - origin, 1);
          const width = 1000;
          for (const bar of bars) {
            const stop = bar.open ? end : bar.end;
            bar.rect.setAttribute("x", ((bar.start - origin) / span * width).toFixed(1));
            bar.rect.setAttribute("width", Math.max((stop - bar.start) / span * width, 1).toFixed(1));
          }
          const height = Math.max(lanes.length, 1) * laneHeight + 20;
          timeline.setAttribute("height", String(height));
          timeline.setAttribute("viewBox", "0 0 " + width + " " + height);
          for (const text of timeline.querySelectorAll("text")) text.setAttribute("y", String(height - 6));
          const axis = timeline.querySelector("text.axis-end");
          if (axis) axis.textContent = duration(span / 1000);
          timeline.dataset.bars = String(bars.length);
        }
        function scheduleLayout() {
          if (layoutPending) return;
          layoutPending = true;
          requestAnimationFrame(layoutTimeline);
        }
        function timelineTransition(t, label) {
          if (!timeline) return;
          const at = Date.parse(t.time);
          timelineEnd = Math.max(timelineEnd, at);
          const open = openBars.get(label);
          if (open) {
            open.open = false;
            open.end = at;
            setState(open.rect, t.to);
            barTitle(open, t.to);
            openBars.delete(label);
          }
          if (t.to === "Running") {
            let lane = lanes.findIndex(function (bar) { return !bar || (!bar.open && bar.end <= at); });
            if (lane < 0) lane = lanes.length < maximumLanes ? lanes.length : 0;
            const rect = document.createElementNS(svgNS, "rect");
            rect.setAttribute("y", String(lane * laneHeight));
            rect.setAttribute("height", String(laneHeight - 2));
            const bar = { rect: rect, start: at, end: at, lane: lane, open: true, label: label };
            setState(rect, "Running");
            barTitle(bar, "Running");
            rect.dataset.label = label;
            timeline.insertBefore(rect, timeline.querySelector("text"));
            bars.push(bar);
            openBars.set(label, bar);
            lanes[lane] = bar;
          }
          scheduleLayout();
        }
        if (timeline && !runEnded) {
          setInterval(function () { if (!runEnded && openBars.size > 0) scheduleLayout(); }, 1000);
        }
        const source = new EventSource(run.dataset.stream);
        source.addEventListener("run", function (event) {
          const record = JSON.parse(event.data);
          document.getElementById("run-state").replaceChildren(badge(record.state));
          document.getElementById("run-ended").textContent = clock(record.endedAt);
          document.getElementById("run-message").textContent = record.message || "";
          document.getElementById("run-executor").textContent = record.executor;
          document.getElementById("run-host").textContent = record.processID === 0 && !record.host
            ? "not started yet" : record.host + " (pid " + record.processID + ")";
          if (record.processID !== 0 || record.host) {
            document.getElementById("run-started-label").textContent = "Started";
            document.getElementById("run-started").textContent = clock(record.startedAt);
            for (const id of ["run-queue-label", "run-queue"]) {
              const element = document.getElementById(id);
              if (element) element.remove();
            }
          }
          run.dataset.state = record.state;
          if (record.endedAt) {
            const cancel = document.getElementById("cancel-run");
            if (cancel) cancel.remove();
            runEnded = true;
            timelineEnd = Math.max(timelineEnd, Date.parse(record.endedAt));
            scheduleLayout();
          }
        });
        source.addEventListener("transitions", function (event) {
          for (const t of JSON.parse(event.data)) {
            applyTransition(t);
            if (t.slug) timelineTransition(t, t.mapIndex >= 0 ? t.slug + "[" + t.mapIndex + "]" : t.slug);
          }
        });
        source.addEventListener("logs", function (event) {
          for (const record of JSON.parse(event.data)) appendLog(record);
          filterLogs();
        });
        source.addEventListener("end", function () {
          source.close();
          run.dataset.live = "ended";
        });
        run.dataset.live = "open";
      }

      // The cluster dashboard: attempt reports arrive in the run's log; each is a bar in its
      // worker thread's lane, and updates its worker's row; transitions move the progress bars.
      const cluster = document.getElementById("cluster");
      if (cluster && cluster.dataset.stream) {
        const svgNS = "http://www.w3.org/2000/svg";
        const stream = document.getElementById("task-stream");
        const barsGroup = stream.querySelector("g.bars");
        const origin = Number(stream.dataset.start);
        let end = origin + Number(stream.dataset.span);
        const skew = Number(cluster.dataset.now) - Date.now();
        const laneHeight = 16, labelWidth = 180, width = 1000;
        const lanes = new Map();
        for (const lane of stream.querySelectorAll("g.lane")) {
          lanes.set(lane.dataset.worker + "#" + lane.dataset.thread, lanes.size);
        }
        const bars = [];
        for (const rect of barsGroup.querySelectorAll("rect")) {
          bars.push({ rect: rect, start: origin + Number(rect.dataset.s), end: origin + Number(rect.dataset.e) });
        }
        let pending = false;
        function colour(slug) {
          let hash = 2166136261;
          for (const byte of new TextEncoder().encode(slug)) hash = Math.imul(hash ^ byte, 16777619) >>> 0;
          return "hsl(" + (hash % 360) + ", 60%, 55%)";
        }
        function layout() {
          pending = false;
          const span = Math.max(end - origin, 1);
          for (const bar of bars) {
            bar.rect.setAttribute("x", ((bar.start - origin) / span * width).toFixed(1));
            bar.rect.setAttribute("width", Math.max((bar.end - bar.start) / span * width, 1).toFixed(1));
          }
          const height = Math.max(lanes.size, 1) * laneHeight + 20;
          stream.setAttribute("height", String(height));
          stream.setAttribute("viewBox", "0 0 " + (labelWidth + width) + " " + height);
          for (const text of stream.querySelectorAll(":scope > text")) text.setAttribute("y", String(height - 6));
          const axis = stream.querySelector("text.axis-end");
          if (axis) axis.textContent = duration(span / 1000);
          stream.dataset.bars = String(bars.length);
        }
        function schedule() { if (!pending) { pending = true; requestAnimationFrame(layout); } }
        function lane(worker, thread, threads) {
          for (let t = 0; t < Math.max(threads, thread + 1); t++) {
            const key = worker + "#" + t;
            if (lanes.has(key)) continue;
            const group = document.createElementNS(svgNS, "g");
            group.setAttribute("class", "lane");
            group.dataset.worker = worker;
            group.dataset.thread = String(t);
            const text = document.createElementNS(svgNS, "text");
            text.setAttribute("x", "0");
            text.setAttribute("y", String(lanes.size * laneHeight + 12));
            text.textContent = (worker.length > 24 ? worker.slice(0, 23) + "…" : worker) + " #" + (t + 1);
            group.appendChild(text);
            stream.insertBefore(group, barsGroup);
            lanes.set(key, lanes.size);
          }
          return lanes.get(worker + "#" + thread);
        }
        const workers = document.getElementById("workers").tBodies[0];
        function workerRow(name) {
          for (const row of workers.rows) if (row.dataset.worker === name) return row;
          const row = workers.insertRow();
          row.dataset.worker = name;
          for (const cls of ["name", "threads", "running", "load", "attempts", "failures", "busy", "age"]) {
            const cell = row.insertCell();
            cell.className = cls;
          }
          row.cells[0].textContent = name;
          row.cells[4].textContent = "0";
          row.cells[5].textContent = "0";
          row.dataset.busy = "0";
          const empty = document.getElementById("no-workers");
          if (empty) empty.remove();
          return row;
        }
        function report(record) {
          const m = record.metadata || {};
          if (m["cluster.attempt_report"] !== "1") return;
          const worker = m["cluster.worker"] || "unknown";
          const thread = Number(m["cluster.thread"]);
          const threads = Number(m["cluster.threads"]);
          const start = Number(m["cluster.started"]) * 1000;
          const stop = Number(m["cluster.ended"]) * 1000;
          const ok = m["cluster.outcome"] === "success";
          const index = lane(worker, thread, threads);
          const label = m.task ? (m.map_index !== undefined ? m.task + "[" + m.map_index + "]" : m.task) : "?";
          const rect = document.createElementNS(svgNS, "rect");
          rect.setAttribute("y", String(index * laneHeight));
          rect.setAttribute("height", String(laneHeight - 3));
          rect.setAttribute("fill", ok ? colour(m.task || "?") : "#eb0000");
          const title = document.createElementNS(svgNS, "title");
          title.textContent = label + " on " + worker + " thread " + (thread + 1) + ": "
            + duration((stop - start) / 1000) + (ok ? "" : ", failed");
          rect.appendChild(title);
          barsGroup.appendChild(rect);
          bars.push({ rect: rect, start: start, end: stop });
          end = Math.max(end, stop);
          const row = workerRow(worker);
          row.cells[1].textContent = String(threads);
          const last = Number(row.dataset.last || 0);
          if (stop >= last) {
            row.dataset.last = String(stop);
            row.cells[2].textContent = m["cluster.running"] || "";
            row.cells[3].textContent = m["cluster.load"] || "";
          }
          row.cells[4].textContent = String(Number(row.cells[4].textContent) + 1);
          if (!ok) row.cells[5].textContent = String(Number(row.cells[5].textContent) + 1);
          row.dataset.busy = String(Number(row.dataset.busy || 0) + (stop - start) / 1000);
          row.cells[6].textContent = duration(Number(row.dataset.busy));
          schedule();
        }
        function ages() {
          const now = Date.now() + skew;
          for (const row of workers.rows) {
            const age = Math.max(0, Math.round((now - Number(row.dataset.last || now)) / 1000));
            row.cells[7].textContent = (age < 120 ? age + " s" : age < 7200 ? Math.floor(age / 60) + " min"
              : Math.floor(age / 3600) + " h") + " ago";
          }
        }
        setInterval(ages, 1000);
        const progress = document.getElementById("progress").tBodies[0];
        const doneStates = ["Success", "Cached", "Mapped", "Skipped"];
        const failedStates = ["Failed", "TimedOut", "TriggerFailed", "Crashed", "Cancelled"];
        const activeStates = ["Running", "Retrying"];
        function progressRow(slug) {
          for (const row of progress.rows) if (row.dataset.slug === slug) return row;
          const row = progress.insertRow();
          row.dataset.slug = slug;
          row.dataset.counts = "{}";
          row.insertCell().textContent = slug;
          const svg = document.createElementNS(svgNS, "svg");
          svg.setAttribute("class", "progress");
          svg.setAttribute("width", "300");
          svg.setAttribute("height", "14");
          row.insertCell().appendChild(svg);
          row.insertCell().className = "count";
          return row;
        }
        function drawProgress(row) {
          const counts = JSON.parse(row.dataset.counts || "{}");
          let total = 0, done = 0, failed = 0, active = 0;
          for (const state of Object.keys(counts)) {
            total += counts[state];
            if (doneStates.includes(state)) done += counts[state];
            else if (failedStates.includes(state)) failed += counts[state];
            else if (activeStates.includes(state)) active += counts[state];
          }
          const svg = row.cells[1].querySelector("svg");
          svg.replaceChildren();
          const track = document.createElementNS(svgNS, "rect");
          track.setAttribute("class", "track");
          track.setAttribute("width", "300");
          track.setAttribute("height", "14");
          svg.appendChild(track);
          let x = 0;
          const scale = 300 / Math.max(total, 1);
          for (const [cls, count] of [["s-Success", done], ["s-Failed", failed], ["s-Running", active]]) {
            if (count <= 0) continue;
            const part = document.createElementNS(svgNS, "rect");
            part.setAttribute("class", cls);
            part.setAttribute("x", x.toFixed(1));
            part.setAttribute("width", (count * scale).toFixed(1));
            part.setAttribute("height", "14");
            svg.appendChild(part);
            x += count * scale;
          }
          row.cells[2].textContent = done + " / " + total + (failed > 0 ? " (" + failed + " failed)" : "");
        }
        function progressTransition(t) {
          if (!t.slug) return;
          const row = progressRow(t.slug);
          const counts = JSON.parse(row.dataset.counts || "{}");
          if (t.from !== "Pending" || (counts.Pending || 0) > 0) {
            if ((counts[t.from] || 0) > 0) counts[t.from] -= 1;
          }
          if (!(t.mapIndex < 0 && t.to === "Mapped")) counts[t.to] = (counts[t.to] || 0) + 1;
          row.dataset.counts = JSON.stringify(counts);
          drawProgress(row);
        }
        const source = new EventSource(cluster.dataset.stream);
        source.addEventListener("logs", function (event) {
          for (const record of JSON.parse(event.data)) report(record);
        });
        source.addEventListener("transitions", function (event) {
          for (const t of JSON.parse(event.data)) progressTransition(t);
        });
        source.addEventListener("run", function (event) {
          const record = JSON.parse(event.data);
          document.getElementById("run-state").replaceChildren(badge(record.state));
          cluster.dataset.state = record.state;
        });
        source.addEventListener("end", function () {
          source.close();
          cluster.dataset.live = "ended";
        });
        cluster.dataset.live = "open";
      }
    })();
    """#
}

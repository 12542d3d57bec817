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
        const source = new EventSource(run.dataset.stream);
        source.addEventListener("run", function (event) {
          const record = JSON.parse(event.data);
          document.getElementById("run-state").replaceChildren(badge(record.state));
          document.getElementById("run-ended").textContent = clock(record.endedAt);
          document.getElementById("run-message").textContent = record.message || "";
          run.dataset.state = record.state;
        });
        source.addEventListener("transitions", function (event) {
          for (const t of JSON.parse(event.data)) applyTransition(t);
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
    })();
    """#
}

#!/usr/bin/env bash
# The server's load test (issue 17), on loopback only and bounded in time: `flow server` on a
# throwaway PostgreSQL, the ticket sample deployed, 4 agents of it running queued runs, and
# `wrk` with 50 concurrent connections on the run list (/runs), then on one run's page
# (/runs/ID), for DURATION seconds each. Prints requests per second, the p99 latency and how
# many runs the agents finished meanwhile, beside /healthz (the server without a store read)
# under the same load. A benchmark, not a test: nothing fails on a figure.
#
#   bash Tools/LoadTest/server-load.sh            # debug binaries (swift build first)
#   CONFIG=release DURATION=30 bash Tools/LoadTest/server-load.sh
#
# Needs wrk (`apt-get install wrk`) and PostgreSQL (`.ci/postgres` installs it when missing).
set -euo pipefail
cd "$(dirname "$0")/../.."
CONFIG=${CONFIG:-debug}
DURATION=${DURATION:-20}
CLIENTS=${CLIENTS:-50}
AGENTS=${AGENTS:-4}
QUEUED=${QUEUED:-600}
BIN=$(swift build -c "$CONFIG" --show-bin-path)
for tool in flow ticket-model-evaluation; do
  [ -x "$BIN/$tool" ] || { echo "missing $BIN/$tool: swift build -c $CONFIG --product $tool" >&2; exit 2; }
done
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 2; }

WORK=$(mktemp -d /tmp/flow-load.XXXXXX)
PIDS=()
# shellcheck source=/dev/null
source .ci/postgres
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  postgres_stop
  rm -rf "$WORK"
}
trap cleanup EXIT
postgres_start >/dev/null
DB=$FLOW_TEST_POSTGRES_URL

(cd "$WORK" && "$BIN/ticket-model-evaluation" deploy ticket-model-evaluation --name tickets \
  --database "$DB" >/dev/null)
"$BIN/flow" server --database "$DB" --port 0 >"$WORK/server.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do
  URL=$(grep -o 'http://[0-9.]*:[0-9]*' "$WORK/server.log" | head -1 || true)
  [ -n "$URL" ] && break
  sleep 0.1
done
[ -n "$URL" ] || { echo "the server did not start: $(cat "$WORK/server.log")" >&2; exit 1; }
DEPLOYMENT=$(curl -sf "$URL/api/deployments" | python3 -c \
  'import json,sys; print(json.load(sys.stdin)["deployments"][0]["id"])')

# One run first, finished, for the run page; then a backlog the agents work through.
curl -sf -X POST "$URL/api/deployments/$DEPLOYMENT/runs" >/dev/null
for i in $(seq "$AGENTS"); do
  (cd "$WORK" && exec "$BIN/ticket-model-evaluation" agent --database "$DB" --poll 0.2 \
    --agent-name "load-$i" --log-level error >"$WORK/agent-$i.log" 2>&1) &
  PIDS+=($!)
done
RUN=""
for _ in $(seq 600); do
  RUN=$(curl -sf "$URL/api/flow-runs?state=Success&limit=1" | python3 -c \
    'import json,sys; r=json.load(sys.stdin)["flowRuns"]; print(r[0]["id"] if r else "")')
  [ -n "$RUN" ] && break
  sleep 0.1
done
[ -n "$RUN" ] || { echo "no run finished; agent log: $(cat "$WORK/agent-1.log")" >&2; exit 1; }
for i in $(seq "$QUEUED"); do
  curl -sf -X POST "$URL/api/deployments/$DEPLOYMENT/runs" >/dev/null
done

finished() {
  curl -sf "$URL/api/run-counts?hours=24" | python3 -c \
    'import json,sys; print(sum(b["counts"].get("Success",0) for b in json.load(sys.stdin)["buckets"]))'
}

measure() {
  local name=$1 path=$2 before after report rps p99
  before=$(finished)
  report=$(wrk -t2 -c"$CLIENTS" -d"${DURATION}s" --timeout 10s --latency "$URL$path")
  after=$(finished)
  rps=$(echo "$report" | awk '/Requests\/sec/ {print $2}')
  p99=$(echo "$report" | awk '$1 == "99%" {print $2}')
  errors=$(echo "$report" | grep -E 'Non-2xx|Socket errors' || true)
  echo "$name: $rps requests/s, p99 $p99 with $CLIENTS clients over ${DURATION}s;" \
    "the $AGENTS agents finished $((after - before)) runs meanwhile ${errors:+($errors)}"
}

echo "load average: $(cut -d' ' -f1-3 /proc/loadavg); $CONFIG binaries; server $URL"
measure "baseline: /healthz (no store read)" "/healthz"
measure "run list (/runs)" "/runs"
measure "run page (/runs/$RUN)" "/runs/$RUN"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

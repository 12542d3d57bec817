#!/usr/bin/env bash
# How long a state change takes to reach an open page (issue 17's "<= 500 ms"): `flow server`
# on a throwaway SQLite database (or PostgreSQL with POSTGRES=1), the ticket sample deployed
# and one agent running it; for each of RUNS runs, the run's live stream is opened before the
# agent starts the run, and every transition's delay from its recorded time to its arrival at
# the client is measured (Tools/LoadTest/live-latency.py). Prints one JSON line per run. A
# benchmark, not a test: nothing fails on a figure.
#
#   bash Tools/LoadTest/live-latency.sh                  # debug binaries (swift build first)
#   CONFIG=release RUNS=5 bash Tools/LoadTest/live-latency.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
CONFIG=${CONFIG:-debug}
RUNS=${RUNS:-3}
BIN=$(swift build -c "$CONFIG" --show-bin-path)
for tool in flow ticket-model-evaluation; do
  [ -x "$BIN/$tool" ] || { echo "missing $BIN/$tool: swift build -c $CONFIG --product $tool" >&2; exit 2; }
done
WORK=$(mktemp -d /tmp/flow-latency.XXXXXX)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ "${POSTGRES:-0}" = 1 ]; then postgres_stop; fi
  rm -rf "$WORK"
}
trap cleanup EXIT
if [ "${POSTGRES:-0}" = 1 ]; then
  # shellcheck source=/dev/null
  source .ci/postgres
  postgres_start >/dev/null
  DB=$FLOW_TEST_POSTGRES_URL
else
  DB="sqlite:$WORK/flow.sqlite"
fi
(cd "$WORK" && "$BIN/ticket-model-evaluation" deploy ticket-model-evaluation --name tickets \
  --database "$DB" >/dev/null)
"$BIN/flow" server --database "$DB" --port 0 >"$WORK/server.log" 2>&1 &
PIDS+=($!)
URL=""
for _ in $(seq 100); do
  URL=$(grep -o 'http://[0-9.]*:[0-9]*' "$WORK/server.log" | head -1 || true)
  [ -n "$URL" ] && break
  sleep 0.1
done
[ -n "$URL" ] || { echo "the server did not start: $(cat "$WORK/server.log")" >&2; exit 1; }
DEPLOYMENT=$(curl -sf "$URL/api/deployments" | python3 -c \
  'import json,sys; print(json.load(sys.stdin)["deployments"][0]["id"])')
for _ in $(seq "$RUNS"); do
  RUN=$(curl -sf -X POST "$URL/api/deployments/$DEPLOYMENT/runs" | python3 -c \
    'import json,sys; print(json.load(sys.stdin)["id"])')
  python3 Tools/LoadTest/live-latency.py "$URL" "$RUN" &
  WATCH=$!
  sleep 0.5
  # One agent for this run, started after the page opened.
  (cd "$WORK" && exec "$BIN/ticket-model-evaluation" agent --database "$DB" --poll 0.2 \
    --agent-name latency --log-level error >>"$WORK/agent.log" 2>&1) &
  AGENT=$!
  wait "$WATCH"
  kill "$AGENT" 2>/dev/null || true
  wait "$AGENT" 2>/dev/null || true
done

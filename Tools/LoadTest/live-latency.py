#!/usr/bin/env python3
"""How long a recorded state change takes to reach an open page (issue 17: <= 500 ms).

Opens the live stream of one run (`/api/flow-runs/ID/stream`, what the run page listens to)
before the run starts, and for every `transitions` event computes the time from the
transition's recorded instant (the engine's clock, written with the transition) to the moment
the event arrived here (same machine, same clock). Prints one JSON line: count, median, p95
and max in milliseconds. Usage: live-latency.py URL RUN_ID
"""
import datetime
import json
import sys
import time
import urllib.request


def parse(text):
    return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def main():
    url, run = sys.argv[1], sys.argv[2]
    latencies = []
    with urllib.request.urlopen(f"{url}/api/flow-runs/{run}/stream", timeout=120) as stream:
        event = None
        for raw in stream:
            arrived = time.time()
            line = raw.decode().rstrip("\n")
            if line.startswith("event: "):
                event = line[7:]
            elif line.startswith("data: ") and event == "transitions":
                for transition in json.loads(line[6:]):
                    latencies.append((arrived - parse(transition["time"])) * 1000)
            elif line.startswith("data: ") and event == "end":
                break
    latencies.sort()
    if not latencies:
        print(json.dumps({"count": 0}))
        return 1
    pick = lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))]
    print(json.dumps({
        "count": len(latencies), "median_ms": round(pick(0.5), 1),
        "p95_ms": round(pick(0.95), 1), "max_ms": round(latencies[-1], 1),
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())

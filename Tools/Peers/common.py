"""Timing helpers shared by the peer benchmarks: medians of repetitions, JSON output."""

import json
import os
import statistics
import sys
import time


def median_seconds(repetitions, body, warmup=True):
    """The median wall time of `repetitions` calls of `body` (after one untimed warm-up)."""
    if warmup:
        body()
    times = []
    for _ in range(repetitions):
        start = time.perf_counter()
        body()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def peak_rss_bytes():
    """VmHWM of this process, in bytes."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


def quick():
    """True when FLOW_PEERS_QUICK is set: tiny sizes, to check that the scripts run."""
    return os.environ.get("FLOW_PEERS_QUICK") == "1"


def emit(peer, version, figures):
    """Prints one JSON object: {"peer", "version", "figures": {key: {"value", "size", "how"}}}."""
    json.dump({"peer": peer, "version": version, "figures": figures}, sys.stdout)
    sys.stdout.write("\n")


def figure(value, size, how):
    return {"value": value, "size": size, "how": how}

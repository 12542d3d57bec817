"""Prefect 1.4.1 (the tutorials' version) on flow-bench's workloads.

LocalExecutor for the sequential and chain rows, LocalDaskExecutor (threads, 2 workers) for
the concurrent row, the graph build, its memory (in a fresh process), and croniter's next fire
time (what Prefect 1's CronClock uses). Sizes are smaller than ours: Prefect 1 takes
milliseconds per task, so every figure is per task or per second and the sizes are printed.
"""

import datetime
import os
import subprocess
import sys

os.environ.setdefault("PREFECT__LOGGING__LEVEL", "ERROR")  # no per-task console lines

import prefect  # noqa: E402
from croniter import croniter  # noqa: E402
from prefect import Flow, task  # noqa: E402
from prefect.executors import LocalDaskExecutor, LocalExecutor  # noqa: E402

from common import emit, figure, median_seconds, peak_rss_bytes, quick  # noqa: E402


@task
def noop():
    return 1


@task
def step(value):
    return value + 1


def independent_flow(count):
    with Flow("bench") as flow:
        for _ in range(count):
            noop()
    return flow


def chain_flow(count):
    with Flow("bench-chain") as flow:
        value = noop()
        for _ in range(count - 1):
            value = step(value)
    return flow


def run(flow, executor):
    state = flow.run(executor=executor)
    assert state.is_successful(), state


def memory_child(count):
    independent_flow(100).validate()
    before = peak_rss_bytes()
    flow = independent_flow(count)
    flow.validate()
    print((peak_rss_bytes() - before) / count)


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--memory-child":
        return memory_child(int(sys.argv[2]))
    small = quick()
    independent = 50 if small else 1_000
    chain = 50 if small else 500
    graph = 500 if small else 10_000
    repetitions = 1 if small else 3
    figures = {}

    flow = independent_flow(independent)
    seconds = median_seconds(repetitions, lambda: run(flow, LocalExecutor()))
    figures["sequential_us_per_task"] = figure(
        seconds / independent * 1e6, independent, "LocalExecutor, independent no-op tasks")
    seconds = median_seconds(
        repetitions, lambda: run(flow, LocalDaskExecutor(scheduler="threads", num_workers=2)))
    figures["concurrent_tasks_per_s"] = figure(
        independent / seconds, independent, "LocalDaskExecutor(threads, 2 workers)")

    flow = chain_flow(chain)
    seconds = median_seconds(repetitions, lambda: run(flow, LocalExecutor()))
    figures["chain_us_per_task"] = figure(
        seconds / chain * 1e6, chain, "LocalExecutor, a chain of dependent tasks")

    seconds = median_seconds(repetitions, lambda: independent_flow(graph).validate())
    figures["build_ms_100k"] = figure(
        seconds * 1e3 * 100_000 / graph, graph, "Flow + validate(), scaled to 100,000 tasks")
    output = subprocess.run(
        [sys.executable, __file__, "--memory-child", str(graph)],
        capture_output=True, text=True, check=True).stdout
    figures["bytes_per_task"] = figure(
        float(output.strip().splitlines()[-1]), graph, "peak RSS growth per task, fresh process")

    tz = datetime.timezone.utc
    try:
        import pendulum
        tz = pendulum.timezone("Europe/Berlin")
    except ImportError:
        pass
    calls = 500 if small else 2_000
    start = datetime.datetime(2026, 1, 1, tzinfo=datetime.timezone.utc).astimezone(tz)
    instants = [start + datetime.timedelta(seconds=i * 365 * 86_400 / calls) for i in range(calls)]

    def cron():
        for instant in instants:
            croniter("*/15 9-17 * * MON-FRI", instant).get_next(datetime.datetime)

    seconds = median_seconds(repetitions, cron)
    figures["cron_next_ns"] = figure(
        seconds / calls * 1e9, calls, "croniter get_next in Europe/Berlin (Prefect 1 CronClock)")
    emit("prefect-1", prefect.__version__, figures)


if __name__ == "__main__":
    main()

"""Prefect 3 on flow-bench's workloads: task calls inside a flow (sequential), `submit` on a
ThreadPoolTaskRunner with 2 workers (concurrent), and a chain. Prefect 3 builds no graph ahead
of time, so it has no build or memory row. Runs against its ephemeral local API (SQLite under
PREFECT_HOME, set by Tools/Peers/compare). Sizes are smaller than ours and printed.
"""

import os

os.environ.setdefault("PREFECT_LOGGING_LEVEL", "ERROR")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
# The ephemeral API server imports and migrates for several seconds; on a loaded 2-core machine
# that passes Prefect's default 20 s wait ("Timed out while attempting to connect to ephemeral
# Prefect API server").
os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "300")

import prefect  # noqa: E402
from prefect import flow, task  # noqa: E402
from prefect.task_runners import ThreadPoolTaskRunner  # noqa: E402

from common import emit, figure, median_seconds, quick  # noqa: E402


@task
def noop():
    return 1


@task
def step(value):
    return value + 1


@flow
def sequential(count: int):
    total = 0
    for _ in range(count):
        total += noop()
    assert total == count


@flow(task_runner=ThreadPoolTaskRunner(max_workers=2))
def concurrent(count: int):
    futures = [noop.submit() for _ in range(count)]
    assert sum(future.result() for future in futures) == count


@flow
def chain(count: int):
    value = noop()
    for _ in range(count - 1):
        value = step(value)
    assert value == count


def main():
    small = quick()
    independent = 20 if small else 300
    length = 20 if small else 150
    repetitions = 1 if small else 3
    figures = {}
    seconds = median_seconds(repetitions, lambda: sequential(independent))
    figures["sequential_us_per_task"] = figure(
        seconds / independent * 1e6, independent, "task calls in a flow, independent no-ops")
    seconds = median_seconds(repetitions, lambda: concurrent(independent))
    figures["concurrent_tasks_per_s"] = figure(
        independent / seconds, independent, "submit on ThreadPoolTaskRunner(max_workers=2)")
    seconds = median_seconds(repetitions, lambda: chain(length))
    figures["chain_us_per_task"] = figure(
        seconds / length * 1e6, length, "task calls in a flow, each taking the last output")
    emit("prefect-3", prefect.__version__, figures)


if __name__ == "__main__":
    main()

"""Dask on flow-bench's workloads: the synchronous and threaded schedulers on plain task graphs
(sequential, concurrent with 2 threads, chain, graph build and memory), and distributed's
LocalCluster(n_workers=2, threads_per_worker=1) for the cluster rows (map of 10,000 no-ops,
a chain of 1,000, start and stop).
"""

import subprocess
import sys
import time

import dask
import distributed
from dask.threaded import get as threaded_get
from dask.local import get_sync
from distributed import Client, LocalCluster

from common import emit, figure, median_seconds, peak_rss_bytes, quick


def noop(*_):
    return 1


def inc(value):
    return value + 1


def independent_graph(count):
    return {("noop", i): (noop,) for i in range(count)}


def chain_graph(count):
    graph = {("step", 0): (noop,)}
    for i in range(1, count):
        graph[("step", i)] = (inc, ("step", i - 1))
    return graph


def memory_child(count):
    independent_graph(100)
    before = peak_rss_bytes()
    graph = independent_graph(count)
    print((peak_rss_bytes() - before) / count)
    del graph


def build_only():
    """Only the graph build's figure, for Tools/Peers/compare's head-to-head rounds."""
    size = 1_000 if quick() else 100_000
    seconds = median_seconds(5, lambda: independent_graph(size))
    emit("dask", f"dask {dask.__version__}", {"build_ms_100k": figure(
        seconds * 1e3 * 100_000 / size, size, "a plain dask graph dict (no validation)")})


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "--memory-child":
        return memory_child(int(sys.argv[2]))
    if sys.argv[1:] == ["--build-only"]:
        return build_only()
    small = quick()
    independent = 1_000 if small else 100_000
    chain = 100 if small else 10_000
    repetitions = 1 if small else 3
    figures = {}

    graph = independent_graph(independent)
    keys = list(graph)
    seconds = median_seconds(repetitions, lambda: get_sync(graph, keys))
    figures["sequential_us_per_task"] = figure(
        seconds / independent * 1e6, independent, "dask synchronous scheduler, no-op tasks")
    seconds = median_seconds(repetitions, lambda: threaded_get(graph, keys, num_workers=2))
    figures["concurrent_tasks_per_s"] = figure(
        independent / seconds, independent, "dask threaded scheduler, 2 workers")
    graph = chain_graph(chain)
    last = ("step", chain - 1)
    seconds = median_seconds(repetitions, lambda: get_sync(graph, last))
    figures["chain_us_per_task"] = figure(
        seconds / chain * 1e6, chain, "dask synchronous scheduler, a chain")
    size = 1_000 if small else 100_000
    seconds = median_seconds(repetitions, lambda: independent_graph(size))
    figures["build_ms_100k"] = figure(
        seconds * 1e3 * 100_000 / size, size, "a plain dask graph dict (no validation)")
    output = subprocess.run(
        [sys.executable, __file__, "--memory-child", str(size)],
        capture_output=True, text=True, check=True).stdout
    figures["bytes_per_task"] = figure(
        float(output.strip().splitlines()[-1]), size, "peak RSS growth per task, a graph dict")

    mapped = 500 if small else 10_000
    length = 50 if small else 1_000
    starts, stops, maps, chains = [], [], [], []
    for _ in range(repetitions):
        start = time.perf_counter()
        cluster = LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None)
        client = Client(cluster)
        client.wait_for_workers(2)
        starts.append(time.perf_counter() - start)

        start = time.perf_counter()
        assert sum(client.gather(client.map(noop, range(mapped), pure=False))) == mapped
        maps.append(time.perf_counter() - start)

        start = time.perf_counter()
        value = client.submit(noop, pure=False)
        for _ in range(length - 1):
            value = client.submit(inc, value, pure=False)
        assert value.result() == length
        chains.append(time.perf_counter() - start)

        start = time.perf_counter()
        client.close()
        cluster.close()
        stops.append(time.perf_counter() - start)
    median = lambda values: sorted(values)[len(values) // 2]  # noqa: E731
    figures["cluster_tasks_per_s"] = figure(
        mapped / median(maps), mapped, "client.map of no-ops on LocalCluster(2 workers x 1 thread)")
    figures["cluster_chain_tasks_per_s"] = figure(
        length / median(chains), length, "client.submit chain on the same cluster")
    figures["cluster_start_ms"] = figure(
        median(starts) * 1e3, 2, "LocalCluster + Client until 2 workers are ready")
    figures["cluster_stop_ms"] = figure(
        median(stops) * 1e3, 2, "client.close() + cluster.close()")
    emit("dask", f"dask {dask.__version__}, distributed {distributed.__version__}", figures)


if __name__ == "__main__":
    main()

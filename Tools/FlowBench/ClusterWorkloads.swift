import FlowCluster
import FlowClusterProtocol
import FlowCore
import FlowExecutors
import Foundation

// The cluster workloads: a local cluster of 2 worker processes of flow-bench itself
// (`flow-bench --cluster-sizes N,M worker --connect HOST:PORT --token T`), which register the
// same benchmark flows at start-up.

/// The sizes of the cluster flows; passed to the workers so that they build the same graphs.
struct ClusterSizes: Sendable {
  var independent: Int
  var chain: Int

  var argument: String { "\(independent),\(chain)" }

  init(independent: Int, chain: Int) {
    self.independent = independent
    self.chain = chain
  }

  init?(argument: String) {
    let parts = argument.split(separator: ",").compactMap { Int($0) }
    guard parts.count == 2, parts.allSatisfy({ $0 >= 2 }) else { return nil }
    self.init(independent: parts[0], chain: parts[1])
  }
}

func clusterIndependentFlow(_ count: Int) -> Flow {
  Flow("bench-cluster") { for _ in 0..<count { noop() } }
}

func clusterChainFlow(_ count: Int) -> Flow {
  Flow("bench-cluster-chain") {
    var value = noop()
    for _ in 1..<count { value = step(value) }
  }
}

/// Every flow the benchmark runs on a cluster; the workers register the same.
func clusterFlows(_ sizes: ClusterSizes) -> [Flow] {
  [clusterIndependentFlow(sizes.independent), clusterChainFlow(sizes.chain)]
}

/// `flow-bench [--cluster-sizes N,M] worker --connect HOST:PORT [--token T] [--threads N]`:
/// one worker process of a local cluster.
func runWorker(_ arguments: [String], sizes: ClusterSizes) async -> Int32 {
  var connect: ClusterAddress?
  var token: String?
  var threads = 1
  var index = 0
  while index < arguments.count {
    let value = index + 1 < arguments.count ? arguments[index + 1] : ""
    switch arguments[index] {
    case "--connect": connect = ClusterAddress(value)
    case "--token": token = value
    case "--threads": threads = Int(value) ?? 0
    default:
      FileHandle.standardError.write(
        Data("flow-bench worker: unknown option \(arguments[index])\n".utf8))
      return 2
    }
    index += 2
  }
  guard let connect, threads >= 1 else {
    FileHandle.standardError.write(
      Data("flow-bench worker: needs --connect HOST:PORT (and --threads ≥ 1)\n".utf8))
    return 2
  }
  do {
    let exit = try await ClusterWorker.run(
      connect: connect, token: token, threads: threads, flows: clusterFlows(sizes))
    if exit.failed {
      FileHandle.standardError.write(Data("flow-bench worker: \(exit.reason)\n".utf8))
      return 1
    }
    return 0
  } catch {
    FileHandle.standardError.write(Data("flow-bench worker: \(error)\n".utf8))
    return 1
  }
}

func startCluster(_ sizes: ClusterSizes) async throws -> LocalCluster {
  try await LocalCluster.start(
    workers: 2, threadsPerWorker: 1, arguments: ["--cluster-sizes", sizes.argument])
}

/// Runs `flow` `repetitions` times on one cluster (after a warm-up run): tasks per second, with
/// the ping-pong baseline (messages handed between two processes per second, one per wake-up).
func clusterThroughput(_ flow: Flow, count: Int, _ sizes: Sizes) async throws -> Figure {
  let cluster = try await startCluster(sizes.cluster)
  let time: Double
  let cpuBefore = (own: cpuSeconds(children: false), workers: cpuSeconds(children: true))
  do {
    time = try await median(sizes.repetitions) {
      let result = try await flow.run(executor: .cluster(cluster))
      precondition(
        result.state.isSuccessful && result.taskRuns.count == count, "\(result.summary)")
    }
  } catch {
    await cluster.stop()
    throw error
  }
  await cluster.stop()
  // Where the CPU went (the runs above and the warm-up; the workers' whole lives): the
  // scheduler's process against its workers', per task.
  let tasks = Double(count * (sizes.repetitions + 1))
  let own = (cpuSeconds(children: false) - cpuBefore.own) / tasks * 1e6
  let workers = (cpuSeconds(children: true) - cpuBefore.workers) / tasks * 1e6
  FileHandle.standardError.write(
    Data(
      ("\(flow.name): CPU per task \(format(own)) µs in the scheduler's process, "
        + "\(format(workers)) µs in its workers\n").utf8))
  return Figure(value: Double(count) / time, baseline: try await PingPongCache.shared.rate(sizes))
}

/// The ping-pong baseline, measured once per run and shared by the cluster rows.
actor PingPongCache {
  static let shared = PingPongCache()
  private var measured: Double?

  func rate(_ sizes: Sizes) throws -> Double {
    if let measured { return measured }
    var rates: [Double] = []
    for _ in 0..<max(1, sizes.repetitions) {
      rates.append(try pingPongMessagesPerSecond(roundTrips: sizes.cluster.independent))
    }
    let rate = middle(rates)
    measured = rate
    return rate
  }
}

func clusterWorkload(_ sizes: Sizes) async throws -> Figure {
  try await clusterThroughput(
    clusterIndependentFlow(sizes.cluster.independent), count: sizes.cluster.independent, sizes)
}

func clusterChainWorkload(_ sizes: Sizes) async throws -> Figure {
  try await clusterThroughput(
    clusterChainFlow(sizes.cluster.chain), count: sizes.cluster.chain, sizes)
}

/// Start and stop times of a 2-worker local cluster, each a median of `repetitions`.
struct StartStop {
  let start: Double
  let stop: Double
}

func clusterStartStop(_ sizes: Sizes) async throws -> StartStop {
  var starts: [Double] = []
  var stops: [Double] = []
  for repetition in 0...sizes.repetitions {
    let begin = ContinuousClock.now
    let cluster = try await startCluster(sizes.cluster)
    let ready = ContinuousClock.now
    await cluster.stop()
    let gone = ContinuousClock.now
    if repetition > 0 {  // the first is a warm-up (page cache, dynamic loader)
      starts.append(seconds(ready - begin))
      stops.append(seconds(gone - ready))
    }
  }
  return StartStop(start: middle(starts), stop: middle(stops))
}

/// Baselines of starting and stopping: 2 processes of this executable that exit at once
/// (`--exit-child`), started and reaped; 2 idle ones (`--idle-child`) sent SIGKILL and reaped.
func processBaselines(_ repetitions: Int) throws -> StartStop {
  var starts: [Double] = []
  var stops: [Double] = []
  for repetition in 0...repetitions {
    let begin = ContinuousClock.now
    let exiting = try (0..<2).map { _ in try child("--exit-child") }
    for process in exiting { process.waitUntilExit() }
    let started = ContinuousClock.now
    let idle = try (0..<2).map { _ in try child("--idle-child") }
    Thread.sleep(forTimeInterval: 0.05)  // let them reach their idle wait
    let killing = ContinuousClock.now
    for process in idle { kill(process.processIdentifier, SIGKILL) }
    for process in idle { process.waitUntilExit() }
    let gone = ContinuousClock.now
    if repetition > 0 {
      starts.append(seconds(started - begin))
      stops.append(seconds(gone - killing))
    }
  }
  return StartStop(start: middle(starts), stop: middle(stops))
}

private func child(_ argument: String) throws -> Process {
  let process = Process()
  process.executableURL = Bundle.main.executableURL
  process.arguments = [argument]
  process.standardInput = FileHandle.nullDevice
  try process.run()
  return process
}

/// The start and stop rows share one measurement; the first of them to run makes it.
actor StartStopCache {
  static let shared = StartStopCache()
  private var figures: (value: StartStop, baseline: StartStop)?

  func figures(_ sizes: Sizes) async throws -> (value: StartStop, baseline: StartStop) {
    if let figures { return figures }
    let value = try await clusterStartStop(sizes)
    let baseline = try processBaselines(sizes.repetitions)
    figures = (value, baseline)
    return (value, baseline)
  }
}

func clusterStartWorkload(_ sizes: Sizes) async throws -> Figure {
  let figures = try await StartStopCache.shared.figures(sizes)
  return Figure(value: figures.value.start * 1e3, baseline: figures.baseline.start * 1e3)
}

func clusterStopWorkload(_ sizes: Sizes) async throws -> Figure {
  let figures = try await StartStopCache.shared.figures(sizes)
  return Figure(value: figures.value.stop * 1e3, baseline: figures.baseline.stop * 1e3)
}

/// User and system CPU seconds of this process, or of its children that were reaped.
func cpuSeconds(children: Bool) -> Double {
  var usage = rusage()
  #if os(Linux)
    getrusage((children ? RUSAGE_CHILDREN : RUSAGE_SELF).rawValue, &usage)
  #else
    getrusage(children ? RUSAGE_CHILDREN : RUSAGE_SELF, &usage)
  #endif
  func seconds(_ time: timeval) -> Double { Double(time.tv_sec) + Double(time.tv_usec) * 1e-6 }
  return seconds(usage.ru_utime) + seconds(usage.ru_stime)
}

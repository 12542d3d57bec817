import FlowCluster
import FlowCore
import FlowExecutors
import FlowScheduling
import Foundation

// flow-bench: the engine's speed and memory, each figure beside a baseline measured in the
// same run, against the targets of issues 9 and 18 (the engine's as ratios to their baselines).
//
//   swift run -c release flow-bench            full sizes, a table
//   swift run -c release flow-bench --quick    small sizes, in seconds (CI); targets not judged
//   swift run -c release flow-bench --json     one JSON object (for Tools/Peers/compare)
//   swift run -c release flow-bench --only cron_next_ns,chain_us_per_task   some rows only
//   flow-bench [--cluster-sizes N,M] worker --connect HOST:PORT --token T
//       one worker process of the cluster workloads' local cluster (started by flow-bench)
//   swift run -c release flow-bench --compare-to Tools/Baselines/flow-bench.json
//       marks every figure more than 20% worse than the committed one, and exits 1 if any is
//
// Adding a workload is one function returning a `Figure`, listed in `workloads` below.

/// The sizes of one run: the issue's, or small ones for `--quick`.
struct Sizes: Sendable {
  var independent = 100_000
  var chain = 10_000
  var graph = 100_000
  var cronCalls = 20_000
  var repetitions = 5
  var memoryRepetitions = 3
  /// The cluster flows: independent no-op tasks, and a chain.
  var cluster = ClusterSizes(independent: 10_000, chain: 1_000)
  /// Runs of the ticket sample over all rows.
  var sampleRepetitions = 5
  /// Seeds of the simulated cluster per measurement, and events of the kernel baseline.
  var simulationSeeds = 40
  var kernelEvents = 2_000_000
  /// The server: tasks of the run whose page is rendered, runs under the run list.
  var serverTasks = 10_000
  var serverRuns = 1_000_000
  /// Schedule lateness: deployments, their interval (s), and the window of fire times
  /// measured (s); lease takeover: rounds of four runs whose holder falls silent.
  var scheduledDeployments = 1_000
  var scheduleInterval = 60.0
  var scheduleWindow = 45.0
  var takeoverRounds = 5

  static let quick = Sizes(
    independent: 10_000, chain: 1_000, graph: 10_000, cronCalls: 2_000, repetitions: 3,
    memoryRepetitions: 1, cluster: ClusterSizes(independent: 2_000, chain: 200),
    sampleRepetitions: 1, simulationSeeds: 4, kernelEvents: 200_000, serverTasks: 1_000,
    serverRuns: 10_000, scheduledDeployments: 200, scheduleInterval: 12, scheduleWindow: 10,
    takeoverRounds: 2)
}

/// A limit a figure must stay within.
struct Target: Sendable {
  /// True when a larger value is better (a rate), false for a cost.
  let higherIsBetter: Bool
  let limit: Double
  /// The limit is on the cost added to the baseline (value − baseline), not on the value.
  var overBaseline = false
  /// The limit is on value ÷ baseline (a multiple of the same-run baseline), not on the value.
  var timesBaseline = false

  static func atMost(_ limit: Double) -> Target { Target(higherIsBetter: false, limit: limit) }
  static func atLeast(_ limit: Double) -> Target { Target(higherIsBetter: true, limit: limit) }
  /// At most `limit` more than the same-run baseline.
  static func atMostOverBaseline(_ limit: Double) -> Target {
    Target(higherIsBetter: false, limit: limit, overBaseline: true)
  }

  /// At least `limit` times the same-run baseline (a rate).
  static func timesBaseline(atLeast limit: Double) -> Target {
    Target(higherIsBetter: true, limit: limit, timesBaseline: true)
  }
  /// At most `limit` times the same-run baseline (a cost).
  static func timesBaseline(atMost limit: Double) -> Target {
    Target(higherIsBetter: false, limit: limit, timesBaseline: true)
  }

  func met(by figure: Figure) -> Bool {
    let value =
      overBaseline
      ? figure.value - figure.baseline
      : timesBaseline ? figure.value / figure.baseline : figure.value
    return higherIsBetter ? value >= limit : value <= limit
  }
  var text: String {
    (higherIsBetter ? "≥ " : "≤ ") + (overBaseline ? "base+" : "") + format(limit)
      + (timesBaseline ? "× base" : "")
  }
}

/// One measured row: our value and the same-run baseline's, in the same unit.
struct Figure: Sendable {
  let value: Double
  let baseline: Double
}

/// One row of the table: what is measured, its target, and the function that measures it.
struct Workload: Sendable {
  let key: String
  let unit: String
  let target: Target
  /// What the baseline is: the floor the workload is compared with.
  let baseline: String
  let measure: @Sendable (Sizes) async throws -> Figure
}

// MARK: Timing

/// The median of `repetitions` timings of `body`, in seconds (after one untimed warm-up run).
/// Bodies are `@Sendable` and nonisolated, so no main-actor hop lands inside a measurement.
nonisolated func median(
  _ repetitions: Int, _ body: @Sendable () async throws -> Void
) async rethrows -> Double {
  try await body()
  var times: [Double] = []
  for _ in 0..<repetitions {
    let start = ContinuousClock.now
    try await body()
    times.append(seconds(ContinuousClock.now - start))
  }
  return middle(times)
}

func seconds(_ duration: Duration) -> Double {
  Double(duration.components.seconds) + Double(duration.components.attoseconds) * 1e-18
}

func middle(_ values: [Double]) -> Double {
  let sorted = values.sorted()
  let half = sorted.count / 2
  return sorted.count % 2 == 1 ? sorted[half] : (sorted[half - 1] + sorted[half]) / 2
}

func format(_ value: Double) -> String {
  if value >= 10_000 { return value.formatted(.number.precision(.fractionLength(0))) }
  if value >= 100 { return String(format: "%.0f", value) }
  if value >= 10 { return String(format: "%.1f", value) }
  return String(format: "%.3g", value)
}

// MARK: Workloads

let noop = task("noop") { () -> Int in 1 }
let step = task("step") { (value: Int) -> Int in value &+ 1 }

func independentFlow(_ count: Int) -> Flow {
  Flow("bench") { for _ in 0..<count { noop() } }
}

func chainFlow(_ count: Int) -> Flow {
  Flow("bench-chain") {
    var value = noop()
    for _ in 1..<count { value = step(value) }
  }
}

/// The floor of the engine: calling `count` type-erased async bodies, as the engine does.
nonisolated func baselineCalls(_ count: Int, _ repetitions: Int) async throws -> Double {
  let bodies: [@Sendable ([any Sendable]) async throws -> any Sendable] = Array(
    repeating: { _ in 1 }, count: count)
  return try await median(repetitions) {
    var sum = 0
    for body in bodies { sum &+= try await body([]) as! Int }
    precondition(sum == count)
  }
}

func sequentialWorkload(_ sizes: Sizes) async throws -> Figure {
  let count = sizes.independent
  let flow = independentFlow(count)
  let time = try await median(sizes.repetitions) {
    let result = try await flow.run(executor: .sequential)
    precondition(result.state.isSuccessful && result.taskRuns.count == count)
  }
  let baseline = try await baselineCalls(count, sizes.repetitions)
  // What the engine adds to the work every run of these tasks must do (diagnostic, stderr).
  let floor = try await engineFloor(count, sizes.repetitions)
  FileHandle.standardError.write(
    Data(
      ("sequential: the same observable work without the engine (two log records, the task's "
        + "context, its body, two clock reads, its record) takes \(format(floor / Double(count) * 1e6)) µs per "
        + "task, \(format(floor / baseline))x the baseline\n").utf8))
  return Figure(value: time / Double(count) * 1e6, baseline: baseline / Double(count) * 1e6)
}

let width = ProcessInfo.processInfo.activeProcessorCount

func concurrentWorkload(_ sizes: Sizes) async throws -> Figure {
  let count = sizes.independent
  let flow = independentFlow(count)
  let time = try await median(sizes.repetitions) {
    let result = try await flow.run(executor: .concurrent(width: width))
    precondition(result.state.isSuccessful && result.taskRuns.count == count)
  }
  // Baseline: the same bodies in a task group that keeps `width` child tasks in flight.
  let body: @Sendable ([any Sendable]) async throws -> any Sendable = { _ in 1 }
  let baseline = try await median(sizes.repetitions) {
    let sum = try await withThrowingTaskGroup(of: Int.self) { group in
      var sum = 0
      for index in 0..<count {
        if index >= width { sum &+= try await group.next()! }
        group.addTask { try await body([]) as! Int }
      }
      for try await value in group { sum &+= value }
      return sum
    }
    precondition(sum == count)
  }
  return Figure(value: Double(count) / time, baseline: Double(count) / baseline)
}

func chainWorkload(_ sizes: Sizes) async throws -> Figure {
  let count = sizes.chain
  let flow = chainFlow(count)
  let time = try await median(sizes.repetitions) {
    let result = try await flow.run(executor: .sequential)
    precondition(result.state.isSuccessful && result.taskRuns.count == count)
  }
  // Baseline: the same chain of type-erased calls, each output the next one's input.
  let first: @Sendable ([any Sendable]) async throws -> any Sendable = { _ in 1 }
  let next: @Sendable ([any Sendable]) async throws -> any Sendable = {
    ($0[0] as! Int) &+ 1
  }
  let bodies = [first] + Array(repeating: next, count: count - 1)
  let baseline = try await median(sizes.repetitions) {
    var value: any Sendable = 0
    for body in bodies { value = try await body([value]) }
    precondition(value as! Int == count)
  }
  return Figure(value: time / Double(count) * 1e6, baseline: baseline / Double(count) * 1e6)
}

/// A stand-in for a graph node, for the baselines of building and memory: a name, a unique
/// slug and an upstream list per node, as the least a graph must hold.
final class PlainNode: Sendable {
  let name: String
  let slug: String
  let upstream: [Int]
  init(name: String, slug: String, upstream: [Int]) {
    self.name = name
    self.slug = slug
    self.upstream = upstream
  }
}

func plainGraph(_ count: Int) -> [PlainNode] {
  var slugs = Set<String>()
  var nodes: [PlainNode] = []
  for index in 0..<count {
    let slug = index == 0 ? "noop" : "noop-\(index + 1)"
    slugs.insert(slug)
    nodes.append(PlainNode(name: "noop", slug: slug, upstream: []))
  }
  precondition(slugs.count == count)
  return nodes
}

func buildWorkload(_ sizes: Sizes) async throws -> Figure {
  let count = sizes.graph
  let time = try await median(sizes.repetitions) {
    let flow = independentFlow(count)
    try flow.validate()
  }
  let baseline = await median(sizes.repetitions) { _ = plainGraph(count) }
  return Figure(value: time * 1e3, baseline: baseline * 1e3)
}

/// Peak RSS per node, each measured in a fresh child process of this executable.
func memoryWorkload(_ sizes: Sizes) async throws -> Figure {
  var values: [Double] = []
  var baselines: [Double] = []
  for _ in 0..<sizes.memoryRepetitions {
    values.append(try memoryChild("flow", sizes.graph))
    baselines.append(try memoryChild("plain", sizes.graph))
  }
  return Figure(value: middle(values), baseline: middle(baselines))
}

/// Runs `flow-bench --memory-child KIND COUNT` and reads the bytes per node it prints.
func memoryChild(_ kind: String, _ count: Int) throws -> Double {
  let process = Process()
  process.executableURL = Bundle.main.executableURL
  process.arguments = ["--memory-child", kind, String(count)]
  let pipe = Pipe()
  process.standardOutput = pipe
  try process.run()
  let output = pipe.fileHandleForReading.readDataToEndOfFile()
  process.waitUntilExit()
  let text = String(decoding: output, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
  guard process.terminationStatus == 0, let value = Double(text) else {
    throw BenchError(message: "the memory child (\(kind)) failed: '\(text)'")
  }
  return value
}

/// In the child: the peak RSS growth, per node, of building (and validating) one graph.
func runMemoryChild(_ arguments: [String]) {
  guard arguments.count == 2, let count = Int(arguments[1]) else { exit(2) }
  // Warm up the code paths and the allocator with a small graph first.
  if arguments[0] == "flow" {
    try! independentFlow(100).validate()
  } else {
    _ = plainGraph(100)
  }
  let before = peakResidentBytes()
  if arguments[0] == "flow" {
    let flow = independentFlow(count)
    try! flow.validate()
    withExtendedLifetime(flow) { print(Double(peakResidentBytes() - before) / Double(count)) }
  } else {
    let nodes = plainGraph(count)
    withExtendedLifetime(nodes) { print(Double(peakResidentBytes() - before) / Double(count)) }
  }
}

/// In a fresh process (`flow-bench --run-memory-child sequential|concurrent|cluster COUNT`):
/// builds and runs a flow of COUNT no-op tasks and prints the peak RSS growth per task over
/// building and running it, and the process's peak RSS in MB (the issue asks a 1M-task run's
/// peak). `cluster` runs it on a local cluster of 2 worker processes: the figures are the
/// scheduler's process's, and the larger worker's peak RSS follows.
func runRunMemoryChild(_ arguments: [String]) async throws {
  guard arguments.count == 2, let count = Int(arguments[1]), count >= 2,
    ["sequential", "concurrent", "cluster"].contains(arguments[0])
  else {
    FileHandle.standardError.write(
      Data("usage: flow-bench --run-memory-child sequential|concurrent|cluster COUNT\n".utf8))
    exit(2)
  }
  var cluster: LocalCluster?
  let executor: FlowExecutor
  switch arguments[0] {
  case "sequential": executor = .sequential
  case "concurrent": executor = .concurrent(width: width)
  default:
    let started = try await startCluster(ClusterSizes(independent: count, chain: 2))
    cluster = started
    executor = .cluster(started)
  }
  _ = try await independentFlow(100).run(executor: cluster == nil ? executor : .sequential)
  let before = peakResidentBytes()
  // The cluster's workers know the flows of `clusterFlows`: its flow is theirs.
  let flow = cluster == nil ? independentFlow(count) : clusterIndependentFlow(count)
  let result = try await flow.run(executor: executor)
  await cluster?.stop()
  precondition(result.state.isSuccessful && result.taskRuns.count == count, "\(result.summary)")
  withExtendedLifetime((flow, result)) {
    let peak = peakResidentBytes()
    var line = String(
      format: "%.1f B per task, peak RSS %.1f MB", Double(peak - before) / Double(count),
      Double(peak) / 1e6)
    if cluster != nil {
      var usage = rusage()
      #if os(Linux)
        getrusage(RUSAGE_CHILDREN.rawValue, &usage)
        let workerPeak = Double(usage.ru_maxrss) * 1024  // KiB on Linux
      #else
        getrusage(RUSAGE_CHILDREN, &usage)
        let workerPeak = Double(usage.ru_maxrss)  // bytes on Darwin
      #endif
      line += String(format: "; the larger worker's peak RSS %.1f MB", workerPeak / 1e6)
    }
    print(line)
  }
}

/// The process's peak resident set, in bytes: VmHWM from /proc/self/status on Linux.
func peakResidentBytes() -> Int {
  #if os(Linux)
    let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
    for line in status.split(separator: "\n") where line.hasPrefix("VmHWM:") {
      return (line.split(separator: " ").compactMap { Int($0) }.first ?? 0) * 1024
    }
    return 0
  #else
    var usage = rusage()
    getrusage(RUSAGE_SELF, &usage)
    return Int(usage.ru_maxrss)  // bytes on Darwin
  #endif
}

let berlin = TimeZone(identifier: "Europe/Berlin")!

func cronWorkload(_ sizes: Sizes) async throws -> Figure {
  let schedule = try CronSchedule("*/15 9-17 * * MON-FRI", timeZone: berlin)
  // Instants spread over a year (both changes of offset included), not one repeated input.
  let start = 1_767_225_600.0  // 2026-01-01T00:00:00Z
  let instants = (0..<sizes.cronCalls).map {
    Date(timeIntervalSince1970: start + Double($0) * (365 * 86_400 / Double(sizes.cronCalls)))
  }
  let time = await median(sizes.repetitions) {
    var last = 0.0
    for instant in instants {
      last += schedule.nextEvent(after: instant)!.date.timeIntervalSince1970
    }
    precondition(last > 0)
  }
  // Baseline: Foundation's Calendar.nextDate for a one-field match in the same zone.
  var calendar = Calendar(identifier: .gregorian)
  calendar.timeZone = berlin
  let components = DateComponents(minute: 15)
  let baseline = await median(sizes.repetitions) { [calendar] in
    var last = 0.0
    for instant in instants {
      last +=
        calendar.nextDate(after: instant, matching: components, matchingPolicy: .nextTime)!
        .timeIntervalSince1970
    }
    precondition(last > 0)
  }
  let calls = Double(sizes.cronCalls)
  return Figure(value: time / calls * 1e9, baseline: baseline / calls * 1e9)
}

struct BenchError: Error, CustomStringConvertible {
  let message: String
  var description: String { message }
}

let workloads: [Workload] = [
  Workload(
    key: "sequential_us_per_task", unit: "µs", target: .timesBaseline(atMost: 12),
    baseline: "a loop of type-erased async calls", measure: sequentialWorkload),
  Workload(
    key: "concurrent_tasks_per_s", unit: "/s", target: .timesBaseline(atLeast: 1.3),
    baseline: "a task group with the same width", measure: concurrentWorkload),
  Workload(
    key: "chain_us_per_task", unit: "µs", target: .timesBaseline(atMost: 10),
    baseline: "a chain of type-erased async calls", measure: chainWorkload),
  Workload(
    key: "build_ms_100k", unit: "ms", target: .atMost(200),
    baseline: "an array of nodes with unique slugs", measure: buildWorkload),
  Workload(
    key: "bytes_per_task", unit: "B", target: .atMost(200),
    baseline: "the same plain nodes' peak RSS", measure: memoryWorkload),
  Workload(
    key: "cron_next_ns", unit: "ns", target: .atMost(1_000),
    baseline: "Foundation Calendar.nextDate, minute only", measure: cronWorkload),
  Workload(
    key: "cluster_tasks_per_s", unit: "/s", target: .timesBaseline(atLeast: 5),
    baseline: "2 processes ping-ponging 1 message per wake-up, msgs/s", measure: clusterWorkload),
  Workload(
    key: "cluster_chain_tasks_per_s", unit: "/s", target: .timesBaseline(atLeast: 1.5),
    baseline: "2 processes ping-ponging 1 message per wake-up, msgs/s",
    measure: clusterChainWorkload),
  Workload(
    key: "cluster_start_ms", unit: "ms", target: .atMost(150),
    baseline: "2 processes of flow-bench started and exited", measure: clusterStartWorkload),
  Workload(
    key: "cluster_stop_ms", unit: "ms", target: .atMost(50),
    baseline: "2 idle processes sent SIGKILL and reaped", measure: clusterStopWorkload),
  Workload(
    key: "ticket_all_rows_ms", unit: "ms", target: .timesBaseline(atMost: 2),
    baseline: "inflating the zip and reading every byte once", measure: ticketWorkload),
  Workload(
    key: "sim_events_per_s", unit: "/s", target: .atLeast(500_000),
    baseline: "the simulation kernel alone (no cluster)", measure: simulationWorkload),
]

// MARK: Running and reporting

// Top-level globals above are initialized in order, so options are read only here.
let usage =
  "usage: flow-bench [--quick] [--json] [--only KEY,...] [--tasks N] [--cluster-sizes N,M] "
  + "[--compare-to FILE]"
var arguments = Array(CommandLine.arguments.dropFirst())
var only: Set<String>?
if let position = arguments.firstIndex(of: "--only"), position + 1 < arguments.count {
  only = Set(arguments[position + 1].split(separator: ",").map(String.init))
  arguments.removeSubrange(position...position + 1)
}
/// Figures of an earlier `--json` run (the committed Tools/Baselines/flow-bench.json), by key.
var committed: [String: Double]?
if let position = arguments.firstIndex(of: "--compare-to"), position + 1 < arguments.count {
  let path = arguments[position + 1]
  guard let data = FileManager.default.contents(atPath: path),
    let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
  else {
    FileHandle.standardError.write(
      Data("flow-bench: cannot read the JSON figures in \(path)\n".utf8))
    exit(2)
  }
  committed = object.compactMapValues { ($0 as? NSNumber)?.doubleValue }
  arguments.removeSubrange(position...position + 1)
}
var taskCount: Int?
if let position = arguments.firstIndex(of: "--tasks"), position + 1 < arguments.count {
  taskCount = Int(arguments[position + 1])
  arguments.removeSubrange(position...position + 1)
}
var clusterSizes: ClusterSizes?
if let position = arguments.firstIndex(of: "--cluster-sizes"), position + 1 < arguments.count {
  clusterSizes = ClusterSizes(argument: arguments[position + 1])
  arguments.removeSubrange(position...position + 1)
}
if arguments.first == "worker" {
  // A worker of the cluster workloads: it registers the flows the scheduler runs.
  exit(await runWorker(Array(arguments.dropFirst()), sizes: clusterSizes ?? Sizes().cluster))
}
if arguments.first == "--pingpong-child" {  // the other end of the cluster rows' baseline
  exit(runPingPongChild(Array(arguments.dropFirst())))
}
if arguments.first == "--exit-child" { exit(0) }  // the baseline of cluster_start_ms
if arguments.first == "--idle-child" {  // the baseline of cluster_stop_ms
  while true { pause() }
}
if arguments.first == "--run-memory-child" {
  try await runRunMemoryChild(Array(arguments.dropFirst()))
  exit(0)
}
if arguments.first == "--memory-child" {
  // A fresh process, so that no earlier workload raised its peak RSS: see `memoryWorkload`.
  runMemoryChild(Array(arguments.dropFirst()))
  exit(0)
}
for argument in arguments where !["--quick", "--json"].contains(argument) {
  FileHandle.standardError.write(Data("flow-bench: unknown option \(argument); \(usage)\n".utf8))
  exit(2)
}

let quick = arguments.contains("--quick")
var sizes = quick ? Sizes.quick : Sizes()
if let clusterSizes { sizes.cluster = clusterSizes }
if let taskCount {  // other sizes than the issue's, e.g. to see how a cost grows
  sizes.independent = taskCount
  sizes.graph = taskCount
}
/// The machine's load averages over 1, 5 and 15 minutes (empty where the system has none):
/// figures move with the load of a shared machine, so every run states it.
func loadAverages() -> [Double] {
  var loads = [Double](repeating: 0, count: 3)
  return getloadavg(&loads, 3) == 3 ? loads : []
}

let loadBefore = loadAverages()
var rows: [(workload: Workload, figure: Figure)] = []
for workload in workloads + recordingWorkloads + serverWorkloads + agentWorkloads
  + scheduleWorkloads
where only?.contains(workload.key) ?? true {
  rows.append((workload, try await workload.measure(sizes)))
}

/// Our cost in units of the baseline's (time per task, bytes): above 1 we are slower or
/// bigger than the baseline, below 1 faster or smaller.
func ratio(_ workload: Workload, _ figure: Figure) -> Double {
  workload.target.higherIsBetter ? figure.baseline / figure.value : figure.value / figure.baseline
}

let loadAfter = loadAverages()

if arguments.contains("--json") {
  func number(_ value: Double) -> String { String(format: "%.6g", value) }
  func loads(_ values: [Double]) -> String {
    "[" + values.map { String(format: "%.2f", $0) }.joined(separator: ", ") + "]"
  }
  var fields = [
    "\"quick\": \(quick)", "\"cores\": \(width)",
    "\"load_average\": {\"before\": \(loads(loadBefore)), \"after\": \(loads(loadAfter))}",
    "\"sizes\": {\"independent\": \(sizes.independent), \"chain\": \(sizes.chain), "
      + "\"graph\": \(sizes.graph), \"repetitions\": \(sizes.repetitions)}",
  ]
  for (workload, figure) in rows { fields.append("\"\(workload.key)\": \(number(figure.value))") }
  let details = rows.map { workload, figure in
    "\"\(workload.key)\": {\"unit\": \"\(workload.unit)\", \"target\": \"\(workload.target.text)\", "
      + "\"pass\": \(quick ? "null" : String(workload.target.met(by: figure))), "
      + "\"baseline\": \(number(figure.baseline)), \"baseline_is\": \"\(workload.baseline)\", "
      + "\"vs_baseline\": \(number(ratio(workload, figure)))}"
  }
  fields.append("\"details\": {" + details.joined(separator: ", ") + "}")
  print("{" + fields.joined(separator: ", ") + "}")
} else {
  func pad(_ text: String, _ width: Int) -> String {
    text.count >= width ? text : text + String(repeating: " ", count: width - text.count)
  }
  print(
    "flow-bench \(quick ? "--quick (small sizes; targets not judged)" : "") on \(width) cores: "
      + "\(sizes.independent) independent tasks, a chain of \(sizes.chain), a graph of "
      + "\(sizes.graph); medians of \(sizes.repetitions)")
  func loads(_ values: [Double]) -> String {
    values.map { String(format: "%.2f", $0) }.joined(separator: " / ")
  }
  print("load average (1 / 5 / 15 min): \(loads(loadBefore)) before, \(loads(loadAfter)) after")
  let keyWidth = max(27, (rows.map(\.0.key.count).max() ?? 0) + 2)
  print(
    pad("workload", keyWidth) + pad("value", 14) + pad("target", 14) + pad("pass", 6)
      + pad("baseline", 14) + pad("cost vs baseline", 18) + "baseline is")
  var missed = 0
  for (workload, figure) in rows {
    let met = workload.target.met(by: figure)
    if !met { missed += 1 }
    print(
      pad(workload.key, keyWidth) + pad(format(figure.value) + " " + workload.unit, 14)
        + pad(workload.target.text, 14) + pad(quick ? "—" : met ? "yes" : "NO", 6)
        + pad(format(figure.baseline) + " " + workload.unit, 14)
        + pad(format(ratio(workload, figure)) + "×", 18) + workload.baseline)
  }
  if !quick { print("\(rows.count - missed) of \(rows.count) targets met") }
}

if let committed {
  // Worse by more than 20% than the committed figure: a regression to look at (machines and
  // their load differ, so rerun before believing one).
  var regressions = 0
  for (workload, figure) in rows {
    guard let old = committed[workload.key], old > 0, figure.value > 0 else { continue }
    let worse = workload.target.higherIsBetter ? old / figure.value : figure.value / old
    let verdict = worse > 1.2 ? "REGRESSION" : "ok"
    if worse > 1.2 { regressions += 1 }
    let line =
      "\(workload.key): \(format(figure.value)) vs committed \(format(old)) \(workload.unit), "
      + "cost ×\(String(format: "%.2f", worse)) \(verdict)\n"
    FileHandle.standardError.write(Data(line.utf8))
  }
  if regressions > 0 { exit(1) }
}

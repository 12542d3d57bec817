import ArgumentParser
import FlowCluster
import FlowClusterProtocol
import FlowCore
import FlowExecutors
import Foundation
import Logging

/// `flow demo`: a synthetic workload for trying and measuring executors and clusters.
struct DemoCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "demo",
    abstract: "Run a synthetic flow and print one JSON line with its outcome.",
    discussion: """
      --shape fan plans N items and maps a task over them; --shape chain runs N dependent
      steps (N is 10, 100 or 1000); --shape loop maps a task that loops (`LoopAgain`)
      index % 12 + 1 times over N items, at most 10 iterations (so 1 in 6 fail); --shape stuck
      maps a task with a 2 s timeout whose first run blocks its thread for 30 s, ignoring
      cancellation (on a cluster its worker process is replaced), then a 3 s task. With --executor cluster, --workers W starts a local
      cluster of `flow worker` processes; --listen HOST:PORT (with --token beyond loopback)
      waits for --min-workers workers started by hand instead. Progress lines go to standard
      error: `flow-demo: listening on ADDRESS`, `flow-demo: ready, worker pids P,Q`.
      """
  )

  @Option(help: "How many tasks.")
  var tasks: Int = 100

  @Option(help: "How long each task takes: 100ms, 2s, 0.")
  var taskDuration: String = "0"

  @Option(help: "The share of tasks that fail, 0 to 1 (decided by --seed).")
  var failureRate: Double = 0

  @Option(help: "The seed that decides which tasks fail.")
  var seed: Int = 1

  @Option(help: "fan, chain or loop.")
  var shape: String = "fan"

  @Option(help: "sequential, concurrent or cluster.")
  var executor: String = "sequential"

  @Option(help: "Local worker processes (cluster, without --listen).")
  var workers: Int = 2

  @Option(help: "Tasks each worker runs at once.")
  var threads: Int = 1

  @Option(help: "Listen for workers started by hand on HOST:PORT (cluster).")
  var listen: String?

  @Option(help: "The shared token workers must present (required beyond loopback).")
  var token: String?

  @Option(help: "With --listen: how many workers to wait for.")
  var minWorkers: Int = 1

  @Option(help: "TLS certificate chain (PEM) for --listen.")
  var tlsCertificate: String?

  @Option(help: "TLS private key (PEM) for --listen.")
  var tlsKey: String?

  @Option(help: "Log level on standard error.")
  var logLevel: String = "warning"

  @Option(help: "Cluster: a worker silent this long is lost (e.g. 5s, 500ms).")
  var heartbeatTtl: String = "5s"

  @Option(help: "Cluster: with no worker connected this long, waiting tasks fail (default 3 TTLs).")
  var noWorkerTimeout: String?

  /// The most tasks a fan-out demo plans (each is an item in memory and a task run).
  static let maxTasks = 1_000_000
  /// The longest task duration, in milliseconds (one day).
  static let maxTaskMilliseconds = 86_400_000
  /// The most local worker processes and threads per worker.
  static let maxWorkers = 256
  static let maxThreads = 1024

  func validate() throws {
    guard Self.milliseconds(taskDuration) != nil else {
      throw ValidationError(
        "--task-duration takes a duration from 0 to 1 day such as 100ms, 2s or 0, got "
          + "'\(taskDuration)'")
    }
    guard (0...1).contains(failureRate) else {
      throw ValidationError("--failure-rate must be between 0 and 1, got \(failureRate)")
    }
    guard (1...Self.maxTasks).contains(tasks) else {
      throw ValidationError(
        "--tasks must be 1-\(Self.maxTasks), got \(tasks) (the limit keeps a demo within the "
          + "machine's memory; split bigger workloads into several runs)")
    }
    guard (1...Self.maxWorkers).contains(workers) else {
      throw ValidationError(
        "--workers must be 1-\(Self.maxWorkers) local processes, got \(workers); for a bigger "
          + "cluster use --listen and start workers by hand (`flow worker --connect`)")
    }
    guard (1...Self.maxThreads).contains(threads) else {
      throw ValidationError("--threads must be 1-\(Self.maxThreads), got \(threads)")
    }
    guard (1...Self.maxWorkers).contains(minWorkers) else {
      throw ValidationError("--min-workers must be 1-\(Self.maxWorkers), got \(minWorkers)")
    }
    _ = try machine()
  }

  /// The scheduler's timings from --heartbeat-ttl and --no-worker-timeout.
  func machine() throws -> ClusterSchedulerStateMachine.Configuration {
    guard let ttl = Self.milliseconds(heartbeatTtl), ttl >= 100 else {
      throw ValidationError("--heartbeat-ttl takes 100ms to 1 day (e.g. 5s), got '\(heartbeatTtl)'")
    }
    var timeout: Duration?
    if let noWorkerTimeout {
      guard let value = Self.milliseconds(noWorkerTimeout), value > 0 else {
        throw ValidationError(
          "--no-worker-timeout takes a duration up to 1 day (e.g. 15s), got '\(noWorkerTimeout)'")
      }
      timeout = .milliseconds(value)
    }
    return ClusterSchedulerStateMachine.Configuration(
      heartbeatInterval: .milliseconds(max(50, ttl / 10)), heartbeatTTL: .milliseconds(ttl),
      prefetchPerThread: 1, noWorkerTimeout: timeout)
  }

  func run() async throws {
    guard let milliseconds = Self.milliseconds(taskDuration) else {
      throw ValidationError("--task-duration takes 100ms, 2s or 0, got '\(taskDuration)'")
    }
    let logger = ToolLogging.logger("swift-flow.cluster", level: logLevel)
    let flow: Flow
    var parameters: [String: any Sendable] = [:]
    switch shape {
    case "fan":
      flow = DemoFlows.fanOut
      parameters = [
        "tasks": tasks, "task-duration-ms": milliseconds, "failure-rate": failureRate,
        "seed": seed,
      ]
    case "chain":
      guard let chain = DemoFlows.all.first(where: { $0.name == "flow-demo-chain-\(tasks)" }) else {
        throw ValidationError("--shape chain runs 10, 100 or 1000 tasks")
      }
      flow = chain
    case "loop":
      flow = DemoFlows.loops
      parameters = ["tasks": tasks]
    case "stuck":
      flow = DemoFlows.stuckRuns
      parameters = ["tasks": tasks]
    default:
      throw ValidationError("--shape is fan, chain, loop or stuck, got '\(shape)'")
    }
    let clock = ContinuousClock()
    var readySeconds: Double?
    var stop: (@Sendable () async -> Void)?
    let chosen: FlowExecutor
    switch executor {
    case "sequential": chosen = .sequential
    case "concurrent": chosen = .concurrent()
    case "cluster":
      let start = clock.now
      do {
        if let listen {
          guard let address = ClusterAddress(listen) else {
            throw ValidationError("--listen must be HOST:PORT, got '\(listen)'")
          }
          let tls =
            tlsCertificate.map { ClusterTLS(certificatePath: $0, privateKeyPath: tlsKey) }
          let scheduler = try await ClusterScheduler.start(
            .init(listen: address, token: token, tls: tls, machine: try machine(), logger: logger))
          Self.progress("listening on \(scheduler.address)")
          try await scheduler.waitForWorkers(minWorkers, timeout: .seconds(120))
          chosen = .cluster(scheduler)
          stop = { await scheduler.shutdown() }
        } else {
          let cluster = try await LocalCluster.start(
            workers: workers, threadsPerWorker: threads, machine: try machine(), logger: logger)
          Self.progress(
            "ready, worker pids \(cluster.processIdentifiers.map(String.init).joined(separator: ","))"
          )
          chosen = .cluster(cluster)
          stop = { await cluster.stop() }
        }
      } catch let error as ClusterError {
        FileHandle.standardError.write(Data("flow demo: \(error)\n".utf8))
        throw ExitCode(1)
      }
      readySeconds = Self.seconds(clock.now - start)
    default:
      throw ValidationError("--executor is sequential, concurrent or cluster, got '\(executor)'")
    }
    let start = clock.now
    let result = try await flow.run(parameters: parameters, executor: chosen)
    let wall = Self.seconds(clock.now - start)
    var stopSeconds: Double?
    if let stop {
      let stopStart = clock.now
      await stop()
      stopSeconds = Self.seconds(clock.now - stopStart)
    }
    let mapped = ["fan": "work", "loop": "loop", "stuck": "stuck"][shape]
    let units = result.taskRuns.filter { $0.slug == (mapped ?? $0.slug) }
      .filter { mapped == nil || $0.mapIndex != nil }
    var sum = 0
    for run in units where run.state.isSuccessful {
      if let value = run.state.result as? Int { sum += value }
    }
    var fields: [(String, String)] = [
      ("state", "\"\(result.state.kind)\""), ("tasks", "\(units.count)"),
      ("succeeded", "\(units.count { $0.state.isSuccessful })"),
      ("failed", "\(units.count { $0.state.isFailed })"),
      ("timed_out", "\(units.count { $0.state.kind == .timedOut })"),
      ("crashed_attempts", "\(result.taskRuns.reduce(0) { $0 + $1.crashedAttempts })"),
      ("crashed_states", "\(DemoFlows.crashedStates.load(ordering: .relaxed))"),
      ("result_sum", "\(sum)"), ("wall_seconds", String(format: "%.4f", wall)),
      ("executor", "\"\(executor)\""),
    ]
    if shape == "loop" {
      let iterations = units.reduce(0) { $0 + $1.loopIterations }
      let logged = result.logs.count { $0.message.hasPrefix("Looping: starting loop iteration") }
      let limited = units.count { $0.state.message?.contains("over its limit") == true }
      fields += [
        ("loop_iterations", "\(iterations)"), ("loop_log_lines", "\(logged)"),
        ("loop_limit_failures", "\(limited)"),
      ]
    }
    if shape == "stuck", let after = result.taskRuns.first(where: { $0.slug == "after-stuck" }) {
      fields.append(("after_stuck", "\"\(after.state.kind)\""))
    }
    if let readySeconds { fields.append(("ready_seconds", String(format: "%.4f", readySeconds))) }
    if let stopSeconds { fields.append(("stop_seconds", String(format: "%.4f", stopSeconds))) }
    print("{" + fields.map { "\"\($0.0)\":\($0.1)" }.joined(separator: ",") + "}")
    if !result.state.isSuccessful {
      Self.progress("the flow run ended \(result.state.kind)")
      throw ExitCode(1)
    }
  }

  static func progress(_ line: String) {
    FileHandle.standardError.write(Data("flow-demo: \(line)\n".utf8))
  }

  static func seconds(_ duration: Duration) -> Double {
    Double(duration.components.seconds) + Double(duration.components.attoseconds) * 1e-18
  }

  /// Milliseconds from `100ms`, `2s` or `0`; nil when unreadable, negative, not finite or
  /// longer than ``maxTaskMilliseconds``.
  static func milliseconds(_ text: String) -> Int? {
    var value: Double?
    if text == "0" {
      value = 0
    } else if text.hasSuffix("ms") {
      value = Double(text.dropLast(2))
    } else if text.hasSuffix("s") {
      value = Double(text.dropLast()).map { $0 * 1000 }
    }
    guard let value, value.isFinite, value >= 0, value <= Double(maxTaskMilliseconds) else {
      return nil
    }
    return Int(value)
  }
}

import ArgumentParser
import FlowCluster
import FlowCore
import FlowExecutors
import FlowLogging
import Foundation
import Logging

/// The executors the command line offers.
enum ExecutorChoice: String, ExpressibleByArgument, CaseIterable {
  case sequential
  case concurrent
  case cluster
}

/// How run logs are written to standard error.
enum LogFormat: String, ExpressibleByArgument, CaseIterable {
  case text
  case json
}

/// The options of `run` and `schedule`: flow, parameters, executor, results, logs.
struct RunOptions: ParsableArguments {
  @Argument(help: "The flow to run (default: the executable's first flow).")
  var flow: String?

  @Option(
    name: .customLong("param"),
    help: ArgumentHelp(
      "A parameter value, read as its declared type (JSON for structured values).",
      valueName: "name=value"))
  var parameters: [String] = []

  @Option(
    name: .customLong("param-file"),
    help: ArgumentHelp("A JSON object of parameter values (--param wins).", valueName: "file"))
  var parameterFile: String?

  @Option(
    help: ArgumentHelp(
      "Where task bodies run (default: sequential; concurrent with --workers/--threads; "
        + "cluster with --listen)."))
  var executor: ExecutorChoice?

  @Option(
    parsing: .unconditional,
    help: ArgumentHelp(
      "Concurrent: workers × threads run at once. Cluster: local worker processes (default 2), "
        + "or with --listen how many workers to wait for (default 1)."))
  var workers: Int?

  @Option(parsing: .unconditional, help: "Task runs at once per worker.")
  var threads: Int?

  @Option(
    help: ArgumentHelp(
      "Cluster: listen on HOST:PORT for workers started by hand (`worker --connect`).",
      valueName: "host:port"))
  var listen: String?

  @Option(
    help: ArgumentHelp(
      "Not for runs: a run's process is its cluster's scheduler (use --listen); workers use "
        + "`worker --connect`.", valueName: "host:port"))
  var connect: String?

  @Option(help: "Cluster: the shared token workers must present (required beyond loopback).")
  var token: String?

  @Option(
    name: .customLong("tls-certificate"),
    help: ArgumentHelp("Cluster with --listen: TLS certificate chain (PEM).", valueName: "file"))
  var tlsCertificate: String?

  @Option(
    name: .customLong("tls-key"),
    help: ArgumentHelp("Cluster with --listen: TLS private key (PEM).", valueName: "file"))
  var tlsKey: String?

  @Option(
    name: .customLong("results-dir"),
    help: ArgumentHelp("Where persisted results and targets live.", valueName: "directory"))
  var resultsDirectory: String?

  @Option(
    name: .customLong("log-level"),
    help:
      "trace, debug, info, notice, warning, error or critical (default: FLOW_LOG_LEVEL or info).")
  var logLevel: String?

  @Option(name: .customLong("log-format"), help: "Run logs on standard error as text or json.")
  var logFormat: LogFormat = .text

  /// The most local worker processes (`--workers` without `--listen`) or workers to wait for.
  static let maxWorkers = 256
  /// The most task runs at once per worker, and in all for the concurrent executor.
  static let maxThreads = 4096

  mutating func validate() throws {
    if let workers, workers < 1 {
      throw ValidationError("--workers must be at least 1, got \(workers)")
    }
    if let threads, threads < 1 {
      throw ValidationError("--threads must be at least 1, got \(threads)")
    }
    if let workers, workers > Self.maxWorkers {
      throw ValidationError(
        "--workers must be 1-\(Self.maxWorkers), got \(workers); for a bigger cluster run with "
          + "--listen HOST:PORT and start workers by hand (`worker --connect`), each with its "
          + "own --threads")
    }
    if let threads, threads > Self.maxThreads {
      throw ValidationError("--threads must be 1-\(Self.maxThreads), got \(threads)")
    }
    if executorChoice == .concurrent, (workers ?? 1) * (threads ?? 1) > Self.maxThreads {
      throw ValidationError(
        "--workers × --threads is \((workers ?? 1) * (threads ?? 1)) task runs at once; the "
          + "concurrent executor runs at most \(Self.maxThreads) (use --executor cluster to "
          + "spread more over processes)")
    }
    if executor == .sequential, (workers ?? 1) > 1 || (threads ?? 1) > 1 {
      throw ValidationError(
        "--workers and --threads apply to --executor concurrent or cluster; the sequential "
          + "executor runs one task at a time")
    }
    if resultsDirectory?.trimmingCharacters(in: .whitespaces).isEmpty == true {
      throw ValidationError(
        "--results-dir is empty; give a directory (e.g. --results-dir results), or leave the "
          + "option out for the executable's default")
    }
    try validateCluster()
    if let logLevel {
      do {
        _ = try LogLevelSetting.parse(logLevel)
      } catch {
        throw ValidationError("--log-level: \(error)")
      }
    }
  }

  /// The executor chosen, explicitly or by the options given.
  var executorChoice: ExecutorChoice {
    if let executor { return executor }
    if listen != nil { return .cluster }
    return workers != nil || threads != nil ? .concurrent : .sequential
  }

  /// Checks the cluster options: where they apply, the address, the token, TLS.
  func validateCluster() throws {
    if let connect {
      throw ValidationError(
        "--connect \(connect) is for workers (`worker --connect HOST:PORT`): a run's process is "
          + "its cluster's scheduler; run with --executor cluster --listen HOST:PORT and start "
          + "workers with `worker --connect HOST:PORT`")
    }
    let clusterOnly = [
      ("--listen", listen), ("--token", token), ("--tls-certificate", tlsCertificate),
      ("--tls-key", tlsKey),
    ].filter { $0.1 != nil }.map(\.0)
    if executorChoice != .cluster, let first = clusterOnly.first {
      throw ValidationError(
        "\(first) applies to --executor cluster, not --executor \(executorChoice.rawValue)")
    }
    guard executorChoice == .cluster else { return }
    if (tlsCertificate == nil) != (tlsKey == nil) {
      throw ValidationError("TLS needs both --tls-certificate FILE and --tls-key FILE")
    }
    guard let listen else {
      if tlsCertificate != nil {
        throw ValidationError(
          "--tls-certificate applies with --listen; a local cluster stays on loopback")
      }
      return
    }
    guard let address = ClusterAddress(listen) else {
      throw ValidationError(
        "--listen must be HOST:PORT (e.g. 0.0.0.0:8786 or 127.0.0.1:8786), got '\(listen)'")
    }
    if !address.isLoopback, (token ?? "").isEmpty {
      throw ValidationError(
        "--listen \(listen) is reachable from other machines: any of them could join as a "
          + "worker and receive task inputs; give a shared secret with --token T (workers pass "
          + "the same --token), or listen on 127.0.0.1")
    }
    if threads != nil {
      throw ValidationError(
        "--threads with --listen: each worker started by hand sets its own `worker --threads N`")
    }
  }

  /// The executor the options describe; cluster executors log through `logger`.
  func flowExecutor(logger: Logger = Logger(label: "swift-flow.cluster")) -> FlowExecutor {
    switch executorChoice {
    case .sequential: return .sequential
    case .concurrent:
      if workers == nil && threads == nil { return .concurrent() }
      return .concurrent(width: (workers ?? 1) * (threads ?? 1))
    case .cluster:
      if let listen, let address = ClusterAddress(listen) {
        return .cluster(
          address: address, token: token, minimumWorkers: workers ?? 1,
          tls: tlsCertificate.map { ClusterTLS(certificatePath: $0, privateKeyPath: tlsKey) },
          logger: logger)
      }
      // The workers build the flows as this process does: same results directory.
      return .localCluster(
        workers: workers ?? 2, threadsPerWorker: threads ?? 1,
        workerArguments: resultsDirectory.map { ["--results-dir", $0] } ?? [], logger: logger)
    }
  }

  /// The context flows are built with.
  func context(_ commandLine: FlowCommandLine) -> FlowCommandContext {
    FlowCommandContext(resultsDirectory: resultsDirectory ?? commandLine.defaultResultsDirectory)
  }

  /// A logger writing run logs to standard error in the chosen format, at the chosen level;
  /// `clearsProgressLine`: text lines first erase a live progress line.
  func logger(label: String, clearsProgressLine: Bool = false) throws -> Logger {
    let level: Logger.Level
    do {
      level = try LogLevelSetting.resolve(
        option: logLevel, environment: ProcessInfo.processInfo.environment, fallback: .info)
    } catch {
      throw ValidationError(
        "\(LogLevelSetting.environmentVariable) or --log-level: \(error)")
    }
    var logger: Logger
    switch logFormat {
    case .text:
      logger = Logger(label: label) { _ in
        ConsoleLogHandler(level: level, clearsLine: clearsProgressLine)
      }
    case .json: logger = Logger(label: label) { _ in JSONLinesLogHandler(level: level) }
    }
    logger.logLevel = level
    return logger
  }

  /// The parameter values for `flow` from `--param-file` and `--param`.
  func parameterValues(for flow: Flow) throws -> [String: any Sendable] {
    do {
      return try ParameterInput.resolve(
        for: flow, assignments: parameters, file: parameterFile)
    } catch {
      let example = ParameterInput.example(flow)
      throw ValidationError(
        error.message
          + (example.isEmpty
            ? "" : "\nExample: \(FlowCommandLine.programName) run \(flow.name) \(example)"))
    }
  }
}

/// Runs `flow` once with the options, reports the outcome, and returns whether it succeeded;
/// with a recorder, the run is recorded and its ID and database are printed.
func runOnce(
  _ flow: Flow, _ options: RunOptions, parameters: [String: any Sendable],
  scheduledStart: Date? = nil, resuming: UUID? = nil, approving: Set<String> = [],
  history: String? = nil, recorder: RunRecorder? = nil,
  recordedIn location: RunDatabaseLocation? = nil,
  output: FlowCommandOutput
) async throws -> Bool {
  let logger = try options.logger(
    label: flow.name, clearsProgressLine: output.standardErrorIsTerminal)
  let result: FlowRunResult
  let historyRecorder = history.map { _ in FlowRunRecorder(flowName: flow.name) }
  if let location { output.write("Recording the run in \(location)\n", .standardError) }
  let environment = RunEnvironment(logger: logger)
  // On a terminal, a live progress line (Dask's progress bar); plain log lines otherwise.
  let progress =
    output.standardErrorIsTerminal
    ? RunProgress(flow: flow, clock: environment.clock) { output.write($0, .standardError) } : nil
  var observer = historyRecorder?.observer
  if let progress {
    let history = observer
    let live = progress.observer
    observer = { step in
      history?(step)
      live(step)
    }
  }
  do {
    result = try await flow.run(
      parameters: parameters, executor: options.flowExecutor(logger: logger),
      environment: environment, approving: approving, resuming: resuming,
      scheduledStart: scheduledStart, observer: observer, recorder: recorder)
  } catch {
    throw ValidationError(error.message)
  }
  progress?.finish()
  if let history, let historyRecorder {
    do {
      try historyRecorder.history.json().write(to: URL(fileURLWithPath: history))
    } catch {
      throw ValidationError("cannot write the run's history to '\(history)': \(error)")
    }
  }
  output.write(report(result), .standardError)
  if let location {
    let id = result.flowRunID.uuidString.lowercased()
    output.write(
      "Flow run ID \(id), recorded in \(location) (`\(FlowCommandLine.programName) runs show \(id)`)\n",
      .standardError)
  }
  return result.state.isSuccessful
}

/// The final state, and on failure the tasks that failed with their messages.
func report(_ result: FlowRunResult) -> String {
  var lines = ["Flow run '\(result.flowName)': \(result.state)"]
  if !result.state.isSuccessful {
    let failing = result.taskRuns.filter { $0.state.isFailed }
    if !failing.isEmpty { lines.append("Failing tasks:") }
    for run in failing { lines.append("  \(run.label): \(run.state)") }
  }
  let paused = result.taskRuns.filter { $0.state.isPaused }
  if !paused.isEmpty {
    lines.append("Waiting for approval (run again with --approve TASK):")
    for run in paused { lines.append("  \(run.label): \(run.state)") }
  }
  return lines.joined(separator: "\n") + "\n"
}

import ArgumentParser
import FlowCore
import FlowExecutors
import FlowLogging
import Foundation
import Logging

/// The local executors the command line offers.
enum ExecutorChoice: String, ExpressibleByArgument, CaseIterable {
  case sequential
  case concurrent
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

  @Option(help: "Where task bodies run (default: sequential; concurrent with --workers/--threads).")
  var executor: ExecutorChoice?

  @Option(parsing: .unconditional, help: "Worker count for the concurrent executor.")
  var workers: Int?

  @Option(parsing: .unconditional, help: "Task runs at once per worker.")
  var threads: Int?

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

  mutating func validate() throws {
    if let workers, workers < 1 {
      throw ValidationError("--workers must be at least 1, got \(workers)")
    }
    if let threads, threads < 1 {
      throw ValidationError("--threads must be at least 1, got \(threads)")
    }
    if executor == .sequential, (workers ?? 1) > 1 || (threads ?? 1) > 1 {
      throw ValidationError(
        "--workers and --threads apply to --executor concurrent; the sequential executor runs "
          + "one task at a time")
    }
    if let logLevel {
      do {
        _ = try LogLevelSetting.parse(logLevel)
      } catch {
        throw ValidationError("--log-level: \(error)")
      }
    }
  }

  /// The executor the options describe.
  var flowExecutor: FlowExecutor {
    let choice = executor ?? (workers != nil || threads != nil ? .concurrent : .sequential)
    switch choice {
    case .sequential: return .sequential
    case .concurrent:
      if workers == nil && threads == nil { return .concurrent() }
      return .concurrent(width: (workers ?? 1) * (threads ?? 1))
    }
  }

  /// The context flows are built with.
  func context(_ commandLine: FlowCommandLine) -> FlowCommandContext {
    FlowCommandContext(resultsDirectory: resultsDirectory ?? commandLine.defaultResultsDirectory)
  }

  /// A logger writing run logs to standard error in the chosen format, at the chosen level.
  func logger(label: String) throws -> Logger {
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
    case .text: logger = Logger(label: label) { _ in ConsoleLogHandler(level: level) }
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
      throw ValidationError(error.message)
    }
  }
}

/// Runs `flow` once with the options, reports the outcome, and returns whether it succeeded.
func runOnce(
  _ flow: Flow, _ options: RunOptions, parameters: [String: any Sendable],
  scheduledStart: Date? = nil, output: FlowCommandOutput
) async throws -> Bool {
  let logger = try options.logger(label: flow.name)
  let result: FlowRunResult
  do {
    result = try await flow.run(
      parameters: parameters, executor: options.flowExecutor,
      environment: RunEnvironment(logger: logger), scheduledStart: scheduledStart)
  } catch {
    throw ValidationError(error.message)
  }
  output.write(report(result), .standardError)
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
  return lines.joined(separator: "\n") + "\n"
}

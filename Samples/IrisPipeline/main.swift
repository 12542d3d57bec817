import FlowCore
import FlowExecutors
import FlowLogging
import FlowResults
import Foundation
import Logging

// The Iris sample: `swift run iris-flow [--executor sequential|concurrent]
// [--min-sepal-length X] [--data FILE] [--results-dir DIR] [--graph dot|mermaid]
// [--log-level LEVEL] [--log-format text|json]`. FLOW_LOG_LEVEL sets the level too; the run's
// log goes to standard error.
// (The full `flow` command line arrives with FlowCLI; this sample parses its few options itself.)

struct UsageError: Error, CustomStringConvertible {
  let description: String
}

func parseOptions(_ arguments: [String]) throws -> [String: String] {
  let known = [
    "--executor", "--min-sepal-length", "--data", "--results-dir", "--graph", "--log-level",
    "--log-format",
  ]
  var options: [String: String] = [:]
  var iterator = arguments.makeIterator()
  while let name = iterator.next() {
    guard known.contains(name) else {
      throw UsageError(
        description: "unknown option \(name); known: \(known.joined(separator: ", "))")
    }
    guard let value = iterator.next() else {
      throw UsageError(description: "\(name) needs a value")
    }
    options[name] = value
  }
  return options
}

do {
  let options = try parseOptions(Array(CommandLine.arguments.dropFirst()))
  guard let bundled = Bundle.module.path(forResource: "iris", ofType: "csv") else {
    throw UsageError(description: "the bundled iris.csv is missing; rebuild the sample")
  }
  let store = options["--results-dir"].map { LocalResultStore(path: $0) }
  let flow = makeIrisFlow(defaultDataPath: bundled, results: store)
  switch options["--graph"] {
  case nil: break
  case "dot":
    print(flow.graphviz(), terminator: "")
    exit(0)
  case "mermaid":
    print(flow.mermaid(), terminator: "")
    exit(0)
  case let other?: throw UsageError(description: "--graph takes dot or mermaid, not \(other)")
  }
  var parameters: [String: any Sendable] = [:]
  if let path = options["--data"] { parameters["data-path"] = path }
  if let text = options["--min-sepal-length"] {
    guard let value = Double(text) else {
      throw UsageError(description: "--min-sepal-length takes a number, not \(text)")
    }
    parameters["min-sepal-length"] = value
  }
  let executor: FlowExecutor
  switch options["--executor"] ?? "concurrent" {
  case "sequential": executor = .sequential
  case "concurrent": executor = .concurrent()
  case let other:
    throw UsageError(description: "--executor takes sequential or concurrent, not \(other)")
  }
  let level = try LogLevelSetting.resolve(
    option: options["--log-level"], environment: ProcessInfo.processInfo.environment,
    fallback: .warning)
  switch options["--log-format"] ?? "text" {
  case "text": LoggingSystem.bootstrap { _ in ConsoleLogHandler(level: level) }
  case "json": LoggingSystem.bootstrap { _ in JSONLinesLogHandler(level: level) }
  case let other: throw UsageError(description: "--log-format takes text or json, not \(other)")
  }
  var logger = Logger(label: "iris-flow")
  logger.logLevel = level
  let result = try await flow.run(
    parameters: parameters, executor: executor, environment: RunEnvironment(logger: logger))
  for run in result.taskRuns {
    print("\(run.label): \(run.state.kind) (attempts: \(run.attempts))")
  }
  print("Flow run \(result.state)")
  guard result.state.isSuccessful,
    let table = result.taskRun("report")?.state.value(as: String.self)
  else {
    for run in result.taskRuns where run.state.isFailed { print("  \(run.label): \(run.state)") }
    exit(1)
  }
  print(table)
} catch {
  FileHandle.standardError.write(Data("iris-flow: \(error)\n".utf8))
  exit(2)
}

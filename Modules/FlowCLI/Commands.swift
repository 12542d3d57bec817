import ArgumentParser
import FlowCore
import FlowExecutors
import FlowScheduling
import FlowTesting
import Foundation
import ServiceLifecycle

/// `run [FLOW] ...`: one run now, even if the flow has a schedule; recorded into the run
/// history unless `--database none`.
struct RunCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "run", abstract: "Run a flow once, now (even if it has a schedule).")

  @OptionGroup var options: RunOptions

  @Option(
    help: ArgumentHelp(
      "Write the run's event history (JSON) to this file; `replay` checks it later.",
      valueName: "file"))
  var history: String?

  @OptionGroup var database: DatabaseOptions

  @Option(
    help: ArgumentHelp(
      "Continue the recorded run with this ID: tasks whose outputs were persisted are not run "
        + "again.", valueName: "run-id"))
  var resume: String?

  @Option(
    name: .customLong("approve"),
    help: ArgumentHelp(
      "Approve this `manualOnly` task to run (its slug; repeat for several).", valueName: "task"))
  var approvals: [String] = []

  func run() async throws {
    let invocation = RootCommand.invocation
    let flow = try invocation.commandLine.flow(
      named: options.flow, options.context(invocation.commandLine))
    let parameters = try options.parameterValues(for: flow)
    let slugs = flow.tasks.map(\.slug)
    for slug in approvals where !slugs.contains(slug) {
      throw ValidationError(
        "--approve \(slug): flow '\(flow.name)' has no task '\(slug)'; its tasks are "
          + slugs.map { "'\($0)'" }.joined(separator: ", "))
    }
    let approving = Set(approvals)
    let resuming = try resume.map { try RunID.parse($0) }
    let location = try database.location()
    let output = invocation.output
    let succeeded: Bool
    do {
      succeeded = try await location.withStore { store in
        guard let store else {
          return try await runOnce(
            flow, options, parameters: parameters, resuming: resuming, approving: approving,
            history: history, output: output)
        }
        if let resuming {
          try await RunID.check(resuming, flow: flow.name, in: store)
        }
        let recorder = RunRecorder(
          store: store, heartbeatInterval: Heartbeat.interval(),
          command: [SystemCommand.executablePath] + RunID.withoutResume(invocation.arguments))
        return try await runOnce(
          flow, options, parameters: parameters, resuming: resuming, approving: approving,
          history: history, recorder: recorder, recordedIn: location, output: output)
      }
    } catch let error as RunStoreError {
      throw CommandFailure(error.description)
    }
    if !succeeded { throw ExitCode.failure }
  }
}

/// `replay FILE`: replays a recorded run history through this executable's flow and engine.
struct ReplayCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "replay",
    abstract:
      "Replay a run's event history (written by `run --history`) through this executable's "
      + "flow and engine; fails at the first event that diverges.")

  @Argument(help: ArgumentHelp("The history file (JSON).", valueName: "file"))
  var file: String

  func run() async throws {
    let invocation = RootCommand.invocation
    let commandLine = invocation.commandLine
    let history: FlowRunHistory
    do {
      history = try FlowRunHistory.decode(json: Data(contentsOf: URL(fileURLWithPath: file)))
    } catch {
      throw ValidationError("cannot read the history '\(file)': \(error)")
    }
    let flow = try commandLine.flow(
      named: history.flowName,
      FlowCommandContext(resultsDirectory: commandLine.defaultResultsDirectory))
    do {
      let machine = try FlowRunReplayer.replay(history, flow: flow)
      invocation.output.write(
        "Replayed \(history.steps.count) events of '\(flow.name)': the same transitions "
          + "(flow \(machine.flowState.kind)).\n", .standardOutput)
    } catch {
      invocation.output.write("\(error)\n", .standardError)
      throw ExitCode.failure
    }
  }
}

/// `schedule [FLOW] [--max-runs N] ...`: runs on the flow's schedule until stopped.
struct ScheduleCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "schedule",
    abstract: "Run a flow on its schedule until stopped (Ctrl-C lets running runs finish).")

  @OptionGroup var options: RunOptions

  @Option(
    name: .customLong("max-runs"), parsing: .unconditional, help: "Stop after this many runs.")
  var maxRuns: Int?

  @OptionGroup var override: ScheduleOverride

  func validate() throws {
    if let maxRuns, maxRuns < 1 {
      throw ValidationError("--max-runs must be at least 1, got \(maxRuns)")
    }
  }

  func run() async throws {
    let invocation = RootCommand.invocation
    let output = invocation.output
    let flow = try invocation.commandLine.flow(
      named: options.flow, options.context(invocation.commandLine))
    let replacement = try override.schedule()
    guard let schedule = replacement ?? flow.schedule else {
      throw ValidationError(
        "flow '\(flow.name)' has no schedule; give it one (`Flow(\"\(flow.name)\", schedule: "
          + ".every(.seconds(60)))`), pass --cron EXPR or --interval DURATION, or use `run` to "
          + "run it once")
    }
    let scheduled = flow.withSchedule(schedule)
    let parameters = try options.parameterValues(for: flow)
    let logger = try options.logger(label: flow.name)
    let environment = RunEnvironment(logger: logger)
    output.write(
      ScheduleOverride.announcement(
        flow: flow.name, schedule: schedule, overridden: replacement != nil,
        now: environment.clock.now()), .standardError)
    // A service in a group: Ctrl-C or SIGTERM (the group's graceful shutdown) lets the running
    // run finish, then the schedule stops; SIGQUIT cancels the running runs.
    let service = FlowScheduleService(
      flow: scheduled, parameters: parameters, executor: options.flowExecutor(logger: logger),
      environment: environment,
      options: ScheduleRunnerOptions(maxRuns: maxRuns)
    ) { _, result in
      output.write(report(result), .standardError)
    }
    do {
      if invocation.handlingSignals {
        try await ServiceGroup(
          configuration: .init(
            services: [
              .init(service: service, successTerminationBehavior: .gracefullyShutdownGroup)
            ],
            gracefulShutdownSignals: [.sigterm, .sigint], cancellationSignals: [.sigquit],
            logger: logger)
        ).run()
      } else {
        try await service.run()
      }
    } catch let error as FlowValidationError {
      throw ValidationError(error.message)
    }
    guard let summary = service.summary else { return }
    output.write(ScheduleOverride.report(summary), .standardError)
  }
}

/// The formats `visualize` draws.
enum GraphFormat: String, ExpressibleByArgument, CaseIterable {
  case dot, mermaid, png, svg
}

/// `visualize [FLOW] [--format ...] [--output FILE]`: the graph, without running anything.
struct VisualizeCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "visualize", abstract: "Draw a flow's graph without running anything.")

  @Argument(help: "The flow to draw (default: the executable's first flow).")
  var flow: String?

  @Option(help: "dot or mermaid (text), png or svg (through Graphviz's `dot`).")
  var format: GraphFormat = .dot

  @Option(help: ArgumentHelp("Write to this file instead of standard output.", valueName: "file"))
  var output: String?

  func validate() throws {
    if (format == .png || format == .svg) && output == nil {
      throw ValidationError("--format \(format.rawValue) is an image: give --output FILE")
    }
  }

  func run() async throws {
    let invocation = RootCommand.invocation
    let commandLine = invocation.commandLine
    let flow = try commandLine.flow(
      named: flow,
      FlowCommandContext(resultsDirectory: commandLine.defaultResultsDirectory))
    let text: String
    switch format {
    case .mermaid: text = flow.mermaid()
    default: text = flow.graphviz()
    }
    switch format {
    case .dot, .mermaid:
      guard let output else { return invocation.output.write(text, .standardOutput) }
      do {
        try Data(text.utf8).write(to: URL(fileURLWithPath: output))
      } catch {
        throw GraphvizError(message: "cannot write '\(output)': \(error.localizedDescription)")
      }
    case .png, .svg:
      try Graphviz.render(text, format: format.rawValue, to: output!)
    }
  }
}

/// A graph could not be drawn or written.
struct GraphvizError: Error, CustomStringConvertible {
  let message: String
  var description: String { message }
}

/// Renders DOT through Graphviz's `dot` executable.
enum Graphviz {
  /// The `dot` executable on the PATH, if any.
  static func executable(environment: [String: String] = ProcessInfo.processInfo.environment)
    -> URL?
  {
    let path = environment["PATH"] ?? "/usr/bin:/bin"
    return path.split(separator: ":").map {
      URL(fileURLWithPath: String($0)).appendingPathComponent("dot")
    }.first { FileManager.default.isExecutableFile(atPath: $0.path) }
  }

  static func render(_ dot: String, format: String, to output: String) throws {
    guard let executable = executable() else {
      throw GraphvizError(
        message:
          "--format \(format) needs Graphviz's `dot`, which is not installed (not on PATH); "
          + "install it with `apt-get install graphviz` (macOS: `brew install graphviz`), or use "
          + "--format dot or --format mermaid")
    }
    let process = Process()
    process.executableURL = executable
    process.arguments = ["-T\(format)", "-o", output]
    let input = Pipe()
    let errors = Pipe()
    process.standardInput = input
    process.standardError = errors
    try process.run()
    input.fileHandleForWriting.write(Data(dot.utf8))
    try input.fileHandleForWriting.close()
    let message = errors.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    guard process.terminationStatus == 0 else {
      throw GraphvizError(
        message:
          "Graphviz's dot failed (status \(process.terminationStatus)): "
          + String(decoding: message, as: UTF8.self))
    }
  }
}

/// `list`: the flows, their parameters with types and defaults, and their schedules.
struct ListCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "list", abstract: "List the flows, their parameters and their schedules.")

  func run() async throws {
    let invocation = RootCommand.invocation
    let commandLine = invocation.commandLine
    let flows = try commandLine.flows(
      FlowCommandContext(resultsDirectory: commandLine.defaultResultsDirectory))
    var lines: [String] = []
    for (index, flow) in flows.enumerated() {
      lines.append("\(flow.name)\(index == 0 ? " (default)" : "")")
      lines.append("  schedule: \(flow.schedule.map { "\($0)" } ?? "none")")
      lines.append("  tasks: \(flow.tasks.map(\.slug).joined(separator: ", "))")
      if flow.parameters.isEmpty { lines.append("  parameters: none") }
      for parameter in flow.parameters {
        let value = parameter.defaultJSON.map { "default \($0)" } ?? "required"
        lines.append("  --param \(parameter.name)=<\(parameter.typeName)>  (\(value))")
      }
    }
    invocation.output.write(lines.joined(separator: "\n") + "\n", .standardOutput)
  }
}

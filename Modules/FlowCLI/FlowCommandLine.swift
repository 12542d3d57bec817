import ArgumentParser
import FlowCore
import Foundation
import Logging

/// The command line every flow executable gets: `run`, `schedule`, `visualize`, `list`,
/// `worker` (join a cluster) and `simulate` (the flow on the simulated cluster)
/// over a list of flows (Prefect's `prefect run`).
///
/// ```swift
/// // main.swift of a flow executable
/// await FlowCommandLine(name: "ticket-model-evaluation") { _ in [makeFlow()] }.main()
/// ```
/// With no arguments the executable runs its first flow once (`run`).
public struct FlowCommandLine: Sendable {
  /// Builds the flows, given what the command line says about where results go.
  public typealias FlowFactory = @Sendable (FlowCommandContext) throws -> [Flow]

  /// The executable's name, for help and messages.
  public let name: String
  /// One line about the executable, for `--help`.
  public let abstract: String
  /// Where results go when `--results-dir` is not given (nil: nowhere).
  public let defaultResultsDirectory: String?
  /// Builds the flows.
  public let makeFlows: FlowFactory

  /// A command line named `name` over the flows `makeFlows` builds; the first is the default.
  public init(
    name: String, abstract: String = "", defaultResultsDirectory: String? = nil,
    flows makeFlows: @escaping FlowFactory
  ) {
    self.name = name
    self.abstract = abstract
    self.defaultResultsDirectory = defaultResultsDirectory
    self.makeFlows = makeFlows
  }

  @TaskLocal static var current: Invocation?

  /// The command line and where its output goes, for the commands that ArgumentParser runs.
  struct Invocation: Sendable {
    let commandLine: FlowCommandLine
    let output: FlowCommandOutput
    let handlingSignals: Bool
    let environment: [String: String]
    let arguments: [String]
  }

  /// The name of the executable whose command is being executed, for the commands a message
  /// suggests (`flow` outside one).
  static var programName: String { current?.commandLine.name ?? "flow" }

  /// The environment of the command being executed (tests inject theirs).
  static var environment: [String: String]? { current?.environment }

  /// Runs the command given by the process's arguments and exits with its status.
  ///
  /// Run logs go to standard error through the handler `--log-format` picks, on a logger made
  /// for the run; the process-wide `LoggingSystem` is left to the executable.
  public func main() async -> Never {
    let status = await execute(Array(CommandLine.arguments.dropFirst()))
    exit(status)
  }

  /// Runs the command `arguments` describe and returns the exit status: 0 on success, 1 when a
  /// run fails, 64 for a usage error (the message names what is wrong), 0 for `--help`.
  ///
  /// With `handlingSignals` (the default), `schedule` turns SIGINT and SIGTERM into a graceful
  /// stop while it runs; pass false where the process's signal handling belongs to someone
  /// else (signal dispositions are process-wide, e.g. in a test process). `environment` is what
  /// the commands read (`FLOW_DATABASE`, `FLOW_LOG_LEVEL`, `HOME`); by default the process's.
  public func execute(
    _ arguments: [String], output: FlowCommandOutput = .standard, handlingSignals: Bool = true,
    environment: [String: String] = ProcessInfo.processInfo.environment
  ) async -> Int32 {
    let invocation = Invocation(
      commandLine: self, output: output, handlingSignals: handlingSignals,
      environment: environment, arguments: arguments)
    return await Self.$current.withValue(invocation) {
      var command: any ParsableCommand
      do {
        command = try RootCommand.parseAsRoot(arguments)
      } catch {
        return Self.report(RootCommand.fullMessage(for: error), error, output)
      }
      do {
        if var asyncCommand = command as? any AsyncParsableCommand {
          try await asyncCommand.run()
        } else {
          try command.run()
        }
        return 0
      } catch let error as ValidationError {
        // A usage error found while running: the command's own usage and help, as a parse
        // error shows them, not the root's list of subcommands.
        let path = ([Self.programName] + Self.commandPath(arguments)).joined(separator: " ")
        let usage = RootCommand.usageString(for: type(of: command))
        let message =
          "Error: \(error.message)\nUsage: \(usage)\n  See '\(path) --help' for more information."
        return Self.report(message, error, output)
      } catch {
        return Self.report(RootCommand.fullMessage(for: error), error, output)
      }
    }
  }

  /// Writes `message` where `error`'s exit code says it belongs and returns that code.
  private static func report(_ message: String, _ error: any Error, _ output: FlowCommandOutput)
    -> Int32
  {
    let code = RootCommand.exitCode(for: error)
    if !message.isEmpty {
      output.write(message + "\n", code == .success ? .standardOutput : .standardError)
    }
    return code.rawValue
  }

  /// The subcommand names `arguments` start with (`["runs", "show"]`).
  static func commandPath(_ arguments: [String]) -> [String] {
    var type: any ParsableCommand.Type = RootCommand.self
    var path: [String] = []
    for argument in arguments {
      guard
        let next = type.configuration.subcommands.first(where: {
          $0.configuration.commandName == argument
        })
      else { break }
      path.append(argument)
      type = next
    }
    return path
  }

  /// The flows, built for `context`.
  func flows(_ context: FlowCommandContext) throws -> [Flow] {
    let flows = try makeFlows(context)
    guard !flows.isEmpty else {
      throw ValidationError("\(name) has no flows to run")
    }
    return flows
  }

  /// The flow named `name`, or the first one; a usage error names the flows there are.
  func flow(named name: String?, _ context: FlowCommandContext) throws -> Flow {
    let flows = try flows(context)
    guard let name else { return flows[0] }
    guard let flow = flows.first(where: { $0.name == name }) else {
      throw ValidationError(
        "\(self.name) has no flow named '\(name)'; its flows are "
          + flows.map { "'\($0.name)'" }.joined(separator: ", "))
    }
    return flow
  }
}

/// What a flow executable's command line says about where flows keep results.
public struct FlowCommandContext: Sendable {
  /// The results directory (`--results-dir`, or the executable's default); nil when neither.
  public let resultsDirectory: String?

  /// A context.
  public init(resultsDirectory: String?) {
    self.resultsDirectory = resultsDirectory
  }
}

/// Where the command line's own output goes (the run's report, usage errors, graphs).
public struct FlowCommandOutput: Sendable {
  /// The two streams.
  public enum Stream: Sendable {
    /// Standard output.
    case standardOutput
    /// Standard error.
    case standardError
  }

  private let sink: @Sendable (String, Stream) -> Void
  /// True when standard error is a terminal: `run` then keeps a live progress line there.
  public let standardErrorIsTerminal: Bool

  /// An output writing with `sink`; `standardErrorIsTerminal` asks for the live progress line.
  public init(
    standardErrorIsTerminal: Bool = false, _ sink: @escaping @Sendable (String, Stream) -> Void
  ) {
    self.sink = sink
    self.standardErrorIsTerminal = standardErrorIsTerminal
  }

  /// Writes `text` to `stream`.
  public func write(_ text: String, _ stream: Stream) { sink(text, stream) }

  /// The process's standard output and standard error.
  public static let standard = FlowCommandOutput(
    standardErrorIsTerminal: SystemCommand.standardErrorIsTerminal
  ) { text, stream in
    let handle: FileHandle = stream == .standardOutput ? .standardOutput : .standardError
    handle.write(Data(text.utf8))
  }
}

struct RootCommand: AsyncParsableCommand {
  static var configuration: CommandConfiguration {
    let commandLine = FlowCommandLine.current?.commandLine
    return CommandConfiguration(
      commandName: commandLine?.name,
      abstract: commandLine.map { $0.abstract.isEmpty ? "" : $0.abstract }
        ?? "Run, schedule, draw and list this executable's flows.",
      subcommands: [
        RunCommand.self, ScheduleCommand.self, VisualizeCommand.self, ListCommand.self,
        WorkerCommand.self, SimulateCommand.self, ReplayCommand.self, RunsCommand.self,
        DatabaseCommand.self, DeployCommand.self, DeploymentsCommand.self, ProjectsCommand.self,
        AgentCommand.self, AgentsCommand.self, ServeCommand.self, RunDeploymentCommand.self,
      ],
      defaultSubcommand: RunCommand.self)
  }

  static var invocation: FlowCommandLine.Invocation {
    guard let current = FlowCommandLine.current else {
      preconditionFailure("flow commands run only through FlowCommandLine.execute(_:)")
    }
    return current
  }
}

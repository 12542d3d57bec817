import ArgumentParser
import FlowCore
import FlowExecutors
import FlowLogging
import FlowOrchestration
import FlowResults
import Foundation
import Logging
import ServiceLifecycle
import UnixSignals

/// Opens the database as a deployment store.
extension DatabaseOptions {
  func withDeploymentStore<T: Sendable>(_ body: (any DeploymentStore) async throws -> T)
    async throws -> T
  {
    try await withStore(migrating: true) { store in
      guard let store = store as? any DeploymentStore else {
        throw CommandFailure("\(store.description) cannot hold deployments")
      }
      return try await body(store)
    }
  }
}

/// Parses the options shared by `deploy` and `serve`.
struct DeployOptions: ParsableArguments {
  @Argument(help: "The flows to deploy (default: every flow of the executable).")
  var flows: [String] = []

  @Option(help: "The project the deployments belong to (`default` is created when missing).")
  var project = "default"

  @Option(help: "The deployment's name (one flow only; default: the flow's name).")
  var name: String?

  @Option(
    help: ArgumentHelp(
      "Create runs on this cron schedule (UTC) instead of the flow's own.",
      valueName: "expression"))
  var cron: String?

  @Option(
    help: ArgumentHelp(
      "Create runs at this interval (30s, 5m, 1h) instead of the flow's own schedule.",
      valueName: "duration"))
  var interval: String?

  @Flag(
    name: .customLong("no-schedule"),
    help: "Register without a schedule (runs start only by hand), whatever the flow declares.")
  var noSchedule = false

  @Option(
    name: .customLong("param"),
    help: ArgumentHelp(
      "A default parameter value for the deployment's runs.", valueName: "name=value"))
  var parameters: [String] = []

  @Option(
    help: ArgumentHelp(
      "Agents need all these labels to run it (comma-separated).", valueName: "labels"))
  var labels: String?

  @Option(help: "How many times a run is taken over by another agent after its agent died.")
  var crashRetries = 3

  func validate() throws {
    if cron != nil, interval != nil {
      throw ValidationError("give either --cron or --interval, not both")
    }
    if noSchedule, cron != nil || interval != nil {
      throw ValidationError("--no-schedule registers no schedule: leave out --cron and --interval")
    }
    if name != nil, flows.count > 1 {
      throw ValidationError("--name names one deployment; deploy one flow at a time with it")
    }
    if crashRetries < 0 { throw ValidationError("--crash-retries must be 0 or more") }
  }

  var schedule: DeploymentScheduleSpec? {
    get throws {
      if let cron {
        let spec = DeploymentScheduleSpec.cron(cron)
        do { _ = try spec.makeSchedule() } catch { throw ValidationError("--cron: \(error)") }
        return spec
      }
      if let interval {
        let seconds = try RunText.parseAge(interval)
        guard seconds > 0 else { throw ValidationError("--interval must be longer than 0s") }
        return .interval(seconds: seconds)
      }
      return nil
    }
  }

  /// Registers the chosen flows of `commandLine` on `--cron`/`--interval`, else on the schedule
  /// each flow declares; returns the deployments. `note` hears of declared schedules a
  /// deployment cannot store.
  func register(
    _ flows: [Flow], in store: any DeploymentStore, clock: any WallClock, ids: any IDGenerator,
    note: (String) -> Void
  ) async throws -> [DeploymentRecord] {
    let chosen: [Flow]
    if self.flows.isEmpty {
      chosen = flows
    } else {
      chosen = try self.flows.map { name in
        guard let flow = flows.first(where: { $0.name == name }) else {
          throw ValidationError(
            "there is no flow named '\(name)'; the flows are "
              + flows.map { "'\($0.name)'" }.joined(separator: ", "))
        }
        return flow
      }
    }
    let schedule = try schedule
    let labelList = labels.map(Self.list) ?? []
    if project == "default" {
      _ = try await store.createProject(
        ProjectRecord(
          name: "default", description: "Deployments without a project", createdAt: clock.now()))
    }
    var deployments: [DeploymentRecord] = []
    for flow in chosen {
      let record = flow.record
      let defaults = try Self.parameterValues(
        parameters, schemaJSON: record.parameterSchemaJSON, flow: flow.name, requireAll: false,
        declared: flow)
      var flowSchedule = schedule
      if flowSchedule == nil, !noSchedule, let declared = flow.schedule {
        flowSchedule = DeploymentScheduleSpec(declared: declared)
        if flowSchedule == nil {
          note(
            "flow '\(flow.name)' declares a schedule a deployment cannot store (\(declared)); "
              + "deployments take a cron expression or a plain interval: give --cron or "
              + "--interval, or run it with `\(FlowCommandLine.programName) schedule \(flow.name)`")
        }
      }
      let registration = DeploymentRegistration(
        project: project, name: name ?? flow.name, flow: record, schedule: flowSchedule,
        defaultParameters: defaults, labels: labelList, crashRetries: crashRetries, id: ids.next())
      deployments.append(try await store.registerDeployment(registration, now: clock.now()))
    }
    return deployments
  }

  static func list(_ text: String) -> [String] {
    text.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter {
      !$0.isEmpty
    }.sorted()
  }

  /// What a parameter type's decoder said was wrong.
  private static func reason(_ error: any Error) -> String {
    if let error = error as? DecodingError, case .dataCorrupted(let context) = error {
      return context.debugDescription
    }
    return "\(error)"
  }

  /// `NAME=VALUE` assignments as JSON text by name, checked against the schema.
  static func parameterValues(
    _ assignments: [String], file: String? = nil, schemaJSON: String, flow: String,
    requireAll: Bool, declared: Flow? = nil
  ) throws -> [String: String] {
    let schema: ParameterSchema
    do { schema = try ParameterSchema(json: schemaJSON) } catch { throw CommandFailure("\(error)") }
    var values: [String: String] = [:]
    if let file {
      let data: Data
      do { data = try Data(contentsOf: URL(fileURLWithPath: file)) } catch {
        throw ValidationError("--param-file: cannot read '\(file)': \(error.localizedDescription)")
      }
      guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
        throw ValidationError("--param-file: '\(file)' is not a JSON object of parameter values")
      }
      for (name, value) in object {
        let encoded = try? JSONSerialization.data(
          withJSONObject: value, options: [.fragmentsAllowed, .sortedKeys])
        values[name] = encoded.map { String(decoding: $0, as: UTF8.self) } ?? "null"
      }
    }
    for assignment in assignments {
      guard let equals = assignment.firstIndex(of: "=") else {
        throw ValidationError("--param '\(assignment)' has no '='; write --param NAME=VALUE")
      }
      let name = String(assignment[..<equals])
      values[name] = schema.jsonText(
        forInput: String(assignment[assignment.index(after: equals)...]), parameter: name)
    }
    var problems = schema.problems(in: values, requireAll: requireAll)
    // This executable has the flow: its own parameter types check what JSON cannot.
    for spec in declared?.parameters ?? [] {
      guard let text = values[spec.name], !problems.contains(where: { $0.parameter == spec.name })
      else { continue }
      do {
        _ = try spec.decode(json: Data(text.utf8))
      } catch {
        problems.append(
          ParameterProblem(
            parameter: spec.name, expectedType: spec.typeName, value: text,
            reason: Self.reason(error)))
      }
    }
    if !problems.isEmpty {
      throw ValidationError(
        "the parameters of flow '\(flow)' do not match: "
          + problems.map(\.description).joined(separator: "; "))
    }
    return values
  }
}

/// `deploy [FLOW...]`: registers deployments in the store.
struct DeployCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "deploy",
    abstract: "Register this executable's flows as deployments (a changed graph is a new version).")

  @OptionGroup var deploy: DeployOptions
  @OptionGroup var database: DatabaseOptions
  @Option(
    name: .customLong("results-dir"),
    help: ArgumentHelp("Where persisted results live.", valueName: "directory"))
  var resultsDirectory: String?

  func run() async throws {
    let invocation = RootCommand.invocation
    let flows = try invocation.commandLine.flows(
      FlowCommandContext(
        resultsDirectory: resultsDirectory ?? invocation.commandLine.defaultResultsDirectory))
    let deployments = try await database.withDeploymentStore { store in
      try await deploy.register(
        flows, in: store, clock: SystemWallClock(), ids: SystemIDGenerator()
      ) { invocation.output.write("Note: \($0)\n", .standardError) }
    }
    DeploymentText.report(deployments, to: invocation.output)
  }
}

/// Formats deployments.
enum DeploymentText {
  static func line(_ deployment: DeploymentRecord) -> String {
    "Deployment \(deployment.qualifiedName) version \(deployment.version) (flow "
      + "\(deployment.flowName)@\(deployment.flowVersion)), schedule: "
      + deployment.scheduleSummary
      + (deployment.labels.isEmpty ? "" : ", labels: \(deployment.labels.joined(separator: ","))")
  }

  /// What `deploy` and `serve` registered: a line per deployment on standard output, and a
  /// note on standard error for each paused schedule (registering keeps it paused).
  static func report(_ deployments: [DeploymentRecord], to output: FlowCommandOutput) {
    for deployment in deployments {
      output.write(line(deployment) + "\n", .standardOutput)
      if deployment.schedulePaused, deployment.schedule != nil {
        output.write(
          "Note: the schedule of \(deployment.qualifiedName) stays paused; resume it with "
            + "`flow deployments resume \(deployment.qualifiedName)`\n", .standardError)
      }
    }
  }

  /// `1 run`, `3 runs` (of `noun`).
  static func runs(_ count: Int, _ noun: String = "run") -> String {
    "\(count) \(noun)\(count == 1 ? "" : "s")"
  }

  /// What `serve` does with `deployments`, and how to start a run of one without a schedule.
  static func serving(_ deployments: [DeploymentRecord], store: String) -> String {
    let unscheduled = deployments.filter { $0.schedule == nil }.map(\.qualifiedName)
    var text =
      "Serving \(deployments.count) deployment\(deployments.count == 1 ? "" : "s") from \(store): "
      + "scheduled runs are created and run in this process until SIGINT/SIGTERM\n"
    if let first = unscheduled.first {
      text +=
        "\(unscheduled.joined(separator: ", ")) \(unscheduled.count == 1 ? "has" : "have") no "
        + "schedule (--interval or --cron gives one): start a run with "
        + "`\(FlowCommandLine.programName) run-deployment \(first)`\n"
    }
    return text
  }

  /// `PROJECT/NAME` split, or a bare `NAME` (project nil); a usage error otherwise.
  static func qualified(_ text: String) throws -> (project: String?, name: String) {
    let parts = text.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
      .map(String.init)
    guard parts.allSatisfy({ !$0.isEmpty }), !parts.isEmpty else {
      throw ValidationError("'\(text)' is not PROJECT/NAME or NAME (e.g. default/hello)")
    }
    return parts.count == 2 ? (parts[0], parts[1]) : (nil, parts[0])
  }

  /// The deployment `text` names: `PROJECT/NAME`, or a `NAME` that one project has.
  static func resolve(_ text: String, in store: any DeploymentStore) async throws
    -> DeploymentRecord
  {
    let (project, name) = try qualified(text)
    let unknown = CommandFailure(
      RunStoreError.unknownDeployment(location: store.description, name: text).description)
    if let project {
      guard let record = try await store.deployment(project: project, name: name) else {
        throw unknown
      }
      return record
    }
    let named = try await store.deployments(project: nil).filter { $0.name == name }
    guard named.count <= 1 else {
      throw ValidationError(
        "several projects have a deployment named '\(name)': "
          + named.map(\.qualifiedName).sorted().joined(separator: ", ") + "; name one of them")
    }
    guard let record = named.first else { throw unknown }
    return record
  }
}

/// `deployments list`.
public struct DeploymentsCommand: AsyncParsableCommand {
  /// The command's name, help and subcommands.
  public static let configuration = CommandConfiguration(
    commandName: "deployments",
    abstract: "List registered deployments; pause and resume schedules; delete deployments.",
    subcommands: [
      DeploymentsListCommand.self, DeploymentsPauseCommand.self, DeploymentsResumeCommand.self,
      DeploymentsDeleteCommand.self,
    ], defaultSubcommand: DeploymentsListCommand.self)

  /// The command.
  public init() {}
}

struct DeploymentsListCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "list", abstract: "List deployments.")
  @OptionGroup var database: DatabaseOptions
  @Option(help: "Only this project's deployments.") var project: String?

  func run() async throws {
    let deployments = try await database.withDeploymentStore {
      try await $0.deployments(project: project)
    }
    let text = deployments.map(DeploymentText.line).joined(separator: "\n")
    CommandContext.output.write(text.isEmpty ? "No deployments\n" : text + "\n", .standardOutput)
  }
}

/// `deployments pause NAME`: the scheduler creates no more runs, and its unstarted ones go.
struct DeploymentsPauseCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "pause",
    abstract: "Pause a deployment's schedule: no more scheduled runs; unstarted ones are removed.",
    discussion: """
      Runs an agent already started go on; runs created by hand (run-deployment, Quick Run) are \
      kept and still run. `deploy` keeps a paused schedule paused.
      """)
  @OptionGroup var target: ScheduleToggleOptions

  func run() async throws { try await target.set(paused: true) }
}

/// `deployments resume NAME`: the schedule runs again from now on.
struct DeploymentsResumeCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "resume",
    abstract: "Resume a deployment's paused schedule from now on (missed fire times are not run).")
  @OptionGroup var target: ScheduleToggleOptions

  func run() async throws { try await target.set(paused: false) }
}

/// `deployments delete NAME`: the deployment goes; its runs' history stays.
struct DeploymentsDeleteCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "delete",
    abstract: "Delete a deployment: its unstarted runs are removed, its running ones cancelled.",
    discussion: """
      Finished runs keep their history (`runs list`). Deploying the flow again under the name \
      makes a new deployment, from version 1.
      """)
  @OptionGroup var target: DeploymentTarget

  func run() async throws {
    let deletion = try await target.change { store, record throws(RunStoreError) in
      try await store.deleteDeployment(id: record.id, now: SystemWallClock().now())
    }
    var text = "Deployment \(deletion.deployment.qualifiedName) deleted"
    if !deletion.removedRuns.isEmpty {
      text += "; \(DeploymentText.runs(deletion.removedRuns.count)) not yet started removed"
    }
    if !deletion.cancelledRuns.isEmpty {
      text += "; \(DeploymentText.runs(deletion.cancelledRuns.count)) cancelled"
    }
    CommandContext.output.write(text + "\n", .standardOutput)
  }
}

/// The deployment a `deployments` subcommand changes.
struct DeploymentTarget: ParsableArguments {
  @Argument(help: "The deployment: PROJECT/NAME, or NAME when one project has it.")
  var deployment: String
  @OptionGroup var database: DatabaseOptions

  func validate() throws { _ = try DeploymentText.qualified(deployment) }

  /// Finds the deployment and applies `body` to it; a store error is the command's failure.
  func change<T: Sendable>(
    _ body: (any DeploymentStore, DeploymentRecord) async throws(RunStoreError) -> T
  ) async throws -> T {
    try await database.withDeploymentStore { store in
      let record = try await DeploymentText.resolve(deployment, in: store)
      do {
        return try await body(store, record)
      } catch {
        throw CommandFailure("\(error)")
      }
    }
  }
}

/// The deployment whose schedule `pause` and `resume` change, and the change itself.
struct ScheduleToggleOptions: ParsableArguments {
  @OptionGroup var target: DeploymentTarget

  func set(paused: Bool) async throws {
    let change = try await target.change { store, record throws(RunStoreError) in
      try await store.setSchedulePaused(
        paused, deploymentID: record.id, now: SystemWallClock().now())
    }
    let name = change.deployment.qualifiedName
    var text = "Schedule of \(name) (\(change.deployment.schedule?.description ?? "none")) "
    text += paused ? "paused" : "resumed"
    if paused, !change.removedRuns.isEmpty {
      text +=
        "; \(DeploymentText.runs(change.removedRuns.count, "scheduled run")) not yet started "
        + "removed"
    }
    CommandContext.output.write(text + "\n", .standardOutput)
  }
}

/// `projects create|list`.
public struct ProjectsCommand: AsyncParsableCommand {
  /// The command's name, help and subcommands.
  public static let configuration = CommandConfiguration(
    commandName: "projects", abstract: "Create and list projects (groups of deployments).",
    subcommands: [ProjectsCreateCommand.self, ProjectsListCommand.self])

  /// The command.
  public init() {}
}

struct ProjectsCreateCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "create", abstract: "Create a project.")
  @OptionGroup var database: DatabaseOptions
  @Argument(help: "The project's name.") var name: String
  @Option(help: "What the project is for.") var description = ""

  func validate() throws {
    if name.isEmpty || name.contains("/") {
      throw ValidationError("a project name is not empty and has no '/', got '\(name)'")
    }
  }

  func run() async throws {
    let project = try await database.withDeploymentStore {
      try await $0.createProject(
        ProjectRecord(name: name, description: description, createdAt: SystemWallClock().now()))
    }
    CommandContext.output.write("Project \(project.name)\n", .standardOutput)
  }
}

struct ProjectsListCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(commandName: "list", abstract: "List projects.")
  @OptionGroup var database: DatabaseOptions

  func run() async throws {
    let projects = try await database.withDeploymentStore { try await $0.projects() }
    let lines = projects.map { $0.description.isEmpty ? $0.name : "\($0.name)  \($0.description)" }
    CommandContext.output.write(
      lines.isEmpty ? "No projects\n" : lines.joined(separator: "\n") + "\n", .standardOutput)
  }
}

/// The options of `agent` and `serve`.
struct AgentOptions: ParsableArguments {
  @Option(help: ArgumentHelp("This agent's labels (comma-separated).", valueName: "labels"))
  var agentLabels: String?

  @Option(help: "At most this many runs at once.") var limit = 4

  @Option(help: "The agent's name in its leases (default: HOST-PID).") var agentName: String?

  @Option(help: ArgumentHelp("How long a lease holds a run, in seconds.", valueName: "seconds"))
  var lease: Double = 30

  @Option(help: ArgumentHelp("How often to look for work, in seconds.", valueName: "seconds"))
  var poll: Double = 2

  @Option(help: "Task runs at once inside each flow run (1: sequential).") var width = 1

  @Option(
    name: .customLong("results-dir"),
    help: ArgumentHelp("Where persisted results live.", valueName: "directory"))
  var resultsDirectory: String?

  @Flag(
    name: .customLong("no-durable-outputs"),
    help: ArgumentHelp(
      "Do not persist task outputs for durable execution (a run taken over after its agent "
        + "died then runs every task again); the same as --durable-outputs none."))
  var noDurableOutputs = false

  @Option(
    name: .customLong("durable-outputs"),
    help: ArgumentHelp(
      "Where runs persist every Codable task output (unless its task says noCheckpoint()), so "
        + "that a run taken over after its agent died does not run those tasks again: "
        + "database (the run database, the default: agents on any machine find them), "
        + "directory (<results-dir>/durable, ~/.flow/durable without one: agents that take "
        + "over each other's runs must share it) or none.", valueName: "where"))
  var durableOutputs = "database"

  @Option(
    name: .customLong("log-level"), help: "trace … critical (default: FLOW_LOG_LEVEL or info).")
  var logLevel: String?

  /// Whether runs persist their task outputs in the run database (the default).
  var persistsOutputsInDatabase: Bool { !noDurableOutputs && durableOutputs == "database" }

  /// The directory store runs persist their task outputs in (`--durable-outputs directory`),
  /// or nil.
  func durableResultStore(_ commandLine: FlowCommandLine) -> (any ResultStore)? {
    guard !noDurableOutputs, durableOutputs == "directory" else { return nil }
    // Without a results directory: beside the default database (`~/.flow/durable`).
    let home = CommandContext.environment["HOME"] ?? NSHomeDirectory()
    let directory =
      resultsDirectory ?? commandLine.defaultResultsDirectory
      ?? URL(fileURLWithPath: home).appendingPathComponent(".flow").path
    return LocalResultStore(
      directory: URL(fileURLWithPath: directory).appendingPathComponent("durable"))
  }

  func validate() throws {
    if limit < 1 { throw ValidationError("--limit must be at least 1, got \(limit)") }
    if lease < 0.5 { throw ValidationError("--lease must be at least 0.5 seconds") }
    if poll <= 0 { throw ValidationError("--poll must be more than 0 seconds") }
    if width < 1 { throw ValidationError("--width must be at least 1") }
    if !["database", "directory", "none"].contains(durableOutputs) {
      throw ValidationError(
        "--durable-outputs must be database, directory or none, got '\(durableOutputs)'")
    }
  }

  func logger() throws -> Logger {
    let level: Logger.Level
    do {
      level = try LogLevelSetting.resolve(
        option: logLevel, environment: CommandContext.environment, fallback: .info)
    } catch {
      throw ValidationError("\(LogLevelSetting.environmentVariable) or --log-level: \(error)")
    }
    // The agent's runs share one console: each run's records carry its short ID.
    var logger = Logger(label: "swift-flow.agent") { _ in
      ConsoleLogHandler(level: level, showsRun: true)
    }
    logger.logLevel = level
    return logger
  }

  func flows(_ commandLine: FlowCommandLine) throws -> [Flow] {
    try commandLine.flows(
      FlowCommandContext(resultsDirectory: resultsDirectory ?? commandLine.defaultResultsDirectory))
  }

  func agent(store: any DeploymentStore, flows: [Flow], wake: AgentWakeSignal?) throws
    -> AgentService
  {
    let name = agentName ?? "\(SystemHost.name)-\(SystemHost.processID)"
    let leaseDuration = Duration.milliseconds(Int64(lease * 1000))
    let options = AgentMachine.Options(
      agentID: name, limit: limit, leaseDuration: leaseDuration,
      poll: .milliseconds(Int64(poll * 1000)), safetyMargin: leaseDuration / 10)
    return AgentService(
      store: store, flows: flows, options: options,
      settings: .init(
        labels: agentLabels.map(DeployOptions.list) ?? [],
        executor: width == 1 ? .sequential : .concurrent(width: width),
        recorderHeartbeat: leaseDuration / 3, logger: try logger(),
        resultStore: durableResultStore(RootCommand.invocation.commandLine),
        persistsOutputsInDatabase: persistsOutputsInDatabase),
      wake: wake)
  }
}

/// Runs `services` until SIGINT or SIGTERM (when the invocation handles signals) or until they end.
func runServices(_ services: [any Service], logger: Logger) async throws {
  let handling = RootCommand.invocation.handlingSignals
  let group = ServiceGroup(
    configuration: .init(
      services: services.map {
        .init(service: $0, successTerminationBehavior: .gracefullyShutdownGroup)
      },
      gracefulShutdownSignals: handling ? [.sigterm, .sigint] : [],
      logger: logger))
  try await group.run()
}

/// The scheduler options of `agent` and `serve`.
struct SchedulerOptions: ParsableArguments {
  @Option(
    help: ArgumentHelp(
      "Runs not started this long after their time are Late, in seconds.", valueName: "seconds"))
  var lateAfter: Double = 60

  func validate() throws {
    if lateAfter <= 0 { throw ValidationError("--late-after must be more than 0 seconds") }
  }

  /// The scheduler service over `store`; each run it creates wakes the local agent.
  func service(store: any DeploymentStore, wake: AgentWakeSignal, logger: Logger)
    -> DeploymentSchedulerService
  {
    DeploymentSchedulerService(
      store: store,
      options: .init(
        horizon: .seconds(10), maxAhead: 100, tick: .seconds(1),
        lateAfter: .milliseconds(Int64(lateAfter * 1000))),
      logger: logger, created: { wake.raise(dueAt: $0.scheduledAt) })
  }
}

/// `agent`: claims and runs the deployments' runs of this executable's flows, and creates the
/// scheduled runs of every deployment when they are due.
struct AgentCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "agent",
    abstract: "Claim and run due runs of this executable's deployed flows (until SIGINT/SIGTERM).",
    discussion: """
      The agent also creates the runs of scheduled deployments when they are due: one run per \
      deployment and fire time however many agents do so (the database decides), so `deploy \
      --interval 1h` and one agent run the flow hourly. With --no-scheduler it only claims, \
      leaving the schedules to other agents or a `serve` process.
      """)

  @OptionGroup var agent: AgentOptions
  @OptionGroup var scheduler: SchedulerOptions
  @OptionGroup var database: DatabaseOptions

  @Flag(
    name: .customLong("no-scheduler"),
    help: "Only claim runs; do not create the scheduled runs of deployments.")
  var noScheduler = false

  func run() async throws {
    let invocation = RootCommand.invocation
    let flows = try agent.flows(invocation.commandLine)
    try await database.withDeploymentStore { store in
      let wake = AgentWakeSignal()
      let logger = try agent.logger()
      let (service, services) = try agent.services(store: store, flows: flows, wake: wake)
      invocation.output.write(
        "Agent \(agent.agentName ?? "\(SystemHost.name)-\(SystemHost.processID)") polling "
          + "\(store.description) for "
          + service.flowKeys.map(\.description).joined(separator: ", ")
          + (noScheduler ? "" : "; creating scheduled deployments' runs") + "\n",
        .standardError)
      let schedulers: [any Service] =
        noScheduler ? [] : [scheduler.service(store: store, wake: wake, logger: logger)]
      try await runServices(schedulers + services, logger: logger)
    }
  }
}

/// `serve`: deploy + scheduler + agent in one process.
struct ServeCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "serve",
    abstract:
      "Deploy this executable's flows, then create their scheduled runs and run them, in this process."
  )

  @OptionGroup var deploy: DeployOptions
  @OptionGroup var agent: AgentOptions
  @OptionGroup var scheduler: SchedulerOptions
  @OptionGroup var database: DatabaseOptions

  func run() async throws {
    let invocation = RootCommand.invocation
    let flows = try agent.flows(invocation.commandLine)
    try await database.withDeploymentStore { store in
      let clock = SystemWallClock()
      let deployments = try await deploy.register(
        flows, in: store, clock: clock, ids: SystemIDGenerator()
      ) { invocation.output.write("Note: \($0)\n", .standardError) }
      DeploymentText.report(deployments, to: invocation.output)
      invocation.output.write(
        DeploymentText.serving(deployments, store: store.description), .standardError)
      let wake = AgentWakeSignal()
      let logger = try agent.logger()
      let services = try agent.services(store: store, flows: flows, wake: wake).services
      try await runServices(
        [scheduler.service(store: store, wake: wake, logger: logger)] + services, logger: logger)
    }
  }
}

/// `run-deployment PROJECT/NAME` (or `NAME`): creates a run of a deployment, optionally waiting for its end.
public struct RunDeploymentCommand: AsyncParsableCommand {
  /// The command's name, help and subcommands.
  public static let configuration = CommandConfiguration(
    commandName: "run-deployment",
    abstract: "Create a run of a deployment now (an agent runs it); --wait for its final state.")

  @Argument(help: "The deployment: PROJECT/NAME, or NAME when one project has it.")
  var deployment: String
  @Option(
    name: .customLong("param"), help: ArgumentHelp("A parameter value.", valueName: "name=value"))
  var parameters: [String] = []
  @Option(
    name: .customLong("param-file"),
    help: ArgumentHelp("A JSON object of parameter values (--param wins).", valueName: "file"))
  var parameterFile: String?
  @Flag(help: "Wait until the run reaches a final state; exit 1 unless it succeeded.") var wait =
    false
  @Option(help: ArgumentHelp("With --wait, give up after this many seconds.", valueName: "seconds"))
  var timeout: Double?
  @Option(help: "An idempotency key: asking again with it returns the same run.") var key: String?
  @OptionGroup var database: DatabaseOptions

  /// The command.
  public init() {}

  /// Checks the deployment's name.
  public func validate() throws { _ = try DeploymentText.qualified(deployment) }

  /// How long `--wait` waits for an agent to claim the run before it says what the run waits for.
  static let hintAfterSeconds: TimeInterval = 3

  /// This executable's version of the deployment's flow, if it has it.
  private func declared(_ deployment: DeploymentRecord) -> Flow? {
    guard let commandLine = FlowCommandLine.current?.commandLine else { return nil }
    let context = FlowCommandContext(resultsDirectory: commandLine.defaultResultsDirectory)
    return (try? commandLine.flows(context))?.first {
      $0.name == deployment.flowName && $0.record.version == deployment.flowVersion
    }
  }

  /// Creates the run, and with --wait waits for its end.
  public func run() async throws {
    let output = CommandContext.output
    let clock = SystemWallClock()
    let final = try await database.withDeploymentStore { store -> DeploymentRunRecord in
      let record = try await DeploymentText.resolve(deployment, in: store)
      let values = try DeployOptions.parameterValues(
        parameters, file: parameterFile, schemaJSON: record.parameterSchemaJSON,
        flow: record.flowName, requireAll: false, declared: declared(record))
      let runID = SystemIDGenerator().next()
      let creation: DeploymentRunCreation
      do {
        creation = try await store.createDeploymentRun(
          DeploymentRunRequest(
            runID: runID, deploymentID: record.id, scheduledAt: clock.now(), parameters: values,
            idempotencyKey: key ?? "manual:\(runID.uuidString.lowercased())", now: clock.now()))
      } catch {
        throw CommandFailure("\(error)")
      }
      let id = creation.run.id.uuidString.lowercased()
      output.write(
        "Flow run \(id) of \(record.qualifiedName) \(creation.created ? "created" : "already exists") (`\(FlowCommandLine.programName) runs show \(id)`)\n",
        .standardOutput)
      guard wait else { return creation.run }
      let deadline = timeout.map { clock.now().addingTimeInterval($0) }
      var run = creation.run
      let hintAfter = clock.now().addingTimeInterval(Self.hintAfterSeconds)
      var hint: QueueHint?
      while !run.isFinished {
        if let deadline, clock.now() >= deadline {
          throw CommandFailure(
            "run \(id) is still \(run.state) after \(timeout!)s"
              + (hint.map { ". \($0.text)" } ?? ""))
        }
        try await clock.sleep(for: .milliseconds(200))
        run = try await store.deploymentRun(id: run.id) ?? run
        // Still not claimed after a while: say what it waits for (again when that changes).
        if ["Scheduled", "Late"].contains(run.state), run.scheduledAt <= clock.now(),
          clock.now() >= hintAfter
        {
          let now = QueueHint.make(
            queued: run, agents: try await store.registeredAgents(),
            executable: FlowCommandLine.programName, now: clock.now())
          if now != hint { output.write(now.text + "\n", .standardError) }
          hint = now
        }
      }
      return run
    }
    if wait {
      output.write(
        "Flow run \(final.id.uuidString.lowercased()): \(final.state)"
          + (final.message.map { " (\($0))" } ?? "") + "\n", .standardOutput)
      if final.state != "Success" { throw ExitCode.failure }
    }
  }
}

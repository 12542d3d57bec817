import ArgumentParser
import FlowCore
import FlowExecutors
import FlowState
import Foundation

/// Run IDs on the command line.
enum RunID {
  /// Parses a whole run ID; a usage error names the expected form.
  static func parse(_ text: String) throws -> UUID {
    guard let id = UUID(uuidString: text) else { throw formError(text) }
    return id
  }

  /// Checks that `text` is a run ID or the start of one (`a479d5c4`, as the agent's console
  /// and `runs list` show it), at least 4 characters long.
  static func validate(_ text: String) throws {
    if UUID(uuidString: text) != nil { return }
    guard text.count >= 4, text.count < 36, text.allSatisfy({ $0.isHexDigit || $0 == "-" })
    else { throw formError(text) }
  }

  private static func formError(_ text: String) -> ValidationError {
    ValidationError(
      "'\(text)' is not a run ID; run IDs look like 3f2a9c1e-8b7d-4e6f-a5c4-1d2e3f4a5b6c, "
        + "or their first characters (at least 4: 3f2a9c1e) "
        + "(see `\(FlowCommandLine.programName) runs list`)")
  }

  /// The recorded run `id` must exist and be a run of `flow`.
  static func check(_ id: UUID, flow: String, in store: any RunStore) async throws {
    guard let run = try await store.flowRun(id: id) else {
      throw RunStoreError.unknownRun(
        location: store.description, id: id.uuidString.lowercased())
    }
    guard run.flowName == flow else {
      throw ValidationError(
        "run \(id.uuidString.lowercased()) is a run of flow '\(run.flowName)', not '\(flow)'; "
          + "resume it with `run \(run.flowName) --resume \(id.uuidString.lowercased())`")
    }
  }

  /// `arguments` without a `--resume ID` (a resumed run is recorded with its original command).
  static func withoutResume(_ arguments: [String]) -> [String] {
    var result: [String] = []
    var skip = false
    for argument in arguments {
      if skip {
        skip = false
        continue
      }
      if argument == "--resume" {
        skip = true
        continue
      }
      if argument.hasPrefix("--resume=") { continue }
      result.append(argument)
    }
    return result
  }

  /// The run `text` names, or an error naming the store and the fix.
  /// A whole ID is looked up; the start of one must name exactly one recorded run.
  static func record(_ text: String, in store: any RunStore) async throws -> FlowRunRecord {
    try validate(text)
    let unknown = CommandFailure(
      RunStoreError.unknownRun(location: store.description, id: text.lowercased()).description)
    guard let id = UUID(uuidString: text) else {
      let matches = try await store.flowRuns(
        FlowRunQuery(limit: 6, staleBefore: Heartbeat.staleBefore(), idPrefix: text))
      guard let run = matches.first else { throw unknown }
      guard matches.count == 1 else {
        let listed = matches.prefix(5).map {
          "  \($0.id.uuidString.lowercased())  \($0.flowName)  \(RunText.time($0.startedAt))"
        }
        throw CommandFailure(
          "'\(text)' starts the IDs of \(matches.count > 5 ? "more than 5" : "\(matches.count)") "
            + "runs; give more of the ID:\n" + listed.joined(separator: "\n"))
      }
      return run
    }
    guard let run = try await store.flowRun(id: id) else { throw unknown }
    return RunStoreReading.reported(run, staleBefore: Heartbeat.staleBefore())
  }
}

/// When readers call a Running run Crashed.
enum Heartbeat {
  /// The environment variable overriding the heartbeat TTL, in seconds.
  static let ttlVariable = "FLOW_HEARTBEAT_TTL"

  /// The environment variable overriding how often a recorded run beats, in seconds.
  static let intervalVariable = "FLOW_HEARTBEAT_INTERVAL"

  /// How often a recorded run says it is alive (default 5 s; keep it well below the TTL).
  static func interval() -> Duration {
    guard let seconds = CommandContext.environment[intervalVariable].flatMap(Double.init),
      seconds > 0
    else { return .seconds(5) }
    return .milliseconds(Int64(seconds * 1000))
  }

  /// Running runs whose heartbeat is older than this are Crashed.
  static func staleBefore() -> Date {
    let ttl =
      CommandContext.environment[ttlVariable].flatMap(Double.init)
      ?? RunStoreReading.defaultHeartbeatTTL.timeIntervalValue
    return SystemWallClock().now().addingTimeInterval(-ttl)
  }
}

extension Duration {
  fileprivate var timeIntervalValue: TimeInterval {
    let (seconds, attoseconds) = components
    return TimeInterval(seconds) + TimeInterval(attoseconds) * 1e-18
  }
}

/// `runs list|show|logs|resume|prune`: the recorded run history.
public struct RunsCommand: AsyncParsableCommand {
  /// The command's name, help and subcommands.
  public static let configuration = CommandConfiguration(
    commandName: "runs", abstract: "Show, follow, resume, cancel and prune recorded runs.",
    subcommands: [
      RunsListCommand.self, RunsShowCommand.self, RunsLogsCommand.self, RunsResumeCommand.self,
      RunsCancelCommand.self, RunsPruneCommand.self,
    ])

  /// The command.
  public init() {}
}

/// `db migrate|status`: the run history's schema.
public struct DatabaseCommand: AsyncParsableCommand {
  /// The command's name, help and subcommands.
  public static let configuration = CommandConfiguration(
    commandName: "db", abstract: "Create, upgrade and inspect the run-history database.",
    subcommands: [DatabaseMigrateCommand.self, DatabaseStatusCommand.self])

  /// The command.
  public init() {}
}

/// Formats times and durations for the tables.
enum RunText {
  static func time(_ date: Date?) -> String {
    guard let date else { return "-" }
    return RunStoreReading.iso8601(date)
  }

  static func duration(_ seconds: TimeInterval?) -> String {
    guard let seconds else { return "-" }
    if seconds < 1 { return String(format: "%.1fms", seconds * 1000) }
    return String(format: "%.3fs", seconds)
  }

  static func pad(_ text: String, _ width: Int) -> String {
    text.count >= width ? text : text + String(repeating: " ", count: width - text.count)
  }

  /// An age in its largest whole unit: `45s`, `12m`, `3h`, `2d` (the form `parseAge` reads).
  static func age(_ seconds: TimeInterval) -> String {
    let whole = max(0, Int(seconds))
    for (unit, size) in [("d", 86_400), ("h", 3_600), ("m", 60)] where whole >= size {
      return "\(whole / size)\(unit)"
    }
    return "\(whole)s"
  }

  /// A duration like `30d`, `12h`, `15m`, `90s`.
  static func parseAge(_ text: String) throws -> TimeInterval {
    let units: [Character: Double] = ["s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604_800]
    guard let unit = text.last, let scale = units[unit], let value = Double(text.dropLast()),
      value >= 0
    else {
      throw ValidationError(
        "'\(text)' is not an age; write a number and a unit: 90s, 15m, 12h, 30d, 2w")
    }
    return value * scale
  }

  /// The states a flow run is recorded in: the engine's, and Late for a deployment's run that
  /// was not started in time.
  static let runStates = RunState.Kind.all.map(\.name) + ["Late"]

  /// A recorded state's name, whatever its case (`failed` is `Failed`).
  static func parseState(_ text: String) throws -> String {
    if let name = runStates.first(where: { $0.lowercased() == text.lowercased() }) { return name }
    throw ValidationError(
      "'\(text)' is not a run state; use one of " + runStates.joined(separator: ", "))
  }

  /// An instant: ISO 8601 (`2026-03-05T14:00:00Z`) or an age before now (`2h`).
  static func parseInstant(_ text: String) throws -> Date {
    if let date = try? Date(text, strategy: .iso8601) { return date }
    if let age = try? parseAge(text) { return SystemWallClock().now().addingTimeInterval(-age) }
    throw ValidationError(
      "'\(text)' is not a time; write ISO 8601 (2026-03-05T14:00:00Z) or an age (2h, 3d)")
  }
}

struct RunsListCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "list", abstract: "List recorded flow runs, newest first.")

  @OptionGroup var database: DatabaseOptions
  @Option(help: "Only runs of this flow.") var flow: String?
  @Option(help: "Only runs in this state (Running, Success, Failed, Crashed…).") var state: String?
  @Option(help: "Only runs started since this time (ISO 8601) or age (2h, 3d).") var since: String?
  @Option(help: "At most this many runs.") var limit: Int = 20
  @Flag(help: "One JSON object per line.") var json = false

  func validate() throws {
    if limit < 1 { throw ValidationError("--limit must be at least 1, got \(limit)") }
  }

  func run() async throws {
    let since = try since.map(RunText.parseInstant)
    let state = try state.map(RunText.parseState)
    let runs = try await database.withStore(migrating: false) { store in
      try await store.flowRuns(
        FlowRunQuery(
          flowName: flow, state: state, since: since, limit: limit,
          staleBefore: Heartbeat.staleBefore()))
    }
    var lines: [String] = []
    if json {
      lines = runs.map { RunStoreCoding.json($0) }
    } else {
      lines.append(
        RunText.pad("ID", 37) + RunText.pad("FLOW", 28) + RunText.pad("STATE", 14)
          + RunText.pad("STARTED", 26) + "DURATION")
      for run in runs {
        let duration = run.endedAt.map { $0.timeIntervalSince(run.startedAt) }
        lines.append(
          RunText.pad(run.id.uuidString.lowercased(), 37) + RunText.pad(run.flowName, 28)
            + RunText.pad(run.state, 14) + RunText.pad(RunText.time(run.startedAt), 26)
            + RunText.duration(duration))
      }
    }
    CommandContext.output.write(lines.joined(separator: "\n") + "\n", .standardOutput)
  }
}

/// The formats `runs show --graph` draws.
enum RunGraphFormat: String, ExpressibleByArgument, CaseIterable {
  case dot, mermaid
}

struct RunsShowCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "show",
    abstract: "Show a run: parameters, every task run with state and timings, transitions.")

  @OptionGroup var database: DatabaseOptions
  @Argument(help: "The run's ID, or its first characters (at least 4).") var id: String

  func validate() throws { try RunID.validate(id) }
  @Option(help: "Print the graph coloured by the run's states instead (dot or mermaid).")
  var graph: RunGraphFormat?
  @Flag(help: "Also list every transition.") var transitions = false

  func run() async throws {
    let text = try await database.withStore(migrating: false) { store in
      let run = try await RunID.record(id, in: store)
      let tasks = try await store.taskRuns(flowRunID: run.id)
      let flow = try await store.flow(name: run.flowName, version: run.flowVersion)
      let document = flow.flatMap { FlowGraphDocument(json: $0.graphJSON) }
      if let graph {
        guard let document else {
          throw CommandFailure("the graph of flow '\(run.flowName)' is not recorded")
        }
        var states: [String: String] = [:]
        for task in tasks where task.mapIndex < 0 { states[task.slug] = task.state }
        return graph == .dot ? document.graphviz(states: states) : document.mermaid(states: states)
      }
      let changes = transitions ? try await store.transitions(flowRunID: run.id) : []
      return Self.describe(run, tasks: tasks, document: document, transitions: changes)
    }
    CommandContext.output.write(text, .standardOutput)
  }

  static func describe(
    _ run: FlowRunRecord, tasks: [TaskRunRecord], document: FlowGraphDocument?,
    transitions: [TransitionRecord]
  ) -> String {
    var lines = [
      "Flow run \(run.id.uuidString.lowercased())",
      "  flow:      \(run.flowName) (version \(run.flowVersion))",
      "  state:     \(run.state)" + (run.message.map { ": \($0)" } ?? ""),
      "  executor:  \(run.executor) on \(run.host), pid \(run.processID)",
      "  scheduled: \(RunText.time(run.scheduledAt))",
      "  started:   \(RunText.time(run.startedAt))",
      "  ended:     \(RunText.time(run.endedAt))",
      "  duration:  \(RunText.duration(run.endedAt.map { $0.timeIntervalSince(run.startedAt) }))",
      "  heartbeat: \(RunText.time(run.heartbeatAt))",
    ]
    let declared = document?.parameters ?? []
    lines.append("Parameters (\(max(declared.count, run.parameters.count))):")
    for parameter in declared {
      lines.append(
        "  \(RunText.pad(parameter.name, 24)) \(run.parameters[parameter.name] ?? "-")  "
          + "(\(parameter.type), default \(parameter.defaultJSON ?? "none"))")
    }
    for (name, value) in run.parameters.sorted(by: { $0.key < $1.key })
    where !declared.contains(where: { $0.name == name }) {
      lines.append("  \(RunText.pad(name, 24)) \(value)")
    }
    lines.append("Task runs (\(tasks.count)):")
    lines.append(
      "  " + RunText.pad("TASK", 32) + RunText.pad("STATE", 14) + RunText.pad("ATTEMPTS", 10)
        + RunText.pad("STARTED", 26) + RunText.pad("DURATION", 12) + "MESSAGE")
    for task in tasks {
      lines.append(
        "  " + RunText.pad(task.label, 32) + RunText.pad(task.state, 14)
          + RunText.pad(
            "\(task.attempts)"
              + (task.crashedAttempts > 0 ? " (\(task.crashedAttempts) crashed)" : ""), 10)
          + RunText.pad(RunText.time(task.startedAt), 26)
          + RunText.pad(RunText.duration(task.duration), 12) + (task.message ?? ""))
    }
    if !transitions.isEmpty {
      lines.append("Transitions (\(transitions.count)):")
      for change in transitions {
        let subject = change.slug.map { change.mapIndex >= 0 ? "\($0)[\(change.mapIndex)]" : $0 }
        lines.append(
          "  \(change.sequence). \(RunText.time(change.time)) \(subject ?? "flow run"): "
            + "\(change.from) → \(change.to)" + (change.message.map { " (\($0))" } ?? ""))
      }
    }
    return lines.joined(separator: "\n") + "\n"
  }
}

struct RunsLogsCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "logs", abstract: "Print a run's log records (--follow: until it ends).")

  @OptionGroup var database: DatabaseOptions
  @Argument(help: "The run's ID, or its first characters (at least 4).") var id: String
  @Option(help: "Only records at this level or above (trace … critical).") var level: String =
    "trace"
  @Flag(help: "Keep printing new records until the run ends.") var follow = false

  func validate() throws {
    try RunID.validate(id)
    if StoredLogLevel(name: level) == nil {
      throw ValidationError(
        "--level \(level) is not a level; use one of \(StoredLogLevel.names.joined(separator: ", "))"
      )
    }
  }

  func run() async throws {
    let minimum = StoredLogLevel(name: level)!
    let output = CommandContext.output
    try await database.withStore(migrating: false) { store in
      var run = try await RunID.record(id, in: store)
      var after: Int64 = 0
      let clock = SystemWallClock()
      while true {
        let records = try await store.logs(flowRunID: run.id, after: after, minimumLevel: minimum)
        for record in records {
          let task = record.metadata["task"].map { " [\($0)]" } ?? ""
          output.write(
            "\(RunText.time(record.time)) \(RunText.pad(record.level.description.uppercased(), 8))"
              + "\(task) \(record.message)\n", .standardOutput)
        }
        after = records.last?.sequence ?? after
        guard follow, run.endedAt == nil, run.state == "Running" else { return }
        try await clock.sleep(for: .milliseconds(500))
        run = try await RunID.record(run.id.uuidString, in: store)
        if run.endedAt != nil || run.state != "Running" {
          // One last read: records written with the run's end.
          for record in try await store.logs(
            flowRunID: run.id, after: after, minimumLevel: minimum)
          {
            output.write(
              "\(RunText.time(record.time)) \(RunText.pad(record.level.description.uppercased(), 8))"
                + "\(record.metadata["task"].map { " [\($0)]" } ?? "") \(record.message)\n",
              .standardOutput)
          }
          return
        }
      }
    }
  }
}

struct RunsResumeCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "resume",
    abstract: "Continue a crashed or failed run: persisted task outputs are not run again.")

  @OptionGroup var database: DatabaseOptions
  @Argument(help: "The run's ID, or its first characters (at least 4).") var id: String

  func validate() throws { try RunID.validate(id) }

  func run() async throws {
    let location = try database.location()
    let run = try await database.withStore(migrating: false) { store in
      try await RunID.record(id, in: store)
    }
    let fullID = run.id.uuidString.lowercased()
    if run.state == "Running" {
      throw CommandFailure(
        "run \(fullID) is still running (heartbeat at \(RunText.time(run.heartbeatAt)) from "
          + "\(run.host), pid \(run.processID)); resume it once it has crashed (no heartbeat "
          + "for \(Int(RunStoreReading.defaultHeartbeatTTL.components.seconds)) s) or stopped")
    }
    guard !run.command.isEmpty else {
      throw CommandFailure(
        "run \(fullID) was started from a library, not a flow executable: call "
          + "`flow.run(resuming: \(fullID), recorder:)` with the same flow")
    }
    let command =
      run.command + ["--resume", run.id.uuidString.lowercased(), "--database", location.argument]
    CommandContext.output.write(
      "Resuming run \(run.id.uuidString.lowercased()) of flow '\(run.flowName)': "
        + command.joined(separator: " ") + "\n", .standardError)
    let status: Int32
    do {
      status = try await SystemCommand.run(command, environment: CommandContext.environment)
    } catch {
      throw CommandFailure(
        "cannot start \(run.command[0]) (\(error)); the run was recorded by that executable: "
          + "rebuild it, or run `<executable> run \(run.flowName) --resume \(id)`")
    }
    if status != 0 { throw ExitCode(status) }
  }
}

struct RunsPruneCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "prune",
    abstract: "Delete finished runs older than an age, in batches (writers are not blocked).")

  @OptionGroup var database: DatabaseOptions
  @Option(name: .customLong("older-than"), help: "An age: 30d, 12h, 90m.") var olderThan: String
  @Option(help: "Runs deleted per transaction.") var batchSize: Int = 500

  func run() async throws {
    let age = try RunText.parseAge(olderThan)
    let cutoff = SystemWallClock().now().addingTimeInterval(-age)
    let total = try await database.withStore(migrating: false) { store in
      var total = 0
      while true {
        let deleted = try await store.prune(endedBefore: cutoff, limit: max(1, batchSize))
        total += deleted
        if deleted < batchSize { return total }
      }
    }
    CommandContext.output.write(
      "Pruned \(total) flow run(s) that ended before \(RunText.time(cutoff))\n", .standardOutput)
  }
}

struct DatabaseMigrateCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "migrate", abstract: "Create or upgrade the run-history schema.")

  @OptionGroup var database: DatabaseOptions

  func run() async throws {
    let location = try database.location()
    let status = try await database.withStore(migrating: true) { store in
      try await store.schemaStatus()
    }
    CommandContext.output.write(
      "\(location): schema version \(status.databaseVersion) (current)\n", .standardOutput)
  }
}

struct DatabaseStatusCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "status", abstract: "Print the run-history schema's version.")

  @OptionGroup var database: DatabaseOptions

  func run() async throws {
    let location = try database.location()
    do {
      let status = try await location.withStore(migrating: false) { store in
        guard let store else {
          throw ValidationError("--database none has no schema; name a database")
        }
        return try await store.schemaStatus()
      }
      CommandContext.output.write(
        "\(location): schema version \(status.databaseVersion), this binary supports "
          + "\(status.supportedVersion) (up to date)\n", .standardOutput)
    } catch let error as RunStoreError where error.code == .needsMigration {
      CommandContext.output.write(
        "\(location): \(error.message)\n", .standardOutput)
      throw ExitCode.failure
    } catch let error as RunStoreError {
      throw CommandFailure(error.description)
    }
  }
}

import ArgumentParser
import FlowCore
import Foundation

/// `agents list`: the agents that registered in the database or ever claimed a run, with their
/// health, as the server's dashboard shows them.
public struct AgentsCommand: AsyncParsableCommand {
  /// The command's name, help and subcommands.
  public static let configuration = CommandConfiguration(
    commandName: "agents", abstract: "List the agents and their health.",
    subcommands: [AgentsListCommand.self], defaultSubcommand: AgentsListCommand.self)

  /// The command.
  public init() {}
}

struct AgentsListCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "list",
    abstract: "List the agents: Active (holds runs), Idle, Unresponsive or Stopped.")
  @OptionGroup var database: DatabaseOptions

  func run() async throws {
    let now = SystemWallClock().now()
    let agents = try await database.withDeploymentStore { store in
      let leases = try await (store as? any RunStoreDashboard)?.agents(now: now) ?? []
      return AgentStatus.merged(registered: try await store.registeredAgents(), leases: leases)
    }
    guard !agents.isEmpty else {
      CommandContext.output.write("No agents\n", .standardOutput)
      return
    }
    var lines = [
      RunText.pad("AGENT", 24) + RunText.pad("HEALTH", 14) + RunText.pad("HOST:PID", 24)
        + RunText.pad("RUNS", 8) + RunText.pad("LAST SEEN", 12) + "LABELS"
    ]
    for agent in agents {
      let registration = agent.registration
      let held = agent.leases?.held ?? 0
      lines.append(
        RunText.pad(agent.agentID, 24) + RunText.pad(agent.health(now: now), 14)
          + RunText.pad(registration.map { "\($0.host):\($0.processID)" } ?? "-", 24)
          + RunText.pad(registration.map { "\(held)/\($0.limit)" } ?? "\(held)", 8)
          + RunText.pad(RunText.age(now.timeIntervalSince(agent.lastSeenAt)) + " ago", 12)
          + (registration?.labels.joined(separator: ",") ?? ""))
    }
    CommandContext.output.write(lines.joined(separator: "\n") + "\n", .standardOutput)
  }
}

import Foundation

/// What a queued deployment run waits for: the live agents that can claim it, or why none can
/// (no agent runs, the agents run another version of the flow, or lack one of its labels).
/// The run page and `run-deployment --wait` show it while no agent has started the run.
public struct QueueHint: Equatable, Sendable {
  /// The sentence to show.
  public var text: String

  /// The hint for `queued`, a run no agent has started, given the registered `agents`;
  /// `executable` names the program to start an agent with, when it is known.
  public static func make(
    queued: DeploymentRunRecord, agents: [AgentRecord], executable: String? = nil, now: Date
  ) -> QueueHint {
    let flow = FlowKey(name: queued.flowName, version: queued.flowVersion)
    let live = agents.filter { $0.stoppedAt == nil && !$0.isUnresponsive(now: now) }
    let labels = Set(queued.labels)
    let able = live.filter { $0.flows.contains(flow) && labels.isSubset(of: $0.labels) }
    if !able.isEmpty {
      let names = able.map(\.agentID).sorted()
      return QueueHint(
        text: "Queued: \(names.count == 1 ? "agent" : "agents") \(names.joined(separator: ", ")) "
          + "can run it and will claim it when it is due and \(names.count == 1 ? "it has" : "they have") room."
      )
    }
    let needs =
      "an agent whose executable contains flow \(flow)"
      + (labels.isEmpty ? "" : " and has the labels \(labels.sorted().joined(separator: ", "))")
    var reasons: [String] = []
    let otherVersions = live.filter { agent in
      !agent.flows.contains(flow) && agent.flows.contains { $0.name == flow.name }
    }
    if !otherVersions.isEmpty {
      let versions = Set(
        otherVersions.flatMap { $0.flows.filter { $0.name == flow.name }.map(\.version) }
      ).sorted()
      reasons.append(
        "the running agents have version \(versions.joined(separator: ", ")) of \(flow.name), "
          + "not \(flow.version): deploy again from the executable they run, or restart them "
          + "with the one that deployed this version")
    }
    let unlabelled = live.filter { $0.flows.contains(flow) && !labels.isSubset(of: $0.labels) }
    if !unlabelled.isEmpty {
      let missing = Set(unlabelled.flatMap { labels.subtracting($0.labels) }).sorted()
      reasons.append(
        "agents \(unlabelled.map(\.agentID).sorted().joined(separator: ", ")) run this flow "
          + "but lack the labels \(missing.joined(separator: ", ")) (start them with `--labels`)")
    }
    if reasons.isEmpty {
      reasons.append(
        live.isEmpty
          ? "no agent is running: start one with `\(executable ?? "EXECUTABLE") agent` (or `"
            + "\(executable ?? "EXECUTABLE") serve`)"
            + (executable == nil ? ", where EXECUTABLE is the program that deployed this flow" : "")
          : "none of the running agents has this flow")
    }
    return QueueHint(
      text: "Waiting for \(needs); \(reasons.joined(separator: "; ")).")
  }
}

import FlowCore
import Foundation

/// How a deployment's run started by a task ended (the output of
/// ``DeploymentRunTask/task(_:project:deployment:parameters:wait:poll:timeout:)``).
public struct DeploymentRunOutcome: Sendable, Codable, Equatable {
  /// The deployment, `PROJECT/NAME`.
  public let deployment: String
  /// The run's ID.
  public let runID: UUID
  /// Its state: the final one when waited for (`Success`), else the state at creation.
  public let state: String
  /// The state's message.
  public let message: String?
}

/// A deployment's run started by a task ended unsuccessfully, or did not end in time.
public struct DeploymentRunFailure: Error, Sendable, CustomStringConvertible {
  /// The run as last seen.
  public let outcome: DeploymentRunOutcome
  /// Why the task failed.
  public let reason: String

  /// Names the deployment, the run and why.
  public var description: String {
    "run \(outcome.runID.uuidString.lowercased()) of \(outcome.deployment) \(reason)"
      + (outcome.message.map { ": \($0)" } ?? "")
  }
}

/// Tasks that start a deployment's run through the shared store, for an agent (any process,
/// any machine) to run, and optionally wait for its final state: Prefect's
/// `StartFlowRun(wait=True)` / `create_flow_run` + `wait_for_flow_run` across processes.
public enum DeploymentRunTask {
  /// A task that creates a run of `project/deployment` with `parameters` (encoded as JSON and
  /// checked against the deployment's schema) and, with `wait`, polls every `poll` until the
  /// run reaches a final state: it succeeds with the outcome when the run ends Success, and
  /// fails (``DeploymentRunFailure``) otherwise or after `timeout`.
  ///
  /// The run's idempotency key is the calling task run's (flow run, slug, map index): a
  /// retried attempt, or the calling run resumed after a takeover, finds the run it started
  /// instead of starting another.
  /// ```swift
  /// let main = Flow("main-flow") {
  ///   let engineering = DeploymentRunTask.task(store, project: "iris", deployment: "data-engineer")()
  ///   DeploymentRunTask.task(store, project: "iris", deployment: "data-science")().after(engineering)
  /// }
  /// ```
  public static func task(
    _ store: any DeploymentStore, project: String, deployment: String,
    parameters: [String: any Encodable & Sendable] = [:], wait: Bool = true,
    poll: Duration = .milliseconds(500), timeout: Duration? = nil
  ) -> TaskDefinition<DeploymentRunOutcome> {
    TaskDefinition("run-\(project)-\(deployment)") { () async throws -> DeploymentRunOutcome in
      let context = TaskRunContext.current
      let environment = context?.environment ?? .system
      let clock = environment.clock
      guard let record = try await store.deployment(project: project, name: deployment) else {
        throw RunStoreError.unknownDeployment(
          location: store.description, name: "\(project)/\(deployment)")
      }
      var values: [String: String] = [:]
      let encoder = JSONEncoder()
      encoder.outputFormatting = [.sortedKeys]
      for (name, value) in parameters {
        values[name] = String(decoding: try encoder.encode(value), as: UTF8.self)
      }
      let key =
        context.map {
          "task:\($0.flowRunID.uuidString.lowercased()):\($0.taskSlug):\($0.mapIndex ?? -1)"
        } ?? "task:\(environment.ids.next().uuidString.lowercased())"
      let creation = try await store.createDeploymentRun(
        DeploymentRunRequest(
          runID: environment.ids.next(), deploymentID: record.id, scheduledAt: clock.now(),
          parameters: values, idempotencyKey: key, now: clock.now()))
      var run = creation.run
      func outcome() -> DeploymentRunOutcome {
        DeploymentRunOutcome(
          deployment: record.qualifiedName, runID: run.id, state: run.state,
          message: run.message)
      }
      context?.logger.info(
        "started run \(run.id.uuidString.lowercased()) of \(record.qualifiedName)")
      guard wait else { return outcome() }
      let deadline = timeout.map { clock.now().addingTimeInterval($0.timeInterval) }
      while !run.isFinished {
        if let deadline, clock.now() >= deadline {
          throw DeploymentRunFailure(
            outcome: outcome(), reason: "is still \(run.state) after \(timeout!)")
        }
        try await clock.sleep(for: poll)
        run = try await store.deploymentRun(id: run.id) ?? run
      }
      guard run.state == "Success" else {
        throw DeploymentRunFailure(outcome: outcome(), reason: "ended \(run.state)")
      }
      return outcome()
    }
  }
}

import FlowCore
import FlowState
import Foundation

/// How a flow run started by a task ended (the output of ``Flow/runTask(_:parameters:executor:)``).
public struct FlowRunOutcome: Sendable, Codable, Equatable {
  /// The flow's name.
  public let flowName: String
  /// The flow run's ID.
  public let flowRunID: String
  /// The final state's kind (`Success`).
  public let state: String
  /// The final state's message.
  public let message: String?
  /// Each task run's final state kind, by label (`load_data`, `summarize[2]`).
  public let taskStates: [String: String]
}

/// A flow run started by a task ended unsuccessfully.
public struct FlowRunFailure: Error, Sendable, CustomStringConvertible {
  /// The outcome of the failed run.
  public let outcome: FlowRunOutcome
  /// The failing tasks and their messages.
  public let failingTasks: [String]

  /// Names the flow, its final state and the failing tasks.
  public var description: String {
    "flow run '\(outcome.flowName)' ended \(outcome.state)"
      + (outcome.message.map { ": \($0)" } ?? "")
      + (failingTasks.isEmpty ? "" : " (failing: \(failingTasks.joined(separator: "; ")))")
  }
}

extension Flow {
  /// A task that runs this flow and waits for it, succeeding or failing with it (Prefect's
  /// `StartFlowRun(wait=True)`); wire it after other tasks with `.after(...)`.
  ///
  /// The run gets, for each parameter this flow declares, the value the calling run has for a
  /// parameter of the same name, overridden by `parameters`; it uses the calling run's clock,
  /// random source, IDs and logger.
  /// ```swift
  /// let main = Flow("main-flow") {
  ///   let engineering = dataEngineer.runTask()()
  ///   dataScience.runTask()().after(engineering)
  /// }
  /// ```
  public func runTask(
    _ name: String? = nil, parameters: [String: any Sendable] = [:],
    executor: FlowExecutor = .sequential
  ) -> TaskDefinition<FlowRunOutcome> {
    let flow = self
    return TaskDefinition(name ?? "run-\(self.name)") { () async throws -> FlowRunOutcome in
      let context = TaskRunContext.current
      var values: [String: any Sendable] = [:]
      for spec in flow.parameters {
        if let value = context?.parameters[spec.name] { values[spec.name] = value }
      }
      values.merge(parameters) { _, explicit in explicit }
      let result = try await flow.run(
        parameters: values, executor: executor, environment: context?.environment ?? .system)
      let outcome = FlowRunOutcome(
        flowName: flow.name, flowRunID: result.flowRunID.uuidString.lowercased(),
        state: result.state.kind.name, message: result.state.message,
        taskStates: Dictionary(
          result.taskRuns.map { ($0.label, $0.state.kind.name) }, uniquingKeysWith: { a, _ in a }))
      guard result.state.isSuccessful else {
        throw FlowRunFailure(
          outcome: outcome,
          failingTasks: result.taskRuns.filter(\.state.isFailed).map {
            "\($0.label): \($0.state.message ?? $0.state.kind.name)"
          })
      }
      return outcome
    }
  }
}

import FlowCore
import FlowExecutors
import Foundation

/// A replayed history that the machine did not reproduce (Temporal's non-determinism error).
public struct FlowReplayError: Error, Sendable, CustomStringConvertible {
  /// What went wrong (extensible).
  public struct Code: Hashable, Sendable, CustomStringConvertible {
    /// The code's name.
    public let name: String
    /// The name.
    public var description: String { name }
    /// The machine answered an event with other actions than the history recorded.
    public static let diverged = Code(name: "diverged")
    /// The history was written by a newer version of the engine.
    public static let newerVersion = Code(name: "newerVersion")
    /// The history belongs to another flow.
    public static let otherFlow = Code(name: "otherFlow")
  }

  /// What went wrong.
  public let code: Code
  /// The first step that differs (its ``FlowRunStep/sequence``), when the replay diverged.
  public let sequence: Int?
  /// The step's event as JSON.
  public let event: String?
  /// The recorded actions as JSON.
  public let expected: String?
  /// The replayed actions as JSON.
  public let actual: String?
  /// What happened and what to do.
  public let message: String

  /// The message, with the first differing event and both action lists.
  public var description: String {
    guard let sequence, let event, let expected, let actual else { return message }
    return "\(message)\nfirst differing event #\(sequence): \(event)\n"
      + "recorded actions: \(expected)\nreplayed actions: \(actual)"
  }
}

/// Replays recorded flow-run histories through the real ``FlowRunMachine`` and checks that
/// it answers every event with the recorded actions: a changed flow or engine that would make
/// old runs diverge fails here, naming the first differing event.
/// ```swift
/// let recorder = FlowRunRecorder(flowName: flow.name)
/// _ = try await flow.run(observer: recorder.observer)
/// try FlowRunReplayer.replay(recorder.history, flow: flow)
/// ```
public enum FlowRunReplayer {
  /// Feeds `history`'s events to a new machine for `flow`; returns the machine (its task runs
  /// and final state) or throws ``FlowReplayError`` at the first step that differs.
  @discardableResult
  public static func replay(_ history: FlowRunHistory, flow: Flow) throws -> FlowRunMachine {
    guard history.version <= FlowRunHistory.currentVersion else {
      throw FlowReplayError(
        code: .newerVersion, sequence: nil, event: nil, expected: nil, actual: nil,
        message:
          "the history has format version \(history.version), newer than this engine's "
          + "\(FlowRunHistory.currentVersion); replay it with the engine that wrote it")
    }
    guard history.flowName == flow.name else {
      throw FlowReplayError(
        code: .otherFlow, sequence: nil, event: nil, expected: nil, actual: nil,
        message:
          "the history is of flow '\(history.flowName)', not '\(flow.name)'; replay it with "
          + "the flow that recorded it")
    }
    var machine = try FlowRunMachine(flow: flow)
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    func json(_ value: some Encodable) -> String {
      (try? encoder.encode(value)).map { String(decoding: $0, as: UTF8.self) } ?? "<not encodable>"
    }
    for step in history.steps {
      let actions = machine.handle(step.event)
      let expected = json(step.actions)
      let actual = json(actions)
      guard expected == actual else {
        throw FlowReplayError(
          code: .diverged, sequence: step.sequence, event: json(step.event), expected: expected,
          actual: actual,
          message:
            "replaying the history of '\(flow.name)' diverged at event #\(step.sequence): the "
            + "flow or the engine changed in a way that old runs of it cannot follow")
      }
    }
    return machine
  }
}

import Foundation
import Synchronization

/// One step of a flow run: an event the machine took and the actions it answered with.
public struct FlowRunStep: Codable, Sendable {
  /// The version of the machine that took the step (``FlowRunMachine/version``).
  public var version: Int
  /// The step's position in the run's history, from 0.
  public var sequence: Int
  /// The event.
  public var event: FlowRunEvent
  /// The actions, in order.
  public var actions: [FlowRunAction]

  /// Creates a step.
  public init(version: Int, sequence: Int, event: FlowRunEvent, actions: [FlowRunAction]) {
    self.version = version
    self.sequence = sequence
    self.event = event
    self.actions = actions
  }
}

/// Sees every step of a flow run as the engine takes it, in order, on the run's task (so a
/// slow observer slows the run). Pass it to `Flow.run(observer:)`; a durable run store
/// records the steps as the run's event history.
public typealias FlowRunObserver = @Sendable (FlowRunStep) -> Void

/// A flow run's recorded steps, to write out as JSON and replay (`FlowRunReplayer` in
/// FlowTesting).
public struct FlowRunHistory: Codable, Sendable {
  /// The history format's version; a reader refuses a newer one.
  public static let currentVersion = 2
  /// The format version this history was written with.
  public var version: Int
  /// The flow's name.
  public var flowName: String
  /// The steps, in order.
  public var steps: [FlowRunStep]

  /// Creates a history.
  public init(flowName: String, steps: [FlowRunStep], version: Int = Self.currentVersion) {
    self.version = version
    self.flowName = flowName
    self.steps = steps
  }

  /// The history as pretty-printed JSON with sorted keys (stable to diff and commit).
  public func json() throws -> Data {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    return try encoder.encode(self)
  }

  /// Reads a history written by ``json()``.
  public static func decode(json data: Data) throws -> FlowRunHistory {
    return try JSONDecoder().decode(FlowRunHistory.self, from: data)
  }
}

/// Collects a run's steps: pass ``observer`` to `Flow.run(observer:)`, then read ``history``.
public final class FlowRunRecorder: Sendable {
  private let steps = Mutex<[FlowRunStep]>([])
  private let flowName: String

  /// A recorder for a run of the flow named `flowName`.
  public init(flowName: String) { self.flowName = flowName }

  /// The observer that records each step.
  public var observer: FlowRunObserver { { step in self.steps.withLock { $0.append(step) } } }

  /// The steps recorded so far.
  public var history: FlowRunHistory {
    FlowRunHistory(flowName: flowName, steps: steps.withLock { $0 })
  }
}

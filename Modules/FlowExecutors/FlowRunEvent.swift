import FlowCore
import FlowState
import Foundation

/// One task run in a flow run: a node of the graph, and for a mapped child its index.
public struct TaskRunKey: Hashable, Codable, Sendable, CustomStringConvertible {
  /// The node's index in the flow's graph.
  public let node: Int
  /// For a mapped child, its index; nil for an unmapped task or a mapped parent.
  public let mapIndex: Int?

  /// Creates a key.
  public init(node: Int, mapIndex: Int?) {
    self.node = node
    self.mapIndex = mapIndex
  }

  /// `node` or `node[index]`.
  public var description: String { mapIndex.map { "\(node)[\($0)]" } ?? "\(node)" }
}

/// Whose state a transition moves: the flow run's, or one task run's.
public enum FlowRunSubject: Hashable, Codable, Sendable {
  /// The flow run.
  case flow
  /// One task run.
  case task(TaskRunKey)
}

/// What a ``FlowRunMachine`` learns: the run started, the shell answered an action, a body
/// finished, a timer fired, the run was cancelled. Time, IDs and randomness arrive here.
public enum FlowRunEvent: Codable, Sendable {
  /// The run started (always the first event).
  case started(FlowRunStart)
  /// The state handlers turned a requested transition into this state.
  case transitioned(FlowRunSubject, RecordedRunState)
  /// The elements of a mapped task's inputs, for each position the machine asked about.
  case inputsSplit(node: Int, elements: [FlowValues])
  /// The typed output of a mapped task, collected from its children's outputs.
  case collected(node: Int, output: FlowValue)
  /// The result store answered whether the task run's output is cached.
  case resultLooked(TaskRunKey, ResultLookup)
  /// An attempt's body ended.
  case attemptFinished(TaskRunKey, attempt: Int, AttemptOutcome, at: Date)
  /// A running attempt was lost with its cluster worker.
  case attemptCrashed(TaskRunKey, message: String, rescheduled: Bool, at: Date)
  /// The result store wrote the output (`failure` nil) or could not.
  case resultPersisted(TaskRunKey, failure: RecordedError?, at: Date)
  /// A timer the machine set fired.
  case timerFired(TaskRunKey, at: Date)
  /// The flow run was cancelled.
  case cancelRequested(at: Date)
  /// The branch conditions of a task built under `when(...)` were tested: `unmet` is the
  /// position of the first that does not hold (nil: all hold, the task may run). Version 2.
  case conditionsChecked(node: Int, unmet: Int?)
}

/// What a flow run starts with.
public struct FlowRunStart: Codable, Sendable {
  /// The flow's name.
  public var flowName: String
  /// The flow run's ID.
  public var flowRunID: UUID
  /// The seed task run IDs are drawn from.
  public var idSeed: UInt64
  /// How many task runs the executor runs at once.
  public var width: Int
  /// The parameter values by name.
  public var parameters: [String: FlowValue]
  /// Slugs of `manualOnly` tasks approved to run.
  public var approvals: [String]
  /// True when the run continues an earlier run and may reuse its checkpoints.
  public var resuming: Bool
  /// When the run started.
  public var at: Date

  /// Creates a start event's data.
  public init(
    flowName: String, flowRunID: UUID, idSeed: UInt64, width: Int,
    parameters: [String: FlowValue], approvals: [String], resuming: Bool, at: Date
  ) {
    self.flowName = flowName
    self.flowRunID = flowRunID
    self.idSeed = idSeed
    self.width = width
    self.parameters = parameters
    self.approvals = approvals
    self.resuming = resuming
    self.at = at
  }
}

/// How the result store answered a lookup.
public enum ResultLookup: Codable, Sendable {
  /// A cached or checkpointed output: the state to move to.
  case cached(RecordedRunState)
  /// The lookup failed.
  case failed(RecordedError)
  /// Nothing to reuse: run the body (the notes say why, for the success message).
  case run(notes: [String])
}

/// How one attempt's body ended.
public enum AttemptOutcome: Codable, Sendable {
  /// It returned an output.
  case succeeded(FlowValue)
  /// It threw `SkipTask`.
  case skipped(reason: String)
  /// The flow run was cancelled while it ran.
  case cancelled(RecordedError)
  /// It threw `LoopAgain`: run the next iteration with this payload. Version 2.
  case looped(payload: FlowValue)
  /// It threw (or timed out).
  case failed(AttemptFailure)
}

/// A failed attempt, as the machine needs it to decide between a retry and a final failure.
public struct AttemptFailure: Codable, Sendable {
  /// The error.
  public var error: RecordedError
  /// True when the attempt hit its timeout.
  public var timedOut: Bool
  /// True when the task's retry condition accepts the error.
  public var retryable: Bool
  /// True when the cluster gave up on the attempt after it crashed too many workers.
  public var killedWorker: Bool
  /// A random value for the retry delay's jitter.
  public var draw: UInt64

  /// Creates a failure record.
  public init(
    error: RecordedError, timedOut: Bool, retryable: Bool, killedWorker: Bool, draw: UInt64
  ) {
    self.error = error
    self.timedOut = timedOut
    self.retryable = retryable
    self.killedWorker = killedWorker
    self.draw = draw
  }
}

/// What a ``FlowRunMachine`` asks its shell to do.
public enum FlowRunAction: Codable, Sendable {
  /// Move `subject` from one state to another through its state handlers; answer with
  /// ``FlowRunEvent/transitioned(_:_:)``.
  case transition(FlowRunSubject, from: RecordedRunState, to: RecordedRunState)
  /// Split the values at `positions` of a mapped task's arguments; answer with
  /// ``FlowRunEvent/inputsSplit(node:elements:)``.
  case splitInputs(node: Int, positions: [Int], values: FlowValues)
  /// Collect the children's outputs into the mapped task's output; answer with
  /// ``FlowRunEvent/collected(node:output:)``.
  case collect(node: Int, outputs: FlowValues)
  /// Look up a cached or checkpointed output; answer with ``FlowRunEvent/resultLooked(_:_:)``.
  case lookUpResult(TaskRunKey, taskRunID: UUID, inputs: FlowValues, resuming: Bool)
  /// Run one attempt's body; answer with ``FlowRunEvent/attemptFinished(_:attempt:_:at:)``.
  case startAttempt(AttemptStart)
  /// Persist a successful output; answer with ``FlowRunEvent/resultPersisted(_:failure:at:)``.
  case persistResult(TaskRunKey, taskRunID: UUID, inputs: FlowValues, output: FlowValue)
  /// Fire ``FlowRunEvent/timerFired(_:at:)`` at `due`.
  case setTimer(TaskRunKey, due: Date)
  /// Test the branch conditions of a task built under `when(...)` against their values;
  /// answer with ``FlowRunEvent/conditionsChecked(node:unmet:)``. Version 2.
  case checkConditions(node: Int, values: FlowValues)
  /// Append a record to the run's log.
  case log(FlowRunLogEntry)
  /// The run is over, in this state.
  case finished(RecordedRunState)
}

/// One attempt to start.
public struct AttemptStart: Codable, Sendable {
  /// The task run.
  public var key: TaskRunKey
  /// The task run's ID.
  public var taskRunID: UUID
  /// The attempt number, from 1.
  public var attempt: Int
  /// The inputs, in order.
  public var inputs: FlowValues
  /// When the attempt times out (nil: never).
  public var deadline: Date?
  /// The loop iteration after the first, with the previous iteration's payload (nil in the
  /// first iteration; absent from version-1 histories).
  public var loop: LoopIteration? = nil
}

/// A loop iteration after the first (see `LoopAgain`).
public struct LoopIteration: Codable, Sendable {
  /// The iteration's number, from 2.
  public var count: Int
  /// What the previous iteration passed to `LoopAgain`.
  public var payload: FlowValue
}

/// A log record the machine asks for.
public enum FlowRunLogEntry: Codable, Sendable {
  /// The flow run started.
  case flowStarted(at: Date)
  /// An attempt started.
  case taskStarted(TaskRunKey, taskRunID: UUID, attempt: Int, at: Date)
  /// An attempt failed and will be retried.
  case taskRetrying(TaskRunKey, taskRunID: UUID, attempt: Int, reason: String, at: Date)
  /// A task run's body asked for another loop iteration, which starts now. Version 2.
  case taskLooped(TaskRunKey, taskRunID: UUID, iteration: Int, at: Date)
  /// A task run reached its final (or held) state.
  case taskFinished(
    TaskRunKey, taskRunID: UUID, attempts: Int, state: RecordedKind, reason: String?,
    at: Date)
}

/// A state kind, recorded by its name.
public struct RecordedKind: Codable, Sendable, CustomStringConvertible {
  /// The kind.
  public let kind: RunState.Kind

  /// Wraps `kind`.
  public init(_ kind: RunState.Kind) { self.kind = kind }

  /// The kind's name.
  public var description: String { kind.name }

  /// Records the name.
  public func encode(to encoder: any Encoder) throws {
    var container = encoder.singleValueContainer()
    try container.encode(kind.name)
  }

  /// The kind with the recorded name.
  public init(from decoder: any Decoder) throws {
    let container = try decoder.singleValueContainer()
    let name = try container.decode(String.self)
    guard let kind = RunState.Kind.all.first(where: { $0.name == name }) else {
      throw DecodingError.dataCorruptedError(
        in: container, debugDescription: "unknown state kind '\(name)'")
    }
    self.kind = kind
  }
}

/// A value that passes through the machine: kept as is in a live run, recorded by its type's
/// name (values are not required to be `Codable`).
public struct FlowValue: Codable, Sendable, CustomStringConvertible {
  /// The value.
  public let value: any Sendable

  /// Wraps `value`.
  public init(_ value: any Sendable) { self.value = value }

  /// The value's type name.
  public var description: String { FlowValues.typeName(of: value) }

  /// Records the type's name.
  public func encode(to encoder: any Encoder) throws {
    var container = encoder.singleValueContainer()
    try container.encode(description)
  }

  /// A ``RecordedValue`` standing for the recorded value.
  public init(from decoder: any Decoder) throws {
    value = RecordedValue(typeName: try decoder.singleValueContainer().decode(String.self))
  }
}

/// Values in order (a task's inputs, a mapped input's elements), recorded by their types' names.
public struct FlowValues: Codable, Sendable {
  /// The values.
  public var values: [any Sendable]

  /// Wraps `values`.
  public init(_ values: [any Sendable]) { self.values = values }

  /// Records the types' names.
  public func encode(to encoder: any Encoder) throws {
    var container = encoder.singleValueContainer()
    try container.encode(values.map(Self.typeName(of:)))
  }

  /// ``RecordedValue``s standing for the recorded values.
  public init(from decoder: any Decoder) throws {
    values = try decoder.singleValueContainer().decode([String].self).map {
      RecordedValue(typeName: $0)
    }
  }

  static func typeName(of value: any Sendable) -> String {
    if let recorded = value as? RecordedValue { return recorded.typeName }
    return String(reflecting: type(of: value))
  }
}

/// A value read back from a recorded history: only its type's name is known.
public struct RecordedValue: Sendable, CustomStringConvertible {
  /// The original value's type name.
  public let typeName: String
  /// `<recorded TypeName>`.
  public var description: String { "<recorded \(typeName)>" }
}

/// An error as it passes through the machine: kept as is in a live run, recorded by its
/// description.
public struct RecordedError: Error, Codable, Sendable, CustomStringConvertible {
  /// The original error (a ``RecordedError`` itself when read back from a history).
  public let error: any Error
  /// The error's description.
  public let description: String

  /// Wraps `error`.
  public init(_ error: any Error) {
    if let recorded = error as? RecordedError {
      self = recorded
    } else {
      self.error = error
      description = "\(error)"
    }
  }

  private init(description: String) {
    self.description = description
    error = RecordedDescription(description: description)
  }

  /// Records the description.
  public func encode(to encoder: any Encoder) throws {
    var container = encoder.singleValueContainer()
    try container.encode(description)
  }

  /// An error with the recorded description.
  public init(from decoder: any Decoder) throws {
    self.init(description: try decoder.singleValueContainer().decode(String.self))
  }
}

/// The stand-in for an error read back from a history.
struct RecordedDescription: Error, CustomStringConvertible {
  let description: String
}

/// A run state as it passes through the machine; recorded with its kind, message, scheduled
/// time, and its result's type and error's description.
public struct RecordedRunState: Codable, Sendable, CustomStringConvertible {
  /// The state.
  public var state: RunState

  /// Wraps `state`.
  public init(_ state: RunState) { self.state = state }

  /// The state's description.
  public var description: String { state.description }

  private enum CodingKeys: String, CodingKey {
    case kind, message, scheduledAt, result, error
  }

  /// Records the kind's name, message, scheduled time, result type and error description.
  public func encode(to encoder: any Encoder) throws {
    var container = encoder.container(keyedBy: CodingKeys.self)
    try container.encode(state.kind.name, forKey: .kind)
    try container.encodeIfPresent(state.message, forKey: .message)
    try container.encodeIfPresent(state.scheduledAt, forKey: .scheduledAt)
    try container.encodeIfPresent(state.result.map(FlowValue.init), forKey: .result)
    try container.encodeIfPresent(state.error.map(RecordedError.init), forKey: .error)
  }

  /// A state with stand-ins for the recorded result and error.
  public init(from decoder: any Decoder) throws {
    let container = try decoder.container(keyedBy: CodingKeys.self)
    let name = try container.decode(String.self, forKey: .kind)
    guard let kind = RunState.Kind.all.first(where: { $0.name == name }) else {
      throw DecodingError.dataCorruptedError(
        forKey: .kind, in: container, debugDescription: "unknown state kind '\(name)'")
    }
    state = RunState(
      kind, message: try container.decodeIfPresent(String.self, forKey: .message),
      error: try container.decodeIfPresent(RecordedError.self, forKey: .error),
      result: try container.decodeIfPresent(FlowValue.self, forKey: .result)?.value,
      scheduledAt: try container.decodeIfPresent(Date.self, forKey: .scheduledAt))
  }
}

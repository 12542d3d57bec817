import FlowClusterProtocol
import FlowCore
import FlowExecutors
import Foundation
import Logging
import Synchronization

/// The tasks a worker can run, looked up by flow name and task slug; built once at start-up from
/// the flows the executable defines (DESIGN rule 3). Nothing else ever runs: a task the
/// registry does not know is reported back as an error, and no code comes from the network.
public struct ClusterTaskRegistry: Sendable {
  /// A registered task: its configuration and its name (many slugs may share a name).
  struct Registered: Sendable {
    let config: TaskConfig
    let name: String
  }

  /// By flow name, then task slug (two lookups of short strings, no key built per attempt).
  private let tasks: [String: [String: Registered]]
  private let parameterSpecs: [String: [String: ParameterSpec]]
  /// The registered flows' names.
  public let flowNames: [String]

  /// Indexes every task node of `flows` (by flow name and task slug).
  public init(flows: [Flow]) {
    var tasks: [String: [String: Registered]] = [:]
    var specs: [String: [String: ParameterSpec]] = [:]
    for flow in flows {
      for node in flow.graph.nodes {
        guard let config = node.task else { continue }
        tasks[flow.name, default: [:]][node.slug] = Registered(config: config, name: node.name)
      }
      specs[flow.name] = Dictionary(flow.parameters.map { ($0.name, $0) }) { first, _ in first }
    }
    self.tasks = tasks
    self.parameterSpecs = specs
    self.flowNames = flows.map(\.name)
  }

  /// Decodes a run context's parameter values (JSON) with `flow`'s declared types; returns the
  /// names of values that do not decode (the worker's build declares the parameter differently)
  /// apart, so that the caller can say so.
  public func parameters(flow: String, json: [String: String]) -> (
    values: [String: any Sendable], undecodable: [String]
  ) {
    guard let specs = parameterSpecs[flow] else { return ([:], json.keys.sorted()) }
    var values: [String: any Sendable] = [:]
    var undecodable: [String] = []
    for (name, text) in json {
      if let spec = specs[name], let value = try? spec.decode(json: Data(text.utf8)) {
        values[name] = value
      } else {
        undecodable.append(name)
      }
    }
    return (values, undecodable.sorted())
  }

  /// The task `task` (a slug) of flow `flow`, if registered.
  func registered(flow: String, task: String) -> Registered? { tasks[flow]?[task] }

  /// The tasks of flow `flow` by slug, if it is registered.
  func tasks(inFlow flow: String) -> [String: Registered]? { tasks[flow] }

  /// The name of task `task` (a slug) in `flow`, if registered: attempts of one name are
  /// expected to run alike.
  public func name(flow: String, task: String) -> String? {
    registered(flow: flow, task: task)?.name
  }

  /// The timeout of `task` in `flow`, when it has one.
  public func timeout(flow: String, task: String) -> Duration? {
    registered(flow: flow, task: task)?.config.options.timeout
  }

  /// True when the registry has `task` in `flow`.
  public func contains(flow: String, task: String) -> Bool {
    registered(flow: flow, task: task) != nil
  }

  /// Runs one assignment: decodes its inputs, calls the body with a task context whose log
  /// records are collected, and encodes the output. Never throws: every failure is a result.
  public func execute(
    _ assignment: ClusterAssignment, worker: String, environment: RunEnvironment,
    run: ClusterRunContext? = nil, parameters: [String: any Sendable] = [:]
  ) async -> ClusterTaskResult {
    await execute(
      assignment, registered(flow: assignment.flow, task: assignment.task), worker: worker,
      environment: environment, run: run, parameters: parameters)
  }

  /// Runs one assignment whose task was looked up already (nil: not registered).
  func execute(
    _ assignment: ClusterAssignment, _ registered: Registered?, worker: String,
    environment: RunEnvironment, run: ClusterRunContext?, parameters: [String: any Sendable]
  ) async -> ClusterTaskResult {
    func failure(_ code: RemoteTaskError.Code, _ message: String) -> ClusterTaskResult {
      ClusterTaskResult(
        taskID: assignment.taskID, outcome: .failure(code: code.name, message: message))
    }
    guard let registered else {
      let known = flowNames.isEmpty ? "none" : flowNames.map { "'\($0)'" }.joined(separator: ", ")
      return failure(
        .unknownTask,
        "worker '\(worker)' has no task '\(assignment.task)' in flow '\(assignment.flow)' "
          + "(its flows: \(known)); run the same build of the executable on every worker")
    }
    let config = registered.config
    let body = config.body
    guard assignment.inputs.count == body.inputCount else {
      return failure(
        .decodeFailed,
        "task '\(assignment.task)' takes \(body.inputCount) inputs, the assignment has "
          + "\(assignment.inputs.count); run the same build on the scheduler and the workers")
    }
    var inputs: [any Sendable] = []
    inputs.reserveCapacity(assignment.inputs.count)
    for (index, bytes) in assignment.inputs.enumerated() {
      guard let serializer = body.inputSerializers[index] else {
        return failure(.notCodable, "input \(index + 1) of '\(assignment.task)' is not Codable")
      }
      do {
        inputs.append(
          try ClusterValueCoding.decode(
            bytes, serializer, at: "input \(index + 1) of '\(assignment.task)'"))
      } catch {
        return failure(.decodeFailed, "\(error)")
      }
    }
    let sink = CollectingLogSink(environment.clock)
    let context = TaskRunContext(
      flowName: assignment.flow, flowRunID: run?.flowRunID ?? environment.ids.next(),
      taskName: registered.name, taskSlug: assignment.task,
      taskRunID: assignment.taskRunID ?? environment.ids.next(),
      mapIndex: assignment.mapIndex >= 0 ? assignment.mapIndex : nil,
      attempt: assignment.attempt, parameters: parameters, environment: environment,
      logSink: sink,
      scheduledStartTime: run?.scheduledStartTime.map { Date(timeIntervalSince1970: $0) },
      loopCount: max(1, assignment.loopCount),
      loopPayload: assignment.loopPayload.isEmpty
        ? nil : LoopPayloadJSON(assignment.loopPayload))
    let outcome: ClusterTaskOutcome
    let started = environment.clock.now()
    // How long the body ran on the worker's clock (the scheduler batches short tasks deeper).
    func elapsed() -> UInt64 {
      // At least 1: 0 means "not measured" on the wire.
      let seconds = environment.clock.now().timeIntervalSince(started)
      return seconds > 0 ? max(1, UInt64(min(seconds * 1e9, 1e18))) : 1
    }
    do {
      let value = try await TaskRunContext.$current.withValue(context) {
        try await Self.call(
          body, inputs, logStdout: config.options.logStdout, sink: sink,
          attempt: assignment.attempt, clock: environment.clock)
      }
      if let serializer = body.serializer {
        do {
          outcome = .success(try ClusterValueCoding.encode(value, serializer))
        } catch {
          outcome = .failure(code: RemoteTaskError.Code.notCodable.name, message: "\(error)")
        }
      } else {
        outcome = .failure(
          code: RemoteTaskError.Code.notCodable.name,
          message: "the output of '\(assignment.task)' (\(body.outputType)) is not Codable")
      }
    } catch let skip as SkipTask {
      outcome = .failure(code: ClusterRemoteCodes.skip, message: skip.reason)
    } catch let loop as any LoopRequest {
      if let payload = LoopPayloadJSON(encoding: loop.loopPayload) {
        // The JSON is UTF-8 text: it travels as the message of a `loop` outcome.
        outcome = .failure(
          code: ClusterRemoteCodes.loop, message: String(decoding: payload.bytes, as: UTF8.self))
      } else {
        outcome = .failure(
          code: RemoteTaskError.Code.notCodable.name,
          message:
            "task '\(assignment.task)' threw LoopAgain with a \(type(of: loop.loopPayload)), "
            + "which is not Codable: a loop payload that crosses to the scheduler must be "
            + "Codable & Sendable; make the type Codable, or run this flow with .sequential or "
            + ".concurrent")
      }
    } catch {
      return ClusterTaskResult(
        taskID: assignment.taskID,
        outcome: .failure(
          code: RemoteTaskError.Code.taskFailed.name, message: String(describing: error)),
        logs: sink.records, error: ClusterErrorTypes.info(for: error),
        runNanoseconds: elapsed())
    }
    return ClusterTaskResult(
      taskID: assignment.taskID, outcome: outcome, logs: sink.records,
      runNanoseconds: elapsed())
  }
}

/// Failure codes of ``ClusterTaskOutcome/failure(code:message:)`` beyond ``RemoteTaskError/Code``.
public enum ClusterRemoteCodes {
  /// The body threw `SkipTask`: the engine makes the run Skipped.
  public static let skip = "skip"
  /// The body threw `LoopAgain`: the message is the payload's JSON, and the engine runs the
  /// next iteration.
  public static let loop = "loop"
}

/// Collects what task bodies log on a worker, to ship with the result.
final class CollectingLogSink: TaskLogSink {
  private let storage = Mutex<[ClusterLogRecord]>([])
  private let clock: any WallClock

  init(_ clock: any WallClock) { self.clock = clock }

  var records: [ClusterLogRecord] { storage.withLock { $0 } }

  func logHandler(for context: TaskRunContext) -> any LogHandler {
    Handler(sink: self, base: [ClusterLogKeys.taskAttempt: .string("\(context.attempt)")])
  }

  func append(_ record: ClusterLogRecord) { storage.withLock { $0.append(record) } }

  struct Handler: LogHandler {
    let sink: CollectingLogSink
    var metadata: Logger.Metadata
    var logLevel: Logger.Level = .trace

    init(sink: CollectingLogSink, base: Logger.Metadata) {
      self.sink = sink
      self.metadata = base
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
      get { metadata[key] }
      set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
      var merged = metadata
      if let extra = event.metadata { merged.merge(extra) { $1 } }
      sink.append(
        ClusterLogRecord(
          time: sink.clock.now().timeIntervalSince1970, level: event.level.rawValue,
          message: "\(event.message)", metadata: merged.mapValues { "\($0)" }))
    }
  }
}

/// Turns an engine call into an assignment and a worker's result back into a value (used by
/// every transport: SwiftNIO and the simulator).
public enum ClusterRemoteCoding {
  /// Encodes `call`'s inputs into an assignment; throws a ``RemoteTaskError`` (`notCodable`)
  /// for an input or output type that cannot cross a process boundary.
  public static func assignment(_ call: RemoteTaskCall, id: ClusterTaskID) throws
    -> ClusterAssignment
  {
    let body = call.config.body
    var inputs: [[UInt8]] = []
    inputs.reserveCapacity(call.inputs.count)
    for (index, value) in call.inputs.enumerated() {
      guard index < body.inputSerializers.count, let serializer = body.inputSerializers[index]
      else {
        throw RemoteTaskError(
          code: .notCodable,
          message:
            "input \(index + 1) of task '\(call.taskSlug)' is a \(type(of: value)), which is not "
            + "Codable: values that cross to a cluster worker must be Codable & Sendable; make "
            + "the type Codable, or run this flow with .sequential or .concurrent")
      }
      do {
        inputs.append(try ClusterValueCoding.encode(value, serializer))
      } catch {
        throw RemoteTaskError(code: .notCodable, message: "\(error)")
      }
    }
    guard body.serializer != nil else {
      throw RemoteTaskError(
        code: .notCodable,
        message:
          "the output of task '\(call.taskSlug)' is a \(body.outputType), which is not Codable: "
          + "values that cross from a cluster worker must be Codable & Sendable; make the type "
          + "Codable, or run this flow with .sequential or .concurrent")
    }
    var loopPayload: [UInt8] = []
    if let payload = call.loopPayload {
      if let encoded = payload as? LoopPayloadJSON {
        loopPayload = encoded.bytes
      } else if let encoded = LoopPayloadJSON(encoding: payload) {
        loopPayload = encoded.bytes
      } else {
        throw RemoteTaskError(
          code: .notCodable,
          message:
            "the loop payload of task '\(call.taskSlug)' is a \(type(of: payload)), which is "
            + "not Codable: a payload that crosses to a cluster worker must be Codable & "
            + "Sendable; make the type Codable, or run this flow with .sequential or .concurrent")
      }
    }
    return ClusterAssignment(
      taskID: id, flow: call.flowName, task: call.taskSlug, attempt: call.attempt,
      mapIndex: call.mapIndex ?? -1, inputs: inputs, loopCount: call.loopCount,
      loopPayload: loopPayload)
  }

  /// Adds the result's log records and its attempt report to the run's log, then decodes the
  /// output or throws the remote error (`SkipTask` for a skip).
  public static func value(_ result: ClusterTaskResult, _ call: RemoteTaskCall, worker: String)
    throws -> any Sendable
  {
    for record in result.logs {
      var metadata = record.metadata
      metadata[ClusterLogKeys.worker] = worker
      call.recordLog(
        level: Logger.Level(rawValue: record.level) ?? .info, message: record.message,
        time: Date(timeIntervalSince1970: record.time), metadata: metadata)
    }
    if var report = result.report {
      report.worker = worker
      call.recordLog(.rendered(AttemptReportRecord(report: report)), time: report.ended)
    }
    switch result.outcome {
    case .success(let bytes):
      let serializer = call.config.body.serializer!
      do {
        return try ClusterValueCoding.decode(
          bytes, serializer, at: "the output of '\(call.taskSlug)'")
      } catch {
        throw RemoteTaskError(code: .decodeFailed, message: "\(error)", worker: worker)
      }
    case .failure(let code, let message):
      if code == ClusterRemoteCodes.skip { throw SkipTask(message) }
      if code == ClusterRemoteCodes.loop {
        throw RemoteLoopRequest(LoopPayloadJSON(Array(message.utf8)))
      }
      if let info = result.error {
        if let original = ClusterErrorTypes.decode(info) { throw original }
        throw ClusterTaskBodyError(
          originalTypeName: info.typeName, message: message, worker: worker)
      }
      throw RemoteTaskError(code: .init(name: code), message: message, worker: worker)
    }
  }
}

import FlowCore
import Foundation

/// A flow run as the API returns it.
struct FlowRunJSON: Encodable {
  var id: String
  var flowName: String
  var flowVersion: String
  var parameters: [String: JSONValue]
  var executor: String
  var host: String
  var processID: Int
  var scheduledAt: Date
  var startedAt: Date
  var endedAt: Date?
  var durationSeconds: Double?
  var state: String
  var message: String?
  var heartbeatAt: Date

  init(_ run: FlowRunRecord) {
    id = run.id.uuidString.lowercased()
    flowName = run.flowName
    flowVersion = run.flowVersion
    parameters = run.parameters.mapValues(JSONValue.parse)
    executor = run.executor
    host = run.host
    processID = run.processID
    scheduledAt = run.scheduledAt
    startedAt = run.startedAt
    endedAt = run.endedAt
    durationSeconds = run.endedAt.map { $0.timeIntervalSince(run.startedAt) }
    state = run.state
    message = run.message
    heartbeatAt = run.heartbeatAt
  }
}

/// A task run as the API returns it.
struct TaskRunJSON: Encodable {
  var slug: String
  var mapIndex: Int
  var label: String
  var taskRunID: String?
  var state: String
  var message: String?
  var attempts: Int
  var crashedAttempts: Int
  var startedAt: Date?
  var endedAt: Date?
  var durationSeconds: Double?
  var resultLocation: String?

  init(_ run: TaskRunRecord) {
    slug = run.slug
    mapIndex = run.mapIndex
    label = run.label
    taskRunID = run.taskRunID?.uuidString.lowercased()
    state = run.state
    message = run.message
    attempts = run.attempts
    crashedAttempts = run.crashedAttempts
    startedAt = run.startedAt
    endedAt = run.endedAt
    durationSeconds = run.duration
    resultLocation = run.resultLocation
  }
}

/// A transition as the API returns it.
struct TransitionJSON: Encodable {
  var sequence: Int64
  var slug: String?
  var mapIndex: Int
  var from: String
  var to: String
  var time: Date
  var message: String?

  init(_ transition: TransitionRecord) {
    sequence = transition.sequence
    slug = transition.slug
    mapIndex = transition.mapIndex
    from = transition.from
    to = transition.to
    time = transition.time
    message = transition.message
  }
}

/// A log record as the API returns it.
struct LogJSON: Encodable {
  var sequence: Int64
  var time: Date
  var level: String
  var message: String
  var metadata: [String: String]

  init(_ log: StoredLogRecord) {
    sequence = log.sequence
    time = log.time
    level = log.level.description
    message = log.message
    metadata = log.metadata
  }
}

/// A flow version as the API returns it.
struct FlowJSON: Encodable {
  var name: String
  var version: String
  var parameterSchema: JSONValue

  init(_ flow: FlowSummary) {
    name = flow.name
    version = flow.version
    parameterSchema = JSONValue.parse(flow.parameterSchemaJSON)
  }
}

/// The run list's cursor as the API passes it: `MICROSECONDS_ID` of the last run of a page.
enum CursorText {
  static func text(_ run: FlowRunRecord) -> String {
    "\(Int64((run.startedAt.timeIntervalSince1970 * 1_000_000).rounded()))_"
      + run.id.uuidString.lowercased()
  }

  static func parse(_ text: String) throws(APIError) -> FlowRunCursor {
    let parts = text.split(separator: "_", maxSplits: 1)
    guard parts.count == 2, let micros = Int64(parts[0]),
      let id = UUID(uuidString: String(parts[1]))
    else {
      throw APIError.badRequest(
        "the cursor '\(text)' is malformed; pass the `next` value of the previous page as it is")
    }
    return FlowRunCursor(
      startedAt: Date(timeIntervalSince1970: Double(micros) / 1_000_000), id: id)
  }
}

import FlowCore
import FlowState
import Foundation
import HTTPTypes
import Hummingbird

/// The JSON API under `/api` (documented by ``OpenAPIDocument``).
struct APIRoutes: Sendable {
  let server: FlowServer
  var store: any RunStoreBrowsing { server.store }

  func register(on router: Router<BasicRequestContext>) {
    router.get("/api/openapi.json") { _, _ in
      ServerJSON.response(OpenAPIDocument.json)
    }
    router.get("/healthz") { _, _ in ServerJSON.response(#"{"status":"ok"}"#) }
    router.get("/api/flows") { _, _ in try await flows() }
    router.get("/api/flow-runs") { request, _ in try await flowRuns(request) }
    router.get("/api/flow-runs/stream") { request, _ in
      try RunListStream(server: server, filter: RunListFilter(request, server: server)).response()
    }
    router.get("/api/flow-runs/:id") { _, context in
      let run = try await flowRun(context)
      return ServerJSON.response(FlowRunJSON(run))
    }
    router.get("/api/flow-runs/:id/task-runs") { _, context in
      let run = try await flowRun(context)
      let tasks = try await store.taskRuns(flowRunID: run.id)
      return ServerJSON.response(["taskRuns": tasks.map(TaskRunJSON.init)])
    }
    router.get("/api/flow-runs/:id/transitions") { request, context in
      try await transitions(request, context)
    }
    router.get("/api/flow-runs/:id/logs") { request, context in try await logs(request, context) }
    router.get("/api/flow-runs/:id/stream") { request, context in
      let run = try await flowRun(context)
      let query = request.uri.queryParameters
      let resume = RunStream.Position(
        lastEventID: request.headers[HTTPField.Name("Last-Event-ID")!])
      let position = RunStream.Position(
        transitions: try Self.integer(query.get("transitions_after"), "transitions_after")
          ?? resume?.transitions ?? 0,
        logs: try Self.integer(query.get("logs_after"), "logs_after") ?? resume?.logs ?? 0)
      return RunStream(server: server, run: run, position: position).response()
    }
  }

  /// `/api/flows`.
  func flows() async throws -> Response {
    struct Body: Encodable { var flows: [FlowJSON] }
    return ServerJSON.response(Body(flows: try await store.flowSummaries().map(FlowJSON.init)))
  }

  /// `/api/flow-runs`: one page, newest first, and the cursor of the next.
  func flowRuns(_ request: Request) async throws -> Response {
    struct Body: Encodable {
      var flowRuns: [FlowRunJSON]
      var next: String?
    }
    let filter = try RunListFilter(request, server: server)
    let page = try await store.flowRuns(filter.query(staleBefore: server.staleBefore))
    let next = page.count == filter.limit ? page.last.map(CursorText.text) : nil
    return ServerJSON.response(Body(flowRuns: page.map(FlowRunJSON.init), next: next))
  }

  /// The run named by the `:id` path parameter, or a 400/404 naming the problem.
  func flowRun(_ context: BasicRequestContext) async throws -> FlowRunRecord {
    let text = context.parameters.get("id") ?? ""
    return try await Self.flowRun(id: text, store: store, staleBefore: server.staleBefore)
  }

  static func flowRun(id text: String, store: any RunStoreBrowsing, staleBefore: Date)
    async throws -> FlowRunRecord
  {
    guard let id = UUID(uuidString: text) else {
      throw APIError.badRequest(
        "'\(text)' is not a flow run ID; a run ID is a UUID such as "
          + "3f2a8c1e-0b7d-4e55-9a41-7c2d9e6f1a20 (see /api/flow-runs)")
    }
    guard let run = try await store.flowRun(id: id) else {
      throw APIError.notFound(
        "no flow run has the ID \(text.lowercased()); list the runs at /api/flow-runs")
    }
    return RunStoreReading.reported(run, staleBefore: staleBefore)
  }

  /// `/api/flow-runs/{id}/transitions?after=N&limit=M`.
  func transitions(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
    struct Body: Encodable {
      var transitions: [TransitionJSON]
      var next: Int64?
    }
    let run = try await flowRun(context)
    let query = request.uri.queryParameters
    let after = try Self.integer(query.get("after"), "after") ?? 0
    let limit = try Self.limit(query.get("limit"), server: server)
    let page = try await store.transitions(flowRunID: run.id, after: after, limit: limit)
    let next = page.count == limit ? page.last?.sequence : nil
    return ServerJSON.response(Body(transitions: page.map(TransitionJSON.init), next: next))
  }

  /// `/api/flow-runs/{id}/logs?after=N&level=L&limit=M`.
  func logs(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
    struct Body: Encodable {
      var logs: [LogJSON]
      var next: Int64?
    }
    let run = try await flowRun(context)
    let query = request.uri.queryParameters
    let after = try Self.integer(query.get("after"), "after") ?? 0
    let limit = try Self.limit(query.get("limit"), server: server)
    let level = try Self.level(query.get("level"))
    let page = try await store.logs(
      flowRunID: run.id, after: after, minimumLevel: level, limit: limit)
    let next = page.count == limit ? page.last?.sequence : nil
    return ServerJSON.response(Body(logs: page.map(LogJSON.init), next: next))
  }

  static func integer(_ text: String?, _ name: String) throws(APIError) -> Int64? {
    guard let text, !text.isEmpty else { return nil }
    guard let value = Int64(text), value >= 0 else {
      throw APIError.badRequest("`\(name)` must be a whole number ≥ 0, not '\(text)'")
    }
    return value
  }

  static func limit(_ text: String?, server: FlowServer) throws(APIError) -> Int {
    let maximum = server.configuration.maxPageSize
    guard let text, !text.isEmpty else { return min(100, maximum) }
    guard let value = Int(text), (1...maximum).contains(value) else {
      throw APIError.badRequest(
        "`limit` must be a whole number from 1 to \(maximum), not '\(text)'")
    }
    return value
  }

  static func level(_ text: String?) throws(APIError) -> StoredLogLevel {
    guard let text, !text.isEmpty else { return .trace }
    guard let level = StoredLogLevel(name: text) else {
      throw APIError.badRequest(
        "`level` '\(text)' is not a log level; use one of "
          + StoredLogLevel.names.joined(separator: ", "))
    }
    return level
  }
}

/// The run list's filters and page, from a request's query (`flow`, `state`, `since`,
/// `limit`, `after`), shared by the API and the page.
struct RunListFilter: Sendable {
  var flowName: String?
  var state: String?
  var since: Date?
  var limit: Int
  var after: FlowRunCursor?
  var afterText: String?

  /// The state names a filter accepts.
  static let states = RunState.Kind.all.map(\.name) + ["Late"]

  init(flowName: String? = nil, state: String? = nil, limit: Int = 50) {
    self.flowName = flowName
    self.state = state
    self.limit = limit
  }

  init(_ request: Request, server: FlowServer) throws(APIError) {
    let query = request.uri.queryParameters
    flowName = query.get("flow").flatMap { $0.isEmpty ? nil : $0 }
    if let state = query.get("state"), !state.isEmpty {
      guard Self.states.contains(state) else {
        throw APIError.badRequest(
          "`state` '\(state)' is not a state; use one of " + Self.states.joined(separator: ", "))
      }
      self.state = state
    }
    if let text = query.get("since"), !text.isEmpty {
      guard let date = try? Date(text, strategy: .iso8601) else {
        throw APIError.badRequest(
          "`since` '\(text)' is not an ISO 8601 instant; write e.g. 2026-12-03T07:00:00Z")
      }
      since = date
    }
    limit = try APIRoutes.limit(query.get("limit"), server: server)
    if query.get("limit") == nil { limit = min(50, limit) }
    if let text = query.get("after"), !text.isEmpty {
      after = try CursorText.parse(text)
      afterText = text
    }
  }

  func query(staleBefore: Date) -> FlowRunQuery {
    FlowRunQuery(
      flowName: flowName, state: state, since: since, limit: limit, after: after,
      staleBefore: staleBefore)
  }
}

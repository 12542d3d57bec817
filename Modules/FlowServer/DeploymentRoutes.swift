import FlowCore
import FlowOrchestration
import Foundation
import HTTPTypes
import Hummingbird

/// Deployments: the API (list, show, create a run with validated parameters, cancel a run,
/// pause and resume a schedule, delete a deployment) and the pages (the list with Quick Run, a
/// deployment with "Run with custom parameters", its schedule's Pause/Resume and Delete). A
/// run created here is only queued (Scheduled): an agent picks it up.
struct DeploymentRoutes: Sendable {
  let server: FlowServer

  func register(on router: Router<BasicRequestContext>) {
    router.get("/api/projects") { _, _ in
      struct Body: Encodable { var projects: [ProjectRecord] }
      return ServerJSON.response(Body(projects: try await store().projects()))
    }
    router.get("/api/deployments") { request, _ in
      struct Body: Encodable { var deployments: [DeploymentJSON] }
      let project = request.uri.queryParameters.get("project").flatMap { $0.isEmpty ? nil : $0 }
      let list = try await store().deployments(project: project)
      return ServerJSON.response(Body(deployments: list.map(DeploymentJSON.init)))
    }
    router.get("/api/deployments/:id") { _, context in
      ServerJSON.response(DeploymentJSON(try await deployment(context)))
    }
    router.delete("/api/deployments/:id") { _, context in
      struct Body: Encodable {
        var deployment: DeploymentJSON
        var removedRuns: [String]
        var cancelledRuns: [String]
      }
      let deletion = try await store().deleteDeployment(
        id: try await deployment(context).id, now: server.clock.now())
      return ServerJSON.response(
        Body(
          deployment: DeploymentJSON(deletion.deployment),
          removedRuns: deletion.removedRuns.map { $0.uuidString.lowercased() },
          cancelledRuns: deletion.cancelledRuns.map { $0.uuidString.lowercased() }))
    }
    router.post("/deployments/:id/delete") { request, context in
      let form = try await formBody(request)
      try checkCSRF(request, form)
      let deployment = try await deployment(context)
      guard form["confirm"] == deployment.qualifiedName else {
        throw APIError(
          status: .unprocessableContent, code: "confirmation",
          message: "to delete the deployment, type its name \(deployment.qualifiedName) into the "
            + "confirmation field; nothing was deleted")
      }
      _ = try await store().deleteDeployment(id: deployment.id, now: server.clock.now())
      return Response(status: .seeOther, headers: [.location: "/deployments"])
    }
    router.post("/api/deployments/:id/runs") { request, context in
      try await createRunFromAPI(request, context)
    }
    for (action, paused) in [("pause", true), ("resume", false)] {
      router.post("/api/deployments/:id/\(action)") { _, context in
        struct Body: Encodable {
          var deployment: DeploymentJSON
          var removedRuns: [String]
        }
        let change = try await setSchedulePaused(paused, context)
        return ServerJSON.response(
          Body(
            deployment: DeploymentJSON(change.deployment),
            removedRuns: change.removedRuns.map { $0.uuidString.lowercased() }))
      }
      router.post("/deployments/:id/\(action)") { request, context in
        try checkCSRF(request, try await formBody(request))
        let change = try await setSchedulePaused(paused, context)
        return Response(
          status: .seeOther,
          headers: [.location: "/deployments/\(change.deployment.id.uuidString.lowercased())"])
      }
    }
    router.post("/api/flow-runs/:id/cancel") { _, context in
      let run = try await APIRoutes(server: server).flowRun(context)
      let cancelled = try await store().requestCancellation(runID: run.id, now: server.clock.now())
      return ServerJSON.response(DeploymentRunJSON(cancelled))
    }
    router.get("/deployments") { request, _ in try await deploymentList(request) }
    router.get("/deployments/:id") { request, context in
      let deployment = try await deployment(context)
      let (token, cookie) = csrfToken(request)
      return HTMLResponse.page(
        try await deploymentPage(deployment, csrf: token, values: [:], errors: [:]),
        headers: cookie)
    }
    router.post("/deployments/:id/runs") { request, context in
      try await createRunFromForm(request, context)
    }
    router.post("/runs/:id/cancel") { request, context in
      let form = try await formBody(request)
      try checkCSRF(request, form)
      let run = try await APIRoutes(server: server).flowRun(context)
      _ = try await store().requestCancellation(runID: run.id, now: server.clock.now())
      return Response(
        status: .seeOther, headers: [.location: "/runs/\(run.id.uuidString.lowercased())"])
    }
  }

  func store() throws -> any DeploymentStore {
    guard let store = server.deployments else {
      throw APIError(
        status: .notFound, code: "noDeployments",
        message: "this server's store keeps no deployments")
    }
    return store
  }

  func deployment(_ context: BasicRequestContext) async throws -> DeploymentRecord {
    let text = context.parameters.get("id") ?? ""
    guard let id = UUID(uuidString: text) else {
      throw APIError.badRequest("'\(text)' is not a deployment ID (a UUID; see /api/deployments)")
    }
    guard let deployment = try await store().deployment(id: id) else {
      throw APIError.notFound(
        "no deployment has the ID \(text.lowercased()); list them at /api/deployments")
    }
    return deployment
  }

  /// Pauses or resumes the schedule of the deployment the path names.
  func setSchedulePaused(_ paused: Bool, _ context: BasicRequestContext) async throws
    -> DeploymentScheduleChange
  {
    let deployment = try await deployment(context)
    return try await store().setSchedulePaused(
      paused, deploymentID: deployment.id, now: server.clock.now())
  }

  // MARK: Creating runs

  /// The parameters' problems by name, or the run.
  enum Creation {
    case created(DeploymentRunRecord)
    case invalid([String: String])
  }

  /// Validates `parameters` (JSON text by name) against the deployment's schema, then queues a
  /// run; one message per invalid field.
  func createRun(
    _ deployment: DeploymentRecord, parameters: [String: String], idempotencyKey: String?
  ) async throws -> Creation {
    let schema: ParameterSchema
    do {
      schema = try ParameterSchema(json: deployment.parameterSchemaJSON)
    } catch {
      throw APIError(
        status: .unprocessableContent, code: "badSchema",
        message: "the deployment's parameter schema cannot be read: \(error.message)")
    }
    var merged = deployment.defaultParameters
    for (name, value) in parameters { merged[name] = value }
    let problems = schema.problems(in: merged)
    if !problems.isEmpty {
      var fields: [String: String] = [:]
      for problem in problems { fields[problem.parameter] = Self.message(problem) }
      return .invalid(fields)
    }
    let now = server.clock.now()
    let runID = server.ids.next()
    let request = DeploymentRunRequest(
      runID: runID, deploymentID: deployment.id, scheduledAt: now, parameters: parameters,
      idempotencyKey: idempotencyKey ?? "manual:\(runID.uuidString.lowercased())", origin: .manual,
      now: now)
    do {
      return .created(try await store().createDeploymentRun(request).run)
    } catch let error as RunStoreError where error.code == .invalidParameters {
      return .invalid(["": error.message])
    }
  }

  static func message(_ problem: ParameterProblem) -> String {
    var text = problem.reason
    if !problem.expectedType.isEmpty { text += " (expected \(problem.expectedType))" }
    if let value = problem.value { text += "; got \(value)" }
    return text
  }

  func createRunFromAPI(_ request: Request, _ context: BasicRequestContext) async throws
    -> Response
  {
    let deployment = try await deployment(context)
    let body = try await request.body.collect(upTo: server.configuration.maxBodyBytes)
    var parameters: [String: String] = [:]
    var key: String?
    if body.readableBytes > 0 {
      let value: JSONValue
      do {
        value = try JSONDecoder().decode(JSONValue.self, from: Data(buffer: body))
      } catch {
        throw APIError.badRequest(
          "the body is not JSON; send {\"parameters\": {\"name\": value}, \"idempotencyKey\": \"…\"}"
        )
      }
      guard case .object(let object) = value else {
        throw APIError.badRequest("the body must be a JSON object with `parameters`")
      }
      for field in object.keys where field != "parameters" && field != "idempotencyKey" {
        throw APIError.badRequest(
          "unknown field `\(field)`; the body takes `parameters` and `idempotencyKey`")
      }
      switch object["parameters"] {
      case nil, .null?: break
      case .object(let values)?: parameters = values.mapValues(\.jsonText)
      default: throw APIError.badRequest("`parameters` must be an object of name: value")
      }
      switch object["idempotencyKey"] {
      case nil, .null?: break
      case .string(let text)? where !text.isEmpty && text.count <= 200: key = text
      default: throw APIError.badRequest("`idempotencyKey` must be a string of 1 to 200 characters")
      }
    }
    switch try await createRun(deployment, parameters: parameters, idempotencyKey: key) {
    case .created(let run):
      return ServerJSON.response(DeploymentRunJSON(run), status: .created)
    case .invalid(let fields):
      let error = APIError(
        status: .unprocessableContent, code: "invalidParameters",
        message: "the parameters do not match \(deployment.qualifiedName)'s schema: "
          + fields.keys.sorted().map { "\($0) \(fields[$0] ?? "")" }.joined(separator: "; "),
        fields: fields)
      return ServerJSON.response(error.body, status: error.status)
    }
  }

  func createRunFromForm(_ request: Request, _ context: BasicRequestContext) async throws
    -> Response
  {
    let deployment = try await deployment(context)
    let form = try await formBody(request)
    try checkCSRF(request, form)
    let schema = try? ParameterSchema(json: deployment.parameterSchemaJSON)
    var parameters: [String: String] = [:]
    var values: [String: String] = [:]
    if form["mode"] == "custom" {
      for (name, value) in form.fields where name.hasPrefix("p.") {
        let parameter = String(name.dropFirst(2))
        values[parameter] = value
        if value.isEmpty { continue }  // empty: the default
        parameters[parameter] = schema?.jsonText(forInput: value, parameter: parameter) ?? value
      }
    }
    switch try await createRun(deployment, parameters: parameters, idempotencyKey: form["key"]) {
    case .created(let run):
      return Response(
        status: .seeOther, headers: [.location: "/runs/\(run.id.uuidString.lowercased())"])
    case .invalid(let errors):
      let (token, cookie) = csrfToken(request)
      return HTMLResponse.page(
        try await deploymentPage(deployment, csrf: token, values: values, errors: errors),
        status: .unprocessableContent, headers: cookie)
    }
  }

  func formBody(_ request: Request) async throws -> FormBody {
    let body = try await request.body.collect(upTo: server.configuration.maxBodyBytes)
    return FormBody(String(buffer: body))
  }

  // MARK: Cross-site request tokens (double submit)

  /// The page's token: the request's cookie, or a new one (and the header that sets it).
  func csrfToken(_ request: Request) -> (String, HTTPFields) {
    if let token = RequestGuard.cookie(RequestGuard.csrfCookie, in: request), token.count == 32 {
      return (token, [:])
    }
    let token = String(
      format: "%016llx%016llx", server.random.nextUInt64(), server.random.nextUInt64())
    return (
      token,
      [.setCookie: "\(RequestGuard.csrfCookie)=\(token); Path=/; HttpOnly; SameSite=Strict"]
    )
  }

  /// A form must carry the token its page was given, equal to its cookie.
  func checkCSRF(_ request: Request, _ form: FormBody) throws {
    guard let cookie = RequestGuard.cookie(RequestGuard.csrfCookie, in: request),
      let field = form[RequestGuard.csrfField],
      RequestGuard.constantTimeEqual(cookie, field)
    else {
      throw APIError(
        status: .forbidden, code: "csrf",
        message: "the form's cross-site request token is missing or wrong; reload the page and "
          + "submit it again")
    }
  }

  // MARK: Pages

  func deploymentList(_ request: Request) async throws -> Response {
    let (token, cookie) = csrfToken(request)
    let deployments = try await store().deployments(project: nil)
    let now = server.clock.now()
    var rows: [HTML] = []
    for deployment in deployments {
      let id = deployment.id.uuidString.lowercased()
      rows.append(
        """
        <tr data-deployment="\(id)"><td><a href="/deployments/\(id)">\(deployment.qualifiedName)</a></td>
        <td>\(deployment.flowName)</td><td>v\(deployment.version)</td>
        <td>\(deployment.scheduleSummary)</td>
        <td class="next-runs">\(Self.nextRuns(deployment, after: now))</td>
        <td>\(deployment.labels.joined(separator: ", "))</td>
        <td>\(Self.quickRunForm(id: id, csrf: token, key: server.ids.next()))</td></tr>
        """)
    }
    return HTMLResponse.page(
      Layout.page(
        title: "Deployments",
        body: """
          <h1>Deployments</h1>
          <table class="deployments"><thead><tr><th>Deployment</th><th>Flow</th><th>Version</th>
          <th>Schedule</th><th>Next runs</th><th>Labels</th><th></th></tr></thead><tbody>\(rows)</tbody></table>
          \(deployments.isEmpty ? HTML("<p class=\"empty\">No deployment yet: register one with `<executable> deploy`.</p>") : "")
          """), headers: cookie)
  }

  static func quickRunForm(id: String, csrf: String, key: UUID) -> HTML {
    """
    <form class="quick-run" method="post" action="/deployments/\(id)/runs">
    <input type="hidden" name="csrf" value="\(csrf)"><input type="hidden" name="mode" value="quick">
    <input type="hidden" name="key" value="quick:\(key.uuidString.lowercased())">
    <button type="submit">Quick Run</button></form>
    """
  }

  func deploymentPage(
    _ deployment: DeploymentRecord, csrf: String, values: [String: String],
    errors: [String: String]
  ) async throws -> HTML {
    let id = deployment.id.uuidString.lowercased()
    let runs = try await server.store.flowRuns(
      FlowRunQuery(flowName: deployment.flowName, limit: 20, staleBefore: server.staleBefore))
    let runRows = runs.map(PageRoutes.runRow)
    let schema = try? ParameterSchema(json: deployment.parameterSchemaJSON)
    var fields: [HTML] = []
    for property in (schema?.properties.values.sorted { $0.name < $1.name }) ?? [] {
      let fieldID = "p-\(Self.fieldID(property.name))"
      let fallback = deployment.defaultParameters[property.name] ?? property.defaultJSON
      let error = errors[property.name]
      let type = property.jsonType ?? property.swiftType
      let input: HTML
      if property.jsonType == "boolean" {
        let current = values[property.name] ?? ""
        var options: [HTML] = ["<option value=\"\">default (\(fallback ?? "none"))</option>"]
        for choice in ["true", "false"] {
          options.append(
            "<option\(HTML(trusted: current == choice ? " selected" : ""))>\(choice)</option>")
        }
        input = "<select id=\"\(fieldID)\" name=\"p.\(property.name)\">\(options)</select>"
      } else {
        input = """
          <input id="\(fieldID)" name="p.\(property.name)" type="text" value="\(values[property.name] ?? "")" placeholder="\(fallback ?? (property.isRequired ? "required" : ""))"\(HTML(trusted: error == nil ? "" : " aria-invalid=\"true\"")) data-type="\(type)">
          """
      }
      fields.append(
        """
        <div class="field\(HTML(trusted: error == nil ? "" : " invalid"))" data-parameter="\(property.name)">
        <label for="\(fieldID)">\(property.name) <small>\(property.swiftType)\(property.isRequired ? ", required" : "")</small></label>
        \(input)\(error.map { HTML("<p class=\"field-error\" id=\"\(fieldID)-error\">\($0)</p>") } ?? "")</div>
        """)
    }
    let general = errors[""].map { HTML("<p class=\"error\">\($0)</p>") } ?? ""
    return Layout.page(
      title: deployment.qualifiedName,
      body: """
        <h1>\(deployment.qualifiedName)</h1>
        <dl class="facts"><dt>Flow</dt><dd>\(deployment.flowName) <code>\(deployment.flowVersion)</code></dd>
        <dt>Version</dt><dd>v\(deployment.version)</dd>
        <dt>Schedule</dt><dd id="schedule">\(deployment.scheduleSummary)\(Self.scheduleToggleForm(deployment, csrf: csrf))</dd>
        <dt>Next runs</dt><dd class="next-runs">\(Self.nextRuns(deployment, after: server.clock.now(), count: 5))</dd>
        <dt>Labels</dt><dd>\(deployment.labels.joined(separator: ", "))</dd>
        <dt>Crash retries</dt><dd>\(deployment.crashRetries)</dd></dl>
        \(Self.quickRunForm(id: id, csrf: csrf, key: server.ids.next()))
        <h2>Run with custom parameters</h2>
        <form class="custom-run" id="custom-run" method="post" action="/deployments/\(id)/runs" novalidate>
        <input type="hidden" name="csrf" value="\(csrf)"><input type="hidden" name="mode" value="custom">
        <input type="hidden" name="key" value="custom:\(server.ids.next().uuidString.lowercased())">
        \(general)\(fields.isEmpty ? HTML("<p class=\"empty\">The flow has no parameters.</p>") : "")\(fields)
        <button type="submit">Run</button></form>
        <h2>Runs of \(deployment.flowName)</h2>
        <table class="runs" id="runs" data-stream="/api/flow-runs/stream?flow=\(PageRoutes.queryEscaped(deployment.flowName))&limit=20">
        <thead><tr><th>State</th><th>Flow</th><th>Run</th><th>Started</th><th>Duration</th><th>Host</th></tr></thead>
        <tbody>\(runRows)</tbody></table>
        <h2>Delete this deployment</h2>
        <form class="delete-deployment" method="post" action="/deployments/\(id)/delete">
        <input type="hidden" name="csrf" value="\(csrf)">
        <p>Its runs no agent has started are removed and its running ones cancelled; finished runs keep their history.</p>
        <label for="confirm-delete">Type <code>\(deployment.qualifiedName)</code> to confirm</label>
        <input id="confirm-delete" name="confirm" type="text" required autocomplete="off">
        <button type="submit" id="delete-deployment">Delete deployment</button></form>
        """)
  }

  /// A deployment's Pause (or Resume) button for its schedule; nothing without a schedule.
  static func scheduleToggleForm(_ deployment: DeploymentRecord, csrf: String) -> HTML {
    guard deployment.schedule != nil else { return "" }
    let id = deployment.id.uuidString.lowercased()
    let action = deployment.schedulePaused ? "resume" : "pause"
    return """
      <form class="schedule-toggle" method="post" action="/deployments/\(id)/\(action)">
      <input type="hidden" name="csrf" value="\(csrf)">
      <button type="submit" id="schedule-\(action)">\(deployment.schedulePaused ? "Resume schedule" : "Pause schedule")</button></form>
      """
  }

  /// The deployment's next `count` runs by its schedule: `paused` while it is paused.
  static func nextRuns(_ deployment: DeploymentRecord, after now: Date, count: Int = 3) -> HTML {
    deployment.schedulePaused && deployment.schedule != nil
      ? "paused" : nextFireTimes(deployment.schedule, after: now, count: count)
  }

  /// The schedule's next `count` fire times after `now`, one per line; `none` without a
  /// schedule, or what is wrong with a stored schedule this binary cannot read.
  static func nextFireTimes(_ spec: DeploymentScheduleSpec?, after now: Date, count: Int = 3)
    -> HTML
  {
    guard let spec else { return "none" }
    let schedule: any Schedule
    do {
      schedule = try spec.makeSchedule()
    } catch {
      return "<span class=\"error\">\(error.message)</span>"
    }
    var times: [HTML] = []
    var instant = now
    while times.count < count, let event = schedule.nextEvent(after: instant) {
      times.append("<time>\(Layout.time(event.date))</time>")
      instant = event.date
    }
    return times.isEmpty
      ? "no more fire times" : HTML(trusted: times.map(\.text).joined(separator: "<br>"))
  }

  /// Letters and digits of `name` (an element ID).
  static func fieldID(_ name: String) -> String {
    String(
      name.unicodeScalars.map { CharacterSet.alphanumerics.contains($0) ? Character($0) : "-" })
  }
}

/// A deployment as the API returns it.
struct DeploymentJSON: Encodable {
  var id: String
  var project: String
  var name: String
  var flowName: String
  var flowVersion: String
  var version: Int
  var parameterSchema: JSONValue
  var schedule: DeploymentScheduleSpec?
  var schedulePaused: Bool
  var defaultParameters: [String: JSONValue]
  var labels: [String]
  var crashRetries: Int

  init(_ deployment: DeploymentRecord) {
    id = deployment.id.uuidString.lowercased()
    project = deployment.project
    name = deployment.name
    flowName = deployment.flowName
    flowVersion = deployment.flowVersion
    version = deployment.version
    parameterSchema = JSONValue.parse(deployment.parameterSchemaJSON)
    schedule = deployment.schedule
    schedulePaused = deployment.schedulePaused
    defaultParameters = deployment.defaultParameters.mapValues(JSONValue.parse)
    labels = deployment.labels
    crashRetries = deployment.crashRetries
  }
}

/// A deployment run as the API returns it.
struct DeploymentRunJSON: Encodable {
  var id: String
  var deploymentID: String
  var state: String
  var message: String?
  var parameters: [String: JSONValue]
  var scheduledAt: Date
  var origin: String
  var cancelRequested: Bool

  init(_ run: DeploymentRunRecord) {
    id = run.id.uuidString.lowercased()
    deploymentID = run.deploymentID.uuidString.lowercased()
    state = run.state
    message = run.message
    parameters = run.parameters.mapValues(JSONValue.parse)
    scheduledAt = run.scheduledAt
    origin = run.origin.name
    cancelRequested = run.cancelRequested
  }
}

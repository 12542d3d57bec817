import FlowCore
import FlowServer
import FlowTesting
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

@Suite("Deployments: Quick Run and custom parameters", .timeLimit(.minutes(2)))
struct DeploymentTests {
  /// A project and a deployment of the pipeline (parameters `count: Int = 3`, `label: String`).
  static func deploy(_ fixture: ServerFixture) async throws -> DeploymentRecord {
    let now = Date(timeIntervalSince1970: 1_800_000_000)
    _ = try await fixture.store.createProject(ProjectRecord(name: "tickets", createdAt: now))
    return try await fixture.store.registerDeployment(
      DeploymentRegistration(
        project: "tickets", name: "nightly", flow: ServerFixture.pipeline().record,
        defaultParameters: ["label": "\"default\""], id: UUID()), now: now)
  }

  @Test(
    "the API queues a run with validated parameters; a bad value is a 422 per field",
    arguments: ServerStoreKind.available)
  func apiCreatesRuns(kind: ServerStoreKind) async throws {
    try await ServerFixture.with(kind) { fixture in
      let deployment = try await Self.deploy(fixture)
      let id = deployment.id.uuidString.lowercased()
      try await fixture.test { client in
        let list = try await client.execute(uri: "/api/deployments", method: .get).json()
        #expect((list["deployments"] as? [[String: Any]])?.first?["name"] as? String == "nightly")

        let quick = try await client.execute(uri: "/api/deployments/\(id)/runs", method: .post)
        #expect(quick.status == .created, "\(quick.text)")
        let runID = try #require(try quick.json()["id"] as? String)
        #expect(try quick.json()["state"] as? String == "Scheduled")
        let run = try await client.execute(uri: "/api/flow-runs/\(runID)", method: .get).json()
        #expect(run["state"] as? String == "Scheduled")

        let bad = try await client.execute(
          uri: "/api/deployments/\(id)/runs", method: .post,
          body: ByteBuffer(string: #"{"parameters": {"count": "many", "colour": 1, "label": 2}}"#))
        #expect(bad.status == .unprocessableContent)
        let fields = try #require(
          (try bad.json()["error"] as? [String: Any])?["fields"] as? [String: String])
        #expect(Set(fields.keys) == ["count", "colour", "label"], "\(fields)")
        #expect(fields["count"]?.contains("Int") == true)

        let good = try await client.execute(
          uri: "/api/deployments/\(id)/runs", method: .post,
          body: ByteBuffer(string: #"{"parameters": {"count": 7}, "idempotencyKey": "k1"}"#))
        #expect(good.status == .created)
        let again = try await client.execute(
          uri: "/api/deployments/\(id)/runs", method: .post,
          body: ByteBuffer(string: #"{"parameters": {"count": 7}, "idempotencyKey": "k1"}"#))
        #expect(try again.json()["id"] as? String == (try good.json()["id"] as? String))
        let goodRun = try await client.execute(
          uri: "/api/flow-runs/\(try good.json()["id"] as? String ?? "")", method: .get
        ).json()
        #expect((goodRun["parameters"] as? [String: Any])?["count"] as? Int == 7)

        for body in ["{not json", "[1]", #"{"parameters": 3}"#, #"{"extra": 1}"#] {
          let response = try await client.execute(
            uri: "/api/deployments/\(id)/runs", method: .post, body: ByteBuffer(string: body))
          #expect(response.status == .badRequest, "\(body): \(response.text)")
        }
        let unknown = try await client.execute(
          uri: "/api/deployments/3f2a8c1e-0b7d-4e55-9a41-7c2d9e6f1a20/runs", method: .post)
        #expect(unknown.status == .notFound)

        let cancelled = try await client.execute(
          uri: "/api/flow-runs/\(runID)/cancel", method: .post)
        #expect(try cancelled.json()["state"] as? String == "Cancelled", "\(cancelled.text)")
      }
    }
  }

  @Test("the custom-parameters form: inline errors at 422, a run on success, tokens checked")
  func formCreatesRuns() async throws {
    let fixture = try await ServerFixture()
    let deployment = try await Self.deploy(fixture)
    let id = deployment.id.uuidString.lowercased()
    try await fixture.test { client in
      let page = try await client.execute(uri: "/deployments/\(id)", method: .get)
      #expect(page.status == .ok)
      let cookie = try #require(page.headers[.setCookie])
      let token = String(
        try #require(cookie.firstMatch(of: #/flow_csrf=([0-9a-f]{32})/#)).output.1)
      #expect(page.text.contains("name=\"p.count\""))
      #expect(page.text.contains("Quick Run"))
      let headers: HTTPFields = [
        .cookie: "flow_csrf=\(token)", .contentType: "application/x-www-form-urlencoded",
      ]

      let bad = try await client.execute(
        uri: "/deployments/\(id)/runs", method: .post, headers: headers,
        body: ByteBuffer(string: "csrf=\(token)&mode=custom&key=a&p.count=%3Cb%3Emany&p.label="))
      #expect(bad.status == .unprocessableContent)
      #expect(bad.text.contains("class=\"field-error\" id=\"p-count-error\""))
      #expect(bad.text.contains("value=\"&lt;b&gt;many\""))
      #expect(!bad.text.contains("<b>many"))

      let good = try await client.execute(
        uri: "/deployments/\(id)/runs", method: .post, headers: headers,
        body: ByteBuffer(string: "csrf=\(token)&mode=custom&key=b&p.count=9&p.label=hello+you"))
      #expect(good.status == .seeOther)
      let location = try #require(good.headers[.location])
      let runID = try #require(UUID(uuidString: String(location.dropFirst("/runs/".count))))
      let run = try #require(try await fixture.store.flowRun(id: runID))
      #expect(run.parameters["count"] == "9")
      #expect(run.parameters["label"] == "\"hello you\"")
      #expect(run.state == "Scheduled")

      let forged = try await client.execute(
        uri: "/deployments/\(id)/runs", method: .post,
        headers: [.contentType: "application/x-www-form-urlencoded"],
        body: ByteBuffer(string: "csrf=\(token)&mode=quick&key=c"))
      #expect(forged.status == .forbidden)
    }
  }

  @Test(
    "a schedule is paused and resumed by the API and by the deployment page's button",
    arguments: ServerStoreKind.available)
  func pauseAndResume(kind: ServerStoreKind) async throws {
    try await ServerFixture.with(kind) { fixture in
      let unscheduled = try await Self.deploy(fixture)
      let now = Date(timeIntervalSince1970: 1_800_000_000)
      let deployment = try await fixture.store.registerDeployment(
        DeploymentRegistration(
          project: "tickets", name: "hourly", flow: ServerFixture.pipeline().record,
          schedule: .interval(seconds: 3600), defaultParameters: ["label": "\"default\""],
          id: UUID()), now: now)
      let id = deployment.id.uuidString.lowercased()
      let queued = try await fixture.store.createDeploymentRun(
        .scheduled(
          runID: UUID(), deploymentID: deployment.id, fireTime: now.addingTimeInterval(3600),
          now: now)
      ).run.id
      try await fixture.test { client in
        let paused = try await client.execute(uri: "/api/deployments/\(id)/pause", method: .post)
        #expect(paused.status == .ok, "\(paused.text)")
        let body = try paused.json()
        #expect((body["deployment"] as? [String: Any])?["schedulePaused"] as? Bool == true)
        #expect(body["removedRuns"] as? [String] == [queued.uuidString.lowercased()])
        #expect(try await fixture.store.deploymentRun(id: queued) == nil)
        let read = try await client.execute(uri: "/api/deployments/\(id)", method: .get).json()
        #expect(read["schedulePaused"] as? Bool == true)

        let list = try await client.execute(uri: "/deployments", method: .get)
        #expect(list.text.contains("every 1h (paused)"), "\(list.text)")
        let page = try await client.execute(uri: "/deployments/\(id)", method: .get)
        #expect(page.text.contains("id=\"schedule-resume\">Resume schedule</button>"))
        #expect(page.text.contains("<dd class=\"next-runs\">paused</dd>"), "\(page.text)")
        let cookie = try #require(page.headers[.setCookie])
        let token = String(
          try #require(cookie.firstMatch(of: #/flow_csrf=([0-9a-f]{32})/#)).output.1)
        let forged = try await client.execute(
          uri: "/deployments/\(id)/resume", method: .post,
          headers: [.contentType: "application/x-www-form-urlencoded"],
          body: ByteBuffer(string: "csrf=\(token)"))
        #expect(forged.status == .forbidden)
        #expect(try await fixture.store.deployment(id: deployment.id)?.schedulePaused == true)
        let resumed = try await client.execute(
          uri: "/deployments/\(id)/resume", method: .post,
          headers: [
            .cookie: "flow_csrf=\(token)", .contentType: "application/x-www-form-urlencoded",
          ], body: ByteBuffer(string: "csrf=\(token)"))
        #expect(resumed.status == .seeOther)
        #expect(resumed.headers[.location] == "/deployments/\(id)")
        #expect(try await fixture.store.deployment(id: deployment.id)?.schedulePaused == false)
        let after = try await client.execute(uri: "/deployments/\(id)", method: .get)
        #expect(after.text.contains("id=\"schedule-pause\">Pause schedule</button>"))

        let none = try await client.execute(
          uri: "/api/deployments/\(unscheduled.id.uuidString.lowercased())/pause", method: .post)
        #expect(none.status == .conflict, "\(none.text)")
        #expect((try none.json()["error"] as? [String: Any])?["code"] as? String == "noSchedule")
        let unknown = try await client.execute(
          uri: "/api/deployments/3f2a8c1e-0b7d-4e55-9a41-7c2d9e6f1a20/resume", method: .post)
        #expect(unknown.status == .notFound)
      }
    }
  }

  @Test(
    "a deployment is deleted by the API and by its page's form, once its name is typed",
    arguments: ServerStoreKind.available)
  func deletion(kind: ServerStoreKind) async throws {
    try await ServerFixture.with(kind) { fixture in
      let first = try await Self.deploy(fixture)
      let now = Date(timeIntervalSince1970: 1_800_000_000)
      let second = try await fixture.store.registerDeployment(
        DeploymentRegistration(
          project: "tickets", name: "weekly", flow: ServerFixture.pipeline().record,
          defaultParameters: ["label": "\"default\""], id: UUID()), now: now)
      try await fixture.test { client in
        let id = first.id.uuidString.lowercased()
        let queued = try await client.execute(uri: "/api/deployments/\(id)/runs", method: .post)
        let runID = try #require(try queued.json()["id"] as? String)
        let deleted = try await client.execute(uri: "/api/deployments/\(id)", method: .delete)
        #expect(deleted.status == .ok, "\(deleted.text)")
        #expect(try deleted.json()["removedRuns"] as? [String] == [runID])
        #expect(try deleted.json()["cancelledRuns"] as? [String] == [])
        let gone = try await client.execute(uri: "/api/deployments/\(id)", method: .get)
        #expect(gone.status == .notFound)
        let again = try await client.execute(uri: "/api/deployments/\(id)", method: .delete)
        #expect(again.status == .notFound)

        let other = second.id.uuidString.lowercased()
        let page = try await client.execute(uri: "/deployments/\(other)", method: .get)
        #expect(page.text.contains("id=\"delete-deployment\">Delete deployment</button>"))
        let cookie = try #require(page.headers[.setCookie])
        let token = String(
          try #require(cookie.firstMatch(of: #/flow_csrf=([0-9a-f]{32})/#)).output.1)
        let headers: HTTPFields = [
          .cookie: "flow_csrf=\(token)", .contentType: "application/x-www-form-urlencoded",
        ]
        let unconfirmed = try await client.execute(
          uri: "/deployments/\(other)/delete", method: .post, headers: headers,
          body: ByteBuffer(string: "csrf=\(token)&confirm=weekly"))
        #expect(unconfirmed.status == .unprocessableContent)
        #expect(unconfirmed.text.contains("type its name tickets/weekly"), "\(unconfirmed.text)")
        #expect(try await fixture.store.deployment(id: second.id) != nil)
        let confirmed = try await client.execute(
          uri: "/deployments/\(other)/delete", method: .post, headers: headers,
          body: ByteBuffer(string: "csrf=\(token)&confirm=tickets%2Fweekly"))
        #expect(confirmed.status == .seeOther)
        #expect(confirmed.headers[.location] == "/deployments")
        #expect(try await fixture.store.deployment(id: second.id) == nil)
      }
    }
  }

  @Test(
    "a queued run's page says when it is due and which agent can take it, or why none can",
    arguments: ServerStoreKind.available)
  func queuedRunPage(kind: ServerStoreKind) async throws {
    let clock = TestClock(now: Date(timeIntervalSince1970: 1_800_000_000))
    try await ServerFixture.with(kind, clock: clock) { fixture in
      _ = try await fixture.store.createProject(
        ProjectRecord(name: "tickets", createdAt: clock.now()))
      let deployment = try await fixture.store.registerDeployment(
        DeploymentRegistration(
          project: "tickets", name: "quick", flow: ServerFixture.pipeline().record, id: UUID()),
        now: clock.now())
      let run = try await fixture.store.createDeploymentRun(
        DeploymentRunRequest(
          runID: UUID(), deploymentID: deployment.id, scheduledAt: clock.now(),
          idempotencyKey: "queued", now: clock.now())
      ).run
      let flow = FlowKey(name: deployment.flowName, version: deployment.flowVersion)
      let agent = { @Sendable (id: String, flows: [FlowKey]) in
        AgentRecord(
          agentID: id, host: "node", processID: 7, labels: [], limit: 1, flows: flows,
          heartbeatInterval: .seconds(10), startedAt: clock.now())
      }
      let store = fixture.store
      let path = "/runs/\(run.id.uuidString.lowercased())"
      try await fixture.test { client in
        var text = try await client.execute(uri: path, method: .get).text
        #expect(text.contains("Scheduled for"))
        #expect(text.contains("no agent is running"), "\(text)")
        #expect(text.contains("None given: the flow&#39;s defaults apply."))

        try await store.registerAgent(
          agent("old-build", [FlowKey(name: flow.name, version: "0123456789abcdef")]))
        text = try await client.execute(uri: path, method: .get).text
        #expect(
          text.contains("have version 0123456789abcdef of \(flow.name), not \(flow.version)"))

        try await store.registerAgent(agent("worker-1", [flow]))
        text = try await client.execute(uri: path, method: .get).text
        #expect(text.contains("Queued: agent worker-1 can run it"), "\(text)")

        try await store.stopAgent(agentID: "worker-1", now: clock.now())
        text = try await client.execute(uri: path, method: .get).text
        #expect(!text.contains("worker-1"))
        #expect(text.contains("Waiting for an agent whose executable contains flow \(flow)"))

        // The Cancel button posts the page's cross-site token; the run ends Cancelled and its
        // page offers nothing more.
        let page = try await client.execute(uri: path, method: .get)
        let cookie = try #require(page.headers[.setCookie])
        let token = String(
          try #require(cookie.firstMatch(of: #/flow_csrf=([0-9a-f]{32})/#)).output.1)
        #expect(page.text.contains("action=\"\(path)/cancel\""))
        #expect(page.text.contains("name=\"csrf\" value=\"\(token)\""))
        let cancelled = try await client.execute(
          uri: path + "/cancel", method: .post,
          headers: [
            .cookie: "flow_csrf=\(token)", .contentType: "application/x-www-form-urlencoded",
          ], body: ByteBuffer(string: "csrf=\(token)"))
        #expect(cancelled.status == .seeOther)
        #expect(try await store.deploymentRun(id: run.id)?.state == "Cancelled")
        text = try await client.execute(uri: path, method: .get).text
        #expect(!text.contains("Cancel run") && !text.contains("run-queue"))

        // A run an agent holds: no queue hint; once cancellation is asked for, the page says so.
        let held = try await store.createDeploymentRun(
          DeploymentRunRequest(
            runID: UUID(), deploymentID: deployment.id, scheduledAt: clock.now(),
            idempotencyKey: "held", now: clock.now())
        ).run
        let claimed = try await store.claim(
          LeaseClaim(
            agentID: "worker-2", flows: [flow], limit: 1, leaseDuration: .seconds(30),
            now: clock.now()))
        #expect(claimed.map(\.lease.runID) == [held.id])
        let heldPath = "/runs/\(held.id.uuidString.lowercased())"
        text = try await client.execute(uri: heldPath, method: .get).text
        #expect(text.contains("Cancel run") && !text.contains("run-queue"), "\(text)")
        _ = try await store.requestCancellation(runID: held.id, now: clock.now())
        text = try await client.execute(uri: heldPath, method: .get).text
        #expect(text.contains("Cancellation requested") && !text.contains("Cancel run"))
      }
    }
  }
}

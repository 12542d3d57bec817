import FlowCore
import FlowServer
import FlowTesting
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

@Suite("The pages", .timeLimit(.minutes(2)))
struct PageTests {
  @Test("a task, parameter or log value that is markup renders as text")
  func everythingIsEscaped() async throws {
    let fixture = try await ServerFixture()
    let hostile = "<script>alert(1)</script>"
    let id = try await fixture.record(
      ServerFixture.pipeline(name: "<img src=x onerror=alert(2)>"),
      parameters: ["label": "\"><script>alert(3)</script>"])
    try await fixture.test { client in
      let page = try await client.execute(uri: "/runs/\(id.uuidString)", method: .get)
      #expect(page.status == .ok)
      let html = page.text
      #expect(!html.contains(hostile))
      #expect(!html.contains("<img src=x"))
      #expect(!html.contains("<script>alert(3)"))
      #expect(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"))
      #expect(html.contains("&lt;img src=x onerror=alert(2)&gt;"))
      // The only scripts are our own file.
      #expect(html.components(separatedBy: "<script").count == 2)
      #expect(
        page.headers[HTTPField.Name("Content-Security-Policy")!]?.contains("script-src 'self'")
          == true)
      let list = try await client.execute(uri: "/runs", method: .get).text
      #expect(!list.contains("<img src=x"))
      #expect(list.contains("&lt;img src=x onerror=alert(2)&gt;"))
      let flows = try await client.execute(uri: "/flows", method: .get).text
      #expect(!flows.contains("<img src=x"))
    }
  }

  @Test("the run page shows parameters, a schematic coloured by state, the timeline and tables")
  func runPage() async throws {
    let fixture = try await ServerFixture()
    let id = try await fixture.record(ServerFixture.pipeline(), parameters: ["count": 5])
    try await fixture.test { client in
      let html = try await client.execute(uri: "/runs/\(id.uuidString)", method: .get).text
      #expect(html.contains("<svg class=\"schematic\""))
      // Mapped children are one node with their counts.
      #expect(html.contains("data-slug=\"square\""))
      #expect(html.contains("5 Success"))
      #expect(html.components(separatedBy: "<g class=\"node s-Success").count - 1 == 4)
      #expect(html.contains("<g class=\"node s-Parameter parameter\""))
      #expect(html.contains("<svg class=\"timeline\""))
      #expect(html.contains("square[4]"))
      #expect(html.contains("data-stream=\"/api/flow-runs/\(id.uuidString.lowercased())/stream"))
      #expect(html.contains("<th>count</th><td><code>5</code></td>"))
      let missing = try await client.execute(
        uri: "/runs/3f2a8c1e-0b7d-4e55-9a41-7c2d9e6f1a20", method: .get)
      #expect(missing.status == .notFound)
      #expect(missing.headers[.contentType]?.hasPrefix("text/html") == true)
      let list = try await client.execute(uri: "/runs?state=Success", method: .get).text
      #expect(list.contains(id.uuidString.lowercased()))
      #expect(list.contains("data-stream=\"/api/flow-runs/stream?state=Success&amp;limit=50\""))
      let css = try await client.execute(uri: "/assets/flow.css", method: .get)
      #expect(css.headers[.contentType]?.hasPrefix("text/css") == true)
    }
  }

  @Test("a token guards every page and API route; /login sets it as a cookie")
  func tokenIsRequired() async throws {
    #expect(throws: FlowServerError.self) {
      try FlowServerConfiguration(host: "0.0.0.0", port: 8080).validate()
    }
    try FlowServerConfiguration(host: "0.0.0.0", port: 8080, token: "t").validate()
    let fixture = try await ServerFixture(configuration: .init(port: 0, token: "secret"))
    try await fixture.test { client in
      let api = try await client.execute(uri: "/api/flows", method: .get)
      #expect(api.status == .unauthorized)
      #expect(api.errorCode == "unauthorized")
      let page = try await client.execute(uri: "/runs", method: .get)
      #expect(page.status == .seeOther)
      #expect(page.headers[.location] == "/login")
      let bearer = try await client.execute(
        uri: "/api/flows", method: .get, headers: [.authorization: "Bearer secret"])
      #expect(bearer.status == .ok)
      let wrong = try await client.execute(
        uri: "/login", method: .post,
        headers: [.contentType: "application/x-www-form-urlencoded"],
        body: ByteBuffer(string: "token=nope"))
      #expect(wrong.status == .unauthorized)
      let login = try await client.execute(
        uri: "/login", method: .post,
        headers: [.contentType: "application/x-www-form-urlencoded"],
        body: ByteBuffer(string: "token=secret"))
      #expect(login.status == .seeOther)
      let cookie = try #require(login.headers[.setCookie])
      #expect(cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"))
      let withCookie = try await client.execute(
        uri: "/runs", method: .get, headers: [.cookie: "flow_token=secret"])
      #expect(withCookie.status == .ok)
    }
  }

  @Test("a state-changing request from another site is refused")
  func crossSiteRequestsAreRefused() async throws {
    let fixture = try await ServerFixture(configuration: .init(port: 0, token: "secret"))
    try await fixture.test { client in
      for headers: HTTPFields in [
        [.origin: "https://evil.example"],
        [HTTPField.Name("Sec-Fetch-Site")!: "cross-site"],
      ] {
        var fields = headers
        fields[.contentType] = "application/x-www-form-urlencoded"
        let response = try await client.execute(
          uri: "/login", method: .post, headers: fields, body: ByteBuffer(string: "token=secret"))
        #expect(response.status == .forbidden)
      }
      let same = try await client.execute(
        uri: "/login", method: .post,
        headers: [
          .origin: "http://localhost",
          .contentType: "application/x-www-form-urlencoded",
        ], body: ByteBuffer(string: "token=secret"))
      #expect(same.status == .seeOther)
    }
  }

  @Test("/metrics counts runs by final state with duration histograms")
  func metrics() async throws {
    let fixture = try await ServerFixture()
    let id = try await fixture.record(ServerFixture.pipeline())
    let run = try #require(try await fixture.store.flowRun(id: id))
    let tasks = try await fixture.store.taskRuns(flowRunID: id)
    fixture.server.metrics.recordFinished(run, taskRuns: tasks)
    try await fixture.test { client in
      let text = try await client.execute(uri: "/metrics", method: .get).text
      #expect(text.contains("flow_runs_total{flow=\"pipeline\",state=\"Success\"} 1"))
      #expect(text.contains("task_runs_total{flow=\"pipeline\",state=\"Success\"}"))
      #expect(text.contains("flow_run_duration_seconds_bucket"))
    }
  }
}

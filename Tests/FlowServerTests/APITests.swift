import FlowCore
import FlowServer
import FlowTesting
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

@Suite("The JSON API", .timeLimit(.minutes(2)))
struct APITests {
  @Test(
    "flows and flow runs are listed, filtered and paged by keyset",
    arguments: ServerStoreKind.available)
  func flowRunsArePaged(kind: ServerStoreKind) async throws {
    try await ServerFixture.with(kind) { fixture in
      var recorded: [UUID] = []
      for seed in 1...5 {
        recorded.append(try await fixture.record(ServerFixture.pipeline(), seed: UInt64(seed)))
      }
      let ids = recorded
      try await fixture.record(ServerFixture.pipeline(name: "other"), seed: 9)
      try await fixture.test { client in
        let flows = try await client.execute(uri: "/api/flows", method: .get).json()
        let names = (flows["flows"] as? [[String: Any]] ?? []).compactMap { $0["name"] as? String }
        #expect(names == ["other", "pipeline"])

        var seen: [String] = []
        var uri = "/api/flow-runs?flow=pipeline&limit=2"
        for _ in 0..<5 {
          let page = try await client.execute(uri: uri, method: .get).json()
          let runs = page["flowRuns"] as? [[String: Any]] ?? []
          seen += runs.compactMap { $0["id"] as? String }
          guard let next = page["next"] as? String else { break }
          uri = "/api/flow-runs?flow=pipeline&limit=2&after=\(next)"
        }
        #expect(Set(seen) == Set(ids.map { $0.uuidString.lowercased() }))
        #expect(seen.count == 5)

        let failed = try await client.execute(uri: "/api/flow-runs?state=Failed", method: .get)
          .json()
        #expect((failed["flowRuns"] as? [Any])?.isEmpty == true)
        let success = try await client.execute(uri: "/api/flow-runs?state=Success", method: .get)
          .json()
        #expect((success["flowRuns"] as? [Any])?.count == 6)
      }
    }
  }

  @Test(
    "a run's task runs, transitions and logs, with cursor pagination",
    arguments: ServerStoreKind.available)
  func aRunsRecords(kind: ServerStoreKind) async throws {
    try await ServerFixture.with(kind) { fixture in
      let id = try await fixture.record(
        ServerFixture.pipeline(), parameters: ["count": 4, "label": "x"])
      let runID = id.uuidString.lowercased()
      try await fixture.test { client in
        let run = try await client.execute(uri: "/api/flow-runs/\(runID)", method: .get).json()
        #expect(run["state"] as? String == "Success")
        #expect((run["parameters"] as? [String: Any])?["count"] as? Int == 4)
        let tasks = try await client.execute(uri: "/api/flow-runs/\(runID)/task-runs", method: .get)
          .json()
        let labels = (tasks["taskRuns"] as? [[String: Any]] ?? []).compactMap {
          $0["label"] as? String
        }
        #expect(labels.contains("square[3]"))
        #expect(labels.contains("<script>alert(1)</script>"))

        let all = try await fixture.store.transitions(flowRunID: id)
        var sequences: [Int] = []
        var after = 0
        while true {
          let page = try await client.execute(
            uri: "/api/flow-runs/\(runID)/transitions?after=\(after)&limit=3", method: .get
          ).json()
          let items = page["transitions"] as? [[String: Any]] ?? []
          sequences += items.compactMap { $0["sequence"] as? Int }
          guard let next = page["next"] as? Int else { break }
          after = next
        }
        #expect(sequences == all.map { Int($0.sequence) })

        let logs = try await client.execute(
          uri: "/api/flow-runs/\(runID)/logs?level=info&limit=1000", method: .get
        ).json()
        let stored = try await fixture.store.logs(
          flowRunID: id, after: 0, minimumLevel: StoredLogLevel(name: "info")!)
        #expect((logs["logs"] as? [Any])?.count == stored.count)
      }
    }
  }

  @Test(
    "bad input is a 4xx with a JSON error body naming the problem",
    arguments: [
      ("/api/flow-runs/not-a-uuid", 400, "badRequest"),
      ("/api/flow-runs/3f2a8c1e-0b7d-4e55-9a41-7c2d9e6f1a20", 404, "notFound"),
      ("/api/flow-runs/3f2a8c1e-0b7d-4e55-9a41-7c2d9e6f1a20/logs", 404, "notFound"),
      ("/api/flow-runs?state=Exploded", 400, "badRequest"),
      ("/api/flow-runs?limit=0", 400, "badRequest"),
      ("/api/flow-runs?limit=abc", 400, "badRequest"),
      ("/api/flow-runs?after=garbage", 400, "badRequest"),
      ("/api/flow-runs?since=yesterday", 400, "badRequest"),
      ("/api/no-such-thing", 404, "http404"),
    ])
  func badInput(uri: String, status: Int, code: String) async throws {
    let fixture = try await ServerFixture()
    let id = try await fixture.record(ServerFixture.pipeline())
    try await fixture.test { client in
      let response = try await client.execute(uri: uri, method: .get)
      #expect(response.status.code == status, "\(uri): \(response.text)")
      #expect(response.errorCode == code, "\(uri): \(response.text)")
      #expect(response.headers[.contentType]?.hasPrefix("application/json") == true)
      if code == "http404" {
        #expect(response.text.contains("no route for GET \(uri); the API's routes are listed"))
      }
      let logs = try await client.execute(
        uri: "/api/flow-runs/\(id.uuidString)/logs?level=loud", method: .get)
      #expect(logs.status == .badRequest)
      #expect(logs.text.contains("trace, debug"))
      let after = try await client.execute(
        uri: "/api/flow-runs/\(id.uuidString)/transitions?after=-1", method: .get)
      #expect(after.status == .badRequest)
    }
  }

  @Test("an oversized body is refused with 413 before it is read; a chunked one too")
  func oversizedBodies() async throws {
    let fixture = try await ServerFixture(
      configuration: .init(port: 0, token: "secret", maxBodyBytes: 1024))
    try await fixture.test { client in
      let big = ByteBuffer(repeating: UInt8(ascii: "a"), count: 4096)
      let response = try await client.execute(
        uri: "/login", method: .post, headers: [.contentType: "application/x-www-form-urlencoded"],
        body: big)
      #expect(response.status == .contentTooLarge)
      let api = try await client.execute(
        uri: "/api/flows", method: .post, headers: [.authorization: "Bearer secret"], body: big)
      #expect(api.status == .contentTooLarge)
      #expect(api.errorCode == "bodyTooLarge")
    }
  }

  @Test(
    "the stream of a finished run sends its run, transitions and logs, then ends",
    arguments: ServerStoreKind.available)
  func finishedRunStream(kind: ServerStoreKind) async throws {
    try await ServerFixture.with(kind) { fixture in
      let id = try await fixture.record(ServerFixture.pipeline())
      let transitions = try await fixture.store.transitions(flowRunID: id)
      try await fixture.test { client in
        let response = try await client.execute(
          uri: "/api/flow-runs/\(id.uuidString)/stream", method: .get)
        #expect(response.headers[.contentType]?.hasPrefix("text/event-stream") == true)
        let text = response.text
        #expect(text.contains("event: run\n"))
        #expect(text.contains("event: transitions\n"))
        #expect(text.contains("event: logs\n"))
        #expect(text.hasSuffix("event: end\ndata: {}\n\n"))
        #expect(text.contains("\"sequence\":\(transitions.count)"))
        // Resuming after the last transition sends none again.
        let resumed = try await client.execute(
          uri: "/api/flow-runs/\(id.uuidString)/stream?transitions_after=\(transitions.count)",
          method: .get)
        #expect(!resumed.text.contains("event: transitions"))
      }
    }
  }

  @Test("the OpenAPI document describes exactly the API's routes")
  func openAPIMatchesRoutes() async throws {
    let fixture = try await ServerFixture()
    let routes = Set(
      fixture.server.router().routes.map { route -> String in
        let path = route.path.description.split(separator: "/").map { segment in
          segment.hasPrefix(":") ? "{\(segment.dropFirst())}" : String(segment)
        }
        return "\(route.method.rawValue.lowercased()) /" + path.joined(separator: "/")
      }.filter { $0.contains(" /api/") || $0.hasSuffix(" /metrics") || $0.hasSuffix(" /healthz") })
    try await fixture.test { client in
      let response = try await client.execute(uri: "/api/openapi.json", method: .get)
      let document = try response.json()
      #expect(document["openapi"] as? String == "3.1.0")
      var documented: Set<String> = []
      for (path, item) in document["paths"] as? [String: [String: Any]] ?? [:] {
        for method in item.keys { documented.insert("\(method) \(path)") }
      }
      #expect(documented == routes)
      // Every documented GET without a path parameter answers.
      for entry in documented where !entry.contains("{") && !entry.hasSuffix("stream") {
        let path = String(entry.split(separator: " ")[1])
        let answer = try await client.execute(uri: path, method: .get)
        #expect(answer.status == .ok, "\(path)")
      }
    }
  }
}

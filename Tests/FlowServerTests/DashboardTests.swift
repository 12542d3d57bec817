import FlowClusterProtocol
import FlowCore
import FlowServer
import FlowTesting
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Testing

@Suite("The dashboard, agents, the cluster view and the shared live reads", .timeLimit(.minutes(3)))
struct DashboardTests {
  /// The instant the testing environment's runs start at.
  static let base = Date(timeIntervalSince1970: 1_767_225_600)

  static func flowRun(_ id: UUID, started: Double, state: String, heartbeat: Double? = nil)
    -> FlowRunRecord
  {
    FlowRunRecord(
      id: id, flowName: "pipeline", flowVersion: "v1", parameters: [:], executor: "sequential",
      host: "test-host", processID: 42, command: [], scheduledAt: base.addingTimeInterval(started),
      startedAt: base.addingTimeInterval(started), endedAt: nil, state: state, message: nil,
      heartbeatAt: base.addingTimeInterval(heartbeat ?? started))
  }

  @Test(
    "the dashboard counts runs by state per hour, lists late and crashed runs, and the agents",
    arguments: ServerStoreKind.available)
  func dashboard(kind: ServerStoreKind) async throws {
    let clock = TestClock(now: Self.base.addingTimeInterval(3600))
    try await ServerFixture.with(kind, clock: clock) { fixture in
      try await fixture.record(ServerFixture.pipeline(), seed: 1)
      try await fixture.record(ServerFixture.pipeline(), seed: 2)
      var batch = RunStoreBatch()
      let crashed = UUID()
      let late = UUID()
      batch.flowRuns = [
        Self.flowRun(crashed, started: 60, state: "Running"),
        Self.flowRun(late, started: 120, state: "Late"),
      ]
      try await fixture.store.write(batch)

      let deployment = try await DeploymentTests.deploy(fixture)
      let at = { (seconds: Double) in Self.base.addingTimeInterval(seconds) }
      for index in 0..<4 {
        _ = try await fixture.store.createDeploymentRun(
          DeploymentRunRequest(
            runID: UUID(), deploymentID: deployment.id, scheduledAt: at(100),
            idempotencyKey: "k\(index)", now: at(100)))
      }
      let flows = [FlowKey(name: deployment.flowName, version: deployment.flowVersion)]
      let a1 = try await fixture.store.claimRuns(
        LeaseClaim(
          agentID: "a1", flows: flows, limit: 2, leaseDuration: .seconds(7200), now: at(200)))
      let a3 = try await fixture.store.claimRuns(
        LeaseClaim(
          agentID: "a3", flows: flows, limit: 1, leaseDuration: .seconds(7200), now: at(200)))
      let a2 = try await fixture.store.claimRuns(
        LeaseClaim(agentID: "a2", flows: flows, limit: 1, leaseDuration: .seconds(60), now: at(200))
      )
      #expect(a1.count == 2 && a2.count == 1 && a3.count == 1)
      try await fixture.store.releaseLease(
        try #require(a3.first), outcome: .finished(state: "Success", message: nil), now: at(300))

      try await fixture.test { client in
        let agents = try await client.execute(uri: "/api/agents", method: .get).json()
        let list = agents["agents"] as? [[String: Any]] ?? []
        #expect(list.compactMap { $0["agentID"] as? String } == ["a1", "a2", "a3"])
        let health = Dictionary(
          uniqueKeysWithValues: list.map { ($0["agentID"] as? String ?? "", $0) })
        #expect(health["a1"]?["health"] as? String == "Active")
        #expect(health["a1"]?["held"] as? Int == 2)
        #expect(health["a2"]?["health"] as? String == "Unresponsive")
        #expect(health["a2"]?["lost"] as? Int == 1)
        #expect(health["a3"]?["health"] as? String == "Idle")

        let counts = try await client.execute(uri: "/api/run-counts?hours=24", method: .get).json()
        var totals: [String: Int] = [:]
        for bucket in counts["buckets"] as? [[String: Any]] ?? [] {
          for (state, count) in bucket["counts"] as? [String: Int] ?? [:] {
            totals[state, default: 0] += count
          }
        }
        #expect((counts["buckets"] as? [Any])?.count == 24)
        // 2 recorded runs, 2 written, 4 of the deployment.
        #expect(totals.values.reduce(0, +) == 8, "\(totals)")
        #expect((totals["Success"] ?? 0) >= 2, "\(totals)")
        #expect(totals["Late"] == 1, "\(totals)")
        // The written Running run and the claimed ones stopped heartbeating an hour ago.
        #expect((totals["Crashed"] ?? 0) >= 1, "\(totals)")
        let bad = try await client.execute(uri: "/api/run-counts?hours=0", method: .get)
        #expect(bad.status == .badRequest)

        let page = try await client.execute(uri: "/dashboard", method: .get)
        #expect(page.status == .ok)
        let html = page.text
        #expect(html.contains("class=\"run-chart\""))
        #expect(html.contains("data-agent=\"a2\""))
        #expect(html.contains("Unresponsive"))
        #expect(html.contains("id=\"late-runs\""))
        #expect(html.contains(String(late.uuidString.lowercased().prefix(8))))
        #expect(html.contains(String(crashed.uuidString.lowercased().prefix(8))))
        let root = try await client.execute(uri: "/", method: .get)
        #expect(root.headers[.location] == "/dashboard")
      }
    }
  }

  @Test(
    "an agent that registered and never claimed is Idle with its labels; 3 missed beats: Unresponsive",
    arguments: ServerStoreKind.available)
  func registeredAgents(kind: ServerStoreKind) async throws {
    let clock = TestClock(now: Self.base.addingTimeInterval(20))
    try await ServerFixture.with(kind, clock: clock) { fixture in
      let at = { (seconds: Double) in Self.base.addingTimeInterval(seconds) }
      try await fixture.store.registerAgent(
        AgentRecord(
          agentID: "fresh", host: "node-1", processID: 314, labels: ["gpu", "<b>eu</b>"], limit: 2,
          flows: [FlowKey(name: "etl", version: "v1")], heartbeatInterval: .seconds(10),
          startedAt: at(0)))
      try await fixture.store.registerAgent(
        AgentRecord(
          agentID: "<script>alert(1)</script>", host: "node-2", processID: 1, labels: [],
          limit: 1, flows: [], heartbeatInterval: .seconds(5), startedAt: at(0)))
      try await fixture.store.registerAgent(
        AgentRecord(
          agentID: "left", host: "node-3", processID: 2, labels: [], limit: 1, flows: [],
          heartbeatInterval: .seconds(5), startedAt: at(0)))
      try await fixture.store.stopAgent(agentID: "left", now: at(3))
      #expect(try await fixture.store.agentHeartbeat(agentID: "fresh", now: at(12)))

      try await fixture.test { client in
        let body = try await client.execute(uri: "/api/agents", method: .get).json()
        let list = body["agents"] as? [[String: Any]] ?? []
        let byID = Dictionary(
          uniqueKeysWithValues: list.map { ($0["agentID"] as? String ?? "", $0) })
        let fresh = try #require(byID["fresh"])
        #expect(fresh["health"] as? String == "Idle")
        #expect(fresh["held"] as? Int == 0 && fresh["leases"] as? Int == 0)
        #expect(fresh["labels"] as? [String] == ["gpu", "<b>eu</b>"])
        #expect(fresh["host"] as? String == "node-1" && fresh["processID"] as? Int == 314)
        #expect(fresh["limit"] as? Int == 2 && fresh["flows"] as? [String] == ["etl@v1"])
        #expect(fresh["lastHeartbeatSecondsAgo"] as? Double == 8)
        #expect(fresh["firstClaimAt"] == nil)
        // Its last heartbeat was 20 s ago, over three of its 5 s intervals.
        #expect(byID["<script>alert(1)</script>"]?["health"] as? String == "Unresponsive")
        #expect(byID["left"]?["health"] as? String == "Stopped")

        let html = try await client.execute(uri: "/dashboard", method: .get).text
        #expect(html.contains("data-agent=\"fresh\" data-health=\"Idle\""), "\(html)")
        #expect(html.contains("gpu, &lt;b&gt;eu&lt;/b&gt;"))
        #expect(html.contains("8 s ago"))
        #expect(html.contains("node-1:314"))
        #expect(!html.contains("<script>alert(1)</script>"))
        #expect(html.contains("&lt;script&gt;alert(1)&lt;/script&gt;"))
        #expect(!html.contains("No agent is registered"))
      }
    }
  }

  @Test("deployments and flows show their schedule and next fire times")
  func nextFireTimes() async throws {
    let clock = TestClock(now: Date(timeIntervalSince1970: 1_800_000_030))
    try await ServerFixture.with(.memory, clock: clock) { fixture in
      let now = Date(timeIntervalSince1970: 1_800_000_000)
      _ = try await fixture.store.createProject(ProjectRecord(name: "tickets", createdAt: now))
      let deployment = try await fixture.store.registerDeployment(
        DeploymentRegistration(
          project: "tickets", name: "hourly", flow: ServerFixture.pipeline().record,
          schedule: .interval(seconds: 3600), id: UUID()), now: now)
      try await fixture.test { client in
        let list = try await client.execute(uri: "/deployments", method: .get).text
        #expect(list.contains("every 1h"))
        // 1_800_000_000 is 2027-01-15 08:00:00 UTC: the next hours follow.
        #expect(list.contains("<time>2027-01-15 09:00:00</time>"), "\(list)")
        #expect(list.contains("<time>2027-01-15 11:00:00</time>"))
        let page = try await client.execute(
          uri: "/deployments/\(deployment.id.uuidString.lowercased())", method: .get
        ).text
        #expect(page.contains("<time>2027-01-15 13:00:00</time>"))
        let flows = try await client.execute(uri: "/flows", method: .get).text
        #expect(flows.contains("tickets/hourly"), "\(flows)")
        #expect(flows.contains("<time>2027-01-15 09:00:00</time>"))
      }
    }
  }

  @Test(
    "the cluster view reads the workers' attempt reports: workers, one lane per thread, progress",
    arguments: ServerStoreKind.available)
  func clusterView(kind: ServerStoreKind) async throws {
    let clock = TestClock(now: Self.base.addingTimeInterval(30))
    try await ServerFixture.with(kind, clock: clock) { fixture in
      let id = UUID()
      var batch = RunStoreBatch()
      var run = Self.flowRun(id, started: 0, state: "Success")
      run.endedAt = Self.base.addingTimeInterval(10)
      run.executor = "cluster(127.0.0.1:7000)"
      batch.flowRuns = [run]
      var sequence: Int64 = 0
      for (index, (worker, thread)) in [("w1", 0), ("w1", 1), ("w2", 0), ("w2", 0)].enumerated() {
        sequence += 1
        let started = Self.base.addingTimeInterval(Double(index))
        var record = ClusterAttemptReport.record(
          ClusterTaskResult(
            taskID: 1, outcome: index == 3 ? .failure(code: "x", message: "y") : .success([])),
          slot: thread, threads: 2, running: 1, started: started,
          ended: started.addingTimeInterval(0.5), load: 0.25)
        record.metadata[ClusterLogKeys.worker] = worker
        record.metadata["task"] = "square"
        record.metadata["map_index"] = String(index)
        batch.logs.append(
          StoredLogRecord(
            flowRunID: id, sequence: sequence, time: started, level: StoredLogLevel(name: "info")!,
            message: record.message, metadata: record.metadata))
        batch.taskRuns.append(
          TaskRunRecord(
            flowRunID: id, slug: "square", mapIndex: index, taskRunID: nil,
            state: index == 3 ? "Failed" : "Success", message: nil, attempts: 1,
            crashedAttempts: 0, startedAt: started, endedAt: started.addingTimeInterval(0.5),
            resultLocation: nil, position: index))
      }
      // A record that is not a report is ignored.
      batch.logs.append(
        StoredLogRecord(
          flowRunID: id, sequence: sequence + 1, time: Self.base, level: .trace,
          message: "plain", metadata: ["cluster.thread": "9"]))
      try await fixture.store.write(batch)

      try await fixture.test { client in
        let view = try await client.execute(
          uri: "/api/flow-runs/\(id.uuidString.lowercased())/cluster", method: .get
        ).json()
        let workers = view["workers"] as? [[String: Any]] ?? []
        #expect(workers.compactMap { $0["name"] as? String } == ["w1", "w2"])
        #expect(workers.first?["threads"] as? Int == 2)
        #expect(workers.last?["failures"] as? Int == 1)
        let attempts = view["attempts"] as? [[String: Any]] ?? []
        #expect(attempts.count == 4)
        #expect(attempts.compactMap { $0["thread"] as? Int } == [0, 1, 0, 0])
        let progress = view["progress"] as? [[String: Any]] ?? []
        #expect((progress.first?["counts"] as? [String: Int]) == ["Success": 3, "Failed": 1])

        let page = try await client.execute(
          uri: "/runs/\(id.uuidString.lowercased())/cluster", method: .get
        ).text
        // Two workers of two threads: four lanes, an idle one included.
        #expect(page.components(separatedBy: "<g class=\"lane\"").count - 1 == 4)
        #expect(page.components(separatedBy: "<rect data-lane=").count - 1 == 4)
        #expect(page.contains("data-worker=\"w2\""))
        let runPage = try await client.execute(
          uri: "/runs/\(id.uuidString.lowercased())", method: .get
        ).text
        #expect(runPage.contains("id=\"cluster-link\""))
      }
    }
  }

  @Test(
    "N streams of one run share the store reads: one read serves them all",
    arguments: ServerStoreKind.available)
  func sharedLiveReads(kind: ServerStoreKind) async throws {
    try await ServerFixture.with(kind, configuration: .init(port: 0, pollInterval: .seconds(30))) {
      fixture in
      let id = try await fixture.record(ServerFixture.pipeline())
      let transitions = try await fixture.store.transitions(flowRunID: id)
      try await fixture.test { client in
        let texts = try await withThrowingTaskGroup(of: String.self) { group in
          for _ in 0..<8 {
            group.addTask {
              try await client.execute(
                uri: "/api/flow-runs/\(id.uuidString)/stream", method: .get
              ).text
            }
          }
          return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(texts.count == 8)
        for text in texts {
          #expect(text.hasSuffix("event: end\ndata: {}\n\n"))
          #expect(text.contains("\"sequence\":\(transitions.count)"))
        }
        #expect(Set(texts).count == 1, "every stream sent the same events")
        #expect(fixture.server.liveStoreReads == 1)
        // A stream that starts later, further on, is served from what the hub keeps.
        let resumed = try await client.execute(
          uri: "/api/flow-runs/\(id.uuidString)/stream?transitions_after=2", method: .get
        ).text
        #expect(!resumed.contains("\"sequence\":2,\"slug\""))
        #expect(resumed.contains("\"sequence\":3,\"slug\""))
        #expect(fixture.server.liveStoreReads == 1)
      }
    }
  }
}

import FlowCore
import FlowExecutors
import FlowOrchestration
import FlowStorePostgres
import FlowStoreSQLite
import Foundation
import Logging
import Testing

/// A flow's task starts another deployment's run and waits for it, an agent running that run,
/// on a real SQLite file and a real PostgreSQL (FLOW_TEST_POSTGRES_URL; skipped without it).
@Suite("A task starts a deployment's run and waits for it", .timeLimit(.minutes(2)))
struct DeploymentRunTaskTests {
  enum Kind: String, CustomStringConvertible, CaseIterable {
    case sqlite
    case postgres
    var description: String { rawValue }
    static var available: [Kind] { agentTestPostgresURL == nil ? [.sqlite] : allCases }
  }

  static let quiet = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }

  func withStore(_ kind: Kind, _ body: (any DeploymentStore) async throws -> Void) async throws {
    switch kind {
    case .sqlite:
      let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
        "flow-run-task-\(UUID().uuidString)")
      defer { try? FileManager.default.removeItem(at: directory) }
      let store = try await SQLiteRunStore.open(
        path: directory.appendingPathComponent("flow.sqlite").path)
      do {
        try await body(store)
      } catch {
        await store.close()
        throw error
      }
      await store.close()
    case .postgres:
      let url = try #require(agentTestPostgresURL)
      try await PostgresRunStore.withStore(url: url) { try await body($0) }
    }
  }

  @Test(
    "the child deployment's run is created, run by an agent and waited for; a bad parameter fails the task",
    arguments: Kind.available)
  func startAndWait(kind: Kind) async throws {
    try await withStore(kind) { store in
      let clock = SystemWallClock()
      let label = "child-" + UUID().uuidString.prefix(8).lowercased()
      let double = task("double") { (n: Int) -> Int in n * 2 }
      let child = Flow(label) { _ = double(Parameter<Int>(required: "n")) }
      _ = try await store.createProject(ProjectRecord(name: "iris", createdAt: clock.now()))
      _ = try await store.registerDeployment(
        DeploymentRegistration(
          project: "iris", name: label, flow: child.record, labels: [label], id: UUID()),
        now: clock.now())
      let agent = AgentService(
        store: store, flows: [child],
        options: .init(agentID: "\(label)-agent", poll: .milliseconds(50)),
        settings: .init(labels: [label], logger: Self.quiet))
      let start = DeploymentRunTask.task(
        store, project: "iris", deployment: label, parameters: ["n": 21],
        poll: .milliseconds(50), timeout: .seconds(60))
      let bad = DeploymentRunTask.task(
        store, project: "iris", deployment: label, parameters: ["n": "ten"],
        poll: .milliseconds(50))
      let (parent, started) = Flow.building("main-flow") { start() }
      let (broken, _) = Flow.building("broken-main") { bad() }
      try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await agent.run() }
        let result = try await parent.run()
        #expect(result.state.kind == .success, "\(result.state)")
        let outcome = try result.result(of: started)
        #expect(outcome.state == "Success" && outcome.deployment == "iris/\(label)")
        #expect(try await store.flowRun(id: outcome.runID)?.state == "Success")
        let runs = try await store.deploymentRuns(DeploymentRunQuery(states: [], limit: 1000))
          .filter { $0.flowName == label }
        #expect(runs.count == 1 && runs[0].parameters["n"] == "21")
        let failed = try await broken.run()
        #expect(failed.state.kind == .failed)
        let message = failed.taskRuns.first?.state.message ?? ""
        #expect(message.contains("parameter 'n' expects Int"), "\(message)")
        group.cancelAll()
      }
    }
  }
}

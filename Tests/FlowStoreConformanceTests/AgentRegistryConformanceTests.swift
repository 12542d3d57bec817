import FlowCore
import FlowStorePostgres
import FlowTesting
import Foundation
import Logging
import PostgresNIO
import Testing

/// The agents' registry, the same on every adapter: an agent registers when it starts,
/// heartbeats, and marks itself stopped; the server merges it with the lease history.
@Suite("Agent registry conformance", .timeLimit(.minutes(2)))
struct AgentRegistryConformanceTests {
  static func agent(_ id: String, at seconds: Double, labels: [String] = ["gpu", "eu"])
    -> AgentRecord
  {
    AgentRecord(
      agentID: id, host: "host-\(id)", processID: 4242, labels: labels, limit: 3,
      flows: [FlowKey(name: "etl", version: "v1"), FlowKey(name: "report", version: "v2")],
      heartbeatInterval: .seconds(10), startedAt: instant(seconds))
  }

  /// A store of `kind` as a deployment store and a dashboard store.
  func withStores(
    _ kind: StoreKind, _ body: (any DeploymentStore, any RunStoreDashboard) async throws -> Void
  ) async throws {
    try await kind.withStore { store in
      let deployments = try #require(store as? any DeploymentStore)
      let dashboard = try #require(store as? any RunStoreDashboard)
      try await body(deployments, dashboard)
    }
  }

  @Test(
    "an agent registers, heartbeats, is listed with what it runs, and marks itself stopped",
    arguments: StoreKind.available)
  func lifecycle(kind: StoreKind) async throws {
    try await withStores(kind) { store, _ in
      #expect(try await store.registeredAgents().isEmpty)
      try await store.registerAgent(Self.agent("b", at: 0))
      try await store.registerAgent(Self.agent("a", at: 1, labels: []))
      var agents = try await store.registeredAgents()
      #expect(agents == [Self.agent("a", at: 1, labels: []), Self.agent("b", at: 0)])

      #expect(try await store.agentHeartbeat(agentID: "b", now: instant(5)))
      #expect(try await !store.agentHeartbeat(agentID: "nobody", now: instant(5)))
      agents = try await store.registeredAgents()
      #expect(same(agents.last?.lastHeartbeatAt, instant(5)))
      #expect(same(agents.last?.startedAt, instant(0)))
      #expect(agents.last?.heartbeatInterval == .seconds(10))

      try await store.stopAgent(agentID: "b", now: instant(7))
      try await store.stopAgent(agentID: "nobody", now: instant(7))
      agents = try await store.registeredAgents()
      #expect(agents.count == 2)
      #expect(same(agents.last?.stoppedAt, instant(7)))
      #expect(agents.first?.stoppedAt == nil)

      // Restarted under the same ID: its record is replaced and it runs again.
      try await store.registerAgent(Self.agent("b", at: 20))
      agents = try await store.registeredAgents()
      #expect(agents.last == Self.agent("b", at: 20))
    }
  }

  /// A project, a deployment of `etl` v1 and one queued run of it, for agents to claim.
  static func queueOneRun(_ store: any DeploymentStore) async throws {
    _ = try await store.createProject(ProjectRecord(name: "data", createdAt: instant(0)))
    let deployment = try await store.registerDeployment(
      DeploymentStoreConformanceTests.registration(), now: instant(0))
    _ = try await store.createDeploymentRun(
      DeploymentRunRequest(
        runID: uuid(1), deploymentID: deployment.id, scheduledAt: instant(0),
        idempotencyKey: "k1", now: instant(0)))
  }

  @Test(
    "health: Idle (heartbeats, holds nothing), Active, Unresponsive after 3 missed beats, Stopped",
    arguments: StoreKind.available)
  func health(kind: StoreKind) async throws {
    try await withStores(kind) { store, dashboard in
      try await Self.queueOneRun(store)
      try await store.registerAgent(Self.agent("idle", at: 0))
      try await store.registerAgent(Self.agent("busy", at: 0))
      try await store.registerAgent(Self.agent("gone", at: 0))
      _ = try await store.claimRuns(
        LeaseClaim(
          agentID: "busy", flows: [FlowKey(name: "etl", version: "v1")], limit: 1,
          leaseDuration: .seconds(300), now: instant(1)))

      func health(at seconds: Double) async throws -> [String: String] {
        let statuses = AgentStatus.merged(
          registered: try await store.registeredAgents(),
          leases: try await dashboard.agents(now: instant(seconds)))
        return Dictionary(
          uniqueKeysWithValues: statuses.map { ($0.agentID, $0.health(now: instant(seconds))) })
      }
      #expect(try await health(at: 2) == ["idle": "Idle", "busy": "Active", "gone": "Idle"])
      // The three-interval TTL (30 s): 29 s after its last heartbeat it is still Idle, 31 s
      // after, Unresponsive.
      #expect(try await health(at: 29)["idle"] == "Idle")
      #expect(try await store.agentHeartbeat(agentID: "idle", now: instant(25)))
      try await store.stopAgent(agentID: "gone", now: instant(26))
      let later = try await health(at: 54)
      #expect(later == ["idle": "Idle", "busy": "Active", "gone": "Stopped"], "\(later)")
      // `busy` holds an unexpired lease (renewing it is its heartbeat); `idle` missed three.
      #expect(
        try await health(at: 56) == ["idle": "Unresponsive", "busy": "Active", "gone": "Stopped"])
      #expect(try await health(at: 400)["busy"] == "Unresponsive")
    }
  }

  @Test(
    "an agent of the lease history that never registered is listed as before",
    arguments: StoreKind.available)
  func leaseOnly(kind: StoreKind) async throws {
    try await withStores(kind) { store, dashboard in
      try await Self.queueOneRun(store)
      _ = try await store.claimRuns(
        LeaseClaim(
          agentID: "old", flows: [FlowKey(name: "etl", version: "v1")], limit: 1,
          leaseDuration: .seconds(30), now: instant(1)))
      func status(at seconds: Double) async throws -> [AgentStatus] {
        AgentStatus.merged(
          registered: try await store.registeredAgents(),
          leases: try await dashboard.agents(now: instant(seconds)))
      }
      let statuses = try await status(at: 2)
      #expect(statuses.map(\.agentID) == ["old"])
      #expect(statuses.first?.registration == nil)
      #expect(statuses.first?.health(now: instant(2)) == "Active")
      // Its lease expired unreleased.
      #expect(try await status(at: 100).first?.health(now: instant(100)) == "Unresponsive")
    }
  }

  @Test("a version-2 database is migrated to the current version (the agents' table)")
  func migratesVersionTwo() async throws {
    let memory = MemoryRunStore()
    memory.setSchemaVersion(2)
    await #expect(throws: RunStoreError.self) { try await memory.registeredAgents() }
    try await memory.migrate()
    try await memory.registerAgent(Self.agent("a", at: 0))
    #expect(try await memory.registeredAgents().count == 1)

    guard StoreKind.postgresURL != nil else { return }
    try await withTemporaryPostgresDatabase { url in
      try await PostgresRunStore.withStore(url: url) { store in
        try await store.registerAgent(Self.agent("a", at: 0))
      }
      // Back to what a version-2 binary left: no agents' table.
      try await Self.rawPostgres(
        url, "DROP TABLE agents",
        "ALTER TABLE deployments DROP COLUMN schedule_paused, DROP COLUMN schedule_resumed_at",
        "UPDATE flow_schema SET version = 2")
      let error = await #expect(throws: RunStoreError.self) {
        try await PostgresRunStore.withStore(url: url, migrating: false) { _ in }
      }
      #expect(error?.code == .needsMigration)
      try await PostgresRunStore.withStore(url: url) { store in
        #expect(try await store.schemaStatus().databaseVersion == RunStoreSchema.current)
        try await store.registerAgent(Self.agent("a", at: 0))
        #expect(try await store.registeredAgents().map(\.agentID) == ["a"])
      }
      // An older binary refuses a newer database.
      try await Self.rawPostgres(
        url, "UPDATE flow_schema SET version = \(RunStoreSchema.current + 1)")
      let newer = await #expect(throws: RunStoreError.self) {
        try await PostgresRunStore.withStore(url: url) { _ in }
      }
      #expect(newer?.code == .newerSchema)
    }
  }

  static func rawPostgres(_ url: String, _ statements: String...) async throws {
    let base = try #require(URLComponents(string: url))
    let logger = Logger(label: "flow-test")
    let connection = try await PostgresConnection.connect(
      configuration: .init(
        host: base.host ?? "127.0.0.1", port: base.port ?? 5432, username: base.user ?? "flow",
        password: base.password, database: String(base.path.dropFirst()), tls: .disable),
      id: 2, logger: logger)
    for statement in statements {
      try await connection.query(PostgresQuery(unsafeSQL: statement), logger: logger)
    }
    try await connection.close()
  }
}

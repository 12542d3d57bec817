import FlowCore
import Foundation
internal import NIOCore
internal import SQLiteNIO

/// Statements on the writer connection inside an immediate transaction.
private struct SQLiteExecutor: SQLExecutor {
  let writer: SQLiteWriter

  func run(_ statement: SQLStatement) async throws -> [SQLRow] {
    // The job is awaited, never cancelled: a transaction is not cut short mid-way.
    try await writer.execute(statement.sql, statement.binds)
  }
}

/// The SQLite store as the shared deployment SQL sees it.
struct SQLiteDatabase: SQLDatabase {
  let store: SQLiteRunStore

  var description: String { store.description }

  func read(_ statement: SQLStatement) async throws(RunStoreError) -> [SQLRow] {
    try await store.query(statement)
  }

  func transaction<T: Sendable>(_ body: (any SQLExecutor) async throws -> T)
    async throws(RunStoreError) -> T
  {
    let store = store
    return try await store.gate.run { () async throws(RunStoreError) -> T in
      do {
        // An immediate transaction takes the write lock first: claims by agents in other
        // processes wait for it (busy_timeout) instead of both reading the same due runs.
        try await store.write("BEGIN IMMEDIATE")
        do {
          let result = try await body(SQLiteExecutor(writer: store.writer))
          try await store.write("COMMIT")
          return result
        } catch {
          try? await store.write("ROLLBACK")
          throw error
        }
      } catch {
        throw store.fail(error)
      }
    }
  }
}

extension SQLiteRunStore: DeploymentStore {
  private static let deploymentSQL = DeploymentStoreSQL(
    placeholder: { "?\($0)" }, skipLocked: "", forUpdate: "")
  var database: SQLiteDatabase { SQLiteDatabase(store: self) }
  private var deploymentSQL: DeploymentStoreSQL { Self.deploymentSQL }

  /// Creates the project, or returns the existing one.
  public func createProject(_ project: ProjectRecord) async throws(RunStoreError) -> ProjectRecord {
    try await deploymentSQL.createProject(project, on: database)
  }

  /// Every project, by name.
  public func projects() async throws(RunStoreError) -> [ProjectRecord] {
    try await deploymentSQL.projects(on: database)
  }

  /// Registers or re-registers a deployment.
  public func registerDeployment(_ registration: DeploymentRegistration, now: Date)
    async throws(RunStoreError) -> DeploymentRecord
  {
    try await deploymentSQL.registerDeployment(registration, now: now, on: database)
  }

  /// The deployments of a project, or of every project.
  public func deployments(project: String?) async throws(RunStoreError) -> [DeploymentRecord] {
    try await deploymentSQL.deployments(project: project, on: database)
  }

  /// The deployment named `name` in `project`, or nil.
  public func deployment(project: String, name: String) async throws(RunStoreError)
    -> DeploymentRecord?
  {
    try await deploymentSQL.deployment(project: project, name: name, on: database)
  }

  /// The deployment with this ID, or nil.
  public func deployment(id: UUID) async throws(RunStoreError) -> DeploymentRecord? {
    try await deploymentSQL.deployment(id: id, on: database)
  }

  /// Every version of the deployment, oldest first.
  public func deploymentVersions(deploymentID: UUID) async throws(RunStoreError)
    -> [DeploymentVersionRecord]
  {
    try await deploymentSQL.deploymentVersions(deploymentID: deploymentID, on: database)
  }

  /// Creates a run of a deployment (idempotent by key).
  public func createDeploymentRun(_ request: DeploymentRunRequest) async throws(RunStoreError)
    -> DeploymentRunCreation
  {
    try await deploymentSQL.createDeploymentRun(request, on: database)
  }

  /// The deployment run with this ID, or nil.
  public func deploymentRun(id: UUID) async throws(RunStoreError) -> DeploymentRunRecord? {
    try await deploymentSQL.deploymentRun(id: id, on: database)
  }

  /// Deployment runs, latest scheduled first.
  public func deploymentRuns(_ query: DeploymentRunQuery) async throws(RunStoreError)
    -> [DeploymentRunRecord]
  {
    try await deploymentSQL.deploymentRuns(query, on: database)
  }

  /// The latest fire time with a scheduled run.
  public func latestScheduledFireTime(deploymentID: UUID) async throws(RunStoreError) -> Date? {
    try await deploymentSQL.latestScheduledFireTime(deploymentID: deploymentID, on: database)
  }

  /// Pauses or resumes the deployment's schedule (pausing removes its unstarted runs).
  public func setSchedulePaused(_ paused: Bool, deploymentID: UUID, now: Date)
    async throws(RunStoreError) -> DeploymentScheduleChange
  {
    try await deploymentSQL.setSchedulePaused(
      paused, deploymentID: deploymentID, now: now, on: database)
  }

  /// Deletes the deployment (its unstarted runs removed, its started ones cancelled).
  public func deleteDeployment(id: UUID, now: Date) async throws(RunStoreError)
    -> DeploymentDeletion
  {
    try await deploymentSQL.deleteDeployment(id: id, now: now, on: database)
  }

  /// Requests cancellation of a run.
  public func requestCancellation(runID: UUID, now: Date) async throws(RunStoreError)
    -> DeploymentRunRecord
  {
    try await deploymentSQL.requestCancellation(runID: runID, now: now, on: database)
  }

  /// Marks overdue Scheduled runs Late.
  public func markLate(scheduledBefore cutoff: Date, now: Date) async throws(RunStoreError)
    -> [UUID]
  {
    try await deploymentSQL.markLate(scheduledBefore: cutoff, now: now, on: database)
  }

  /// Claims due runs in an immediate transaction.
  public func claim(_ claim: LeaseClaim) async throws(RunStoreError) -> [ClaimedRun] {
    try await deploymentSQL.claim(claim, on: database)
  }

  /// How long until a run of the claim's flows next becomes claimable.
  public func nextClaimable(after claim: LeaseClaim, now: Date) async throws(RunStoreError)
    -> Duration?
  {
    try await deploymentSQL.nextClaimable(after: claim, now: now, on: database)
  }

  /// Renews leases.
  public func renewLeases(_ leases: [RunLease], leaseDuration: Duration, now: Date)
    async throws(RunStoreError) -> LeaseRenewal
  {
    try await deploymentSQL.renewLeases(
      leases, leaseDuration: leaseDuration, now: now, on: database)
  }

  /// Writes runs' records under their leases in one transaction, each fenced on its own.
  public func write(_ writes: [FencedWrite], now: Date) async throws(RunStoreError)
    -> [RunStoreError?]
  {
    try await deploymentSQL.write(writes, now: now, on: database)
  }

  /// Stores task outputs in one transaction (chunked: see ``RunResultStorage``).
  public func writeResults(_ results: [RunResultRecord]) async throws(RunStoreError) {
    try await deploymentSQL.writeResults(results, on: database)
  }

  /// Every value the flow run stored.
  public func results(flowRunID: UUID) async throws(RunStoreError) -> [RunResultRecord] {
    try await deploymentSQL.results(flowRunID: flowRunID, on: database)
  }

  /// Every holding of the run.
  public func leaseHistory(runID: UUID) async throws(RunStoreError) -> [LeaseHistoryRecord] {
    try await deploymentSQL.leaseHistory(runID: runID, on: database)
  }

  /// Registers the agent.
  public func registerAgent(_ agent: AgentRecord) async throws(RunStoreError) {
    try await deploymentSQL.registerAgent(agent, on: database)
  }

  /// Records the agent's heartbeat; false when it is not registered.
  public func agentHeartbeat(agentID: String, now: Date) async throws(RunStoreError) -> Bool {
    try await deploymentSQL.agentHeartbeat(agentID: agentID, now: now, on: database)
  }

  /// Marks the agent stopped.
  public func stopAgent(agentID: String, now: Date) async throws(RunStoreError) {
    try await deploymentSQL.stopAgent(agentID: agentID, now: now, on: database)
  }

  /// Every registered agent, by ID.
  public func registeredAgents() async throws(RunStoreError) -> [AgentRecord] {
    try await deploymentSQL.registeredAgents(on: database)
  }
}

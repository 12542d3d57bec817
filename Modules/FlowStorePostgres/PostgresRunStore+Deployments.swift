import FlowCore
import Foundation
import Logging
internal import NIOCore
internal import PostgresNIO

/// Statements on one connection inside a transaction.
private struct PostgresExecutor: SQLExecutor {
  let connection: PostgresConnection
  let logger: Logger

  func run(_ statement: SQLStatement) async throws -> [SQLRow] {
    try await PostgresRunStore.rows(
      connection.query(
        PostgresQuery(unsafeSQL: statement.sql, binds: PostgresRunStore.bindings(statement.binds)),
        logger: logger))
  }
}

/// The PostgreSQL store as the shared deployment SQL sees it.
struct PostgresDatabase: SQLDatabase {
  let store: PostgresRunStore

  var description: String { store.description }

  func read(_ statement: SQLStatement) async throws(RunStoreError) -> [SQLRow] {
    try await store.query(statement)
  }

  func transaction<T: Sendable>(_ body: (any SQLExecutor) async throws -> T)
    async throws(RunStoreError) -> T
  {
    do {
      let logger = store.logger
      return try await store.client.withTransaction(logger: logger) { connection in
        try await body(PostgresExecutor(connection: connection, logger: logger))
      }
    } catch {
      throw PostgresRunStore.map(error, location: store.description)
    }
  }

  func execute(_ statement: SQLStatement) async throws(RunStoreError) -> [SQLRow] {
    guard statement.prepared, let fixed = Self.fixedStatements[statement.sql] else {
      return try await store.query(statement)
    }
    do {
      return try await run(fixed, binds: PostgresRunStore.bindings(statement.binds))
    } catch {
      throw PostgresRunStore.map(error, location: store.description)
    }
  }

  /// The hot statements of fixed text, by text: prepared once per pooled connection.
  private static let fixedStatements: [String: any FixedStatement.Type] = Dictionary(
    uniqueKeysWithValues: [
      ClaimByServerClock.self, ClaimByCallerClock.self, FlushByServerClock.self,
      FlushByCallerClock.self,
    ].map { ($0.sql, $0) })

  private func run<Statement: FixedStatement>(_ type: Statement.Type, binds: PostgresBindings)
    async throws -> [SQLRow]
  {
    try await PostgresRunStore.rows(
      store.client.execute(Statement(binds: binds), logger: store.logger))
  }
}

/// A statement of fixed text that PostgreSQL prepares once per connection and then runs with
/// new binds without planning it again (postgres-nio names a prepared statement by its type).
private protocol FixedStatement: PostgresPreparedStatement where Row == PostgresRow {
  init(binds: PostgresBindings)
}

extension FixedStatement {
  func decodeRow(_ row: PostgresRow) throws -> PostgresRow { row }
}

/// The claim, leases judged by the server's clock.
private struct ClaimByServerClock: FixedStatement {
  static let sql = DeploymentStoreSQL.claimSQL(databaseNow: PostgresRunStore.serverNowSQL)
  let binds: PostgresBindings
  func makeBindings() throws -> PostgresBindings { binds }
}

/// The claim, leases judged by the caller's clock.
private struct ClaimByCallerClock: FixedStatement {
  static let sql = DeploymentStoreSQL.claimSQL(databaseNow: nil)
  let binds: PostgresBindings
  func makeBindings() throws -> PostgresBindings { binds }
}

/// An agent's flush, leases judged by the server's clock.
private struct FlushByServerClock: FixedStatement {
  static let sql = DeploymentStoreSQL.flushSQL(databaseNow: PostgresRunStore.serverNowSQL)
  let binds: PostgresBindings
  func makeBindings() throws -> PostgresBindings { binds }
}

/// An agent's flush, leases judged by the caller's clock.
private struct FlushByCallerClock: FixedStatement {
  static let sql = DeploymentStoreSQL.flushSQL(databaseNow: nil)
  let binds: PostgresBindings
  func makeBindings() throws -> PostgresBindings { binds }
}

/// Whose clock a PostgreSQL store judges leases by: when claims, renewals and fenced writes
/// happen, and so when a lease expires.
public struct PostgresLeaseClock: Sendable, Hashable, CustomStringConvertible {
  /// `database` or `caller`.
  public let name: String

  /// The server's clock (`clock_timestamp()`), the default: agents on machines whose clocks
  /// disagree still agree on every lease, and an agent's skewed clock cannot stretch one.
  public static let database = PostgresLeaseClock(name: "database")
  /// The `now` each call passes, as SQLite and the in-memory store do (tests that drive
  /// leases with a virtual clock).
  public static let caller = PostgresLeaseClock(name: "caller")

  /// The clock's name.
  public var description: String { name }
}

extension PostgresRunStore: DeploymentStore {
  private static func deploymentSQL(databaseNow: String?) -> DeploymentStoreSQL {
    DeploymentStoreSQL(
      placeholder: { "$\($0)" }, skipLocked: " FOR UPDATE SKIP LOCKED", forUpdate: " FOR UPDATE",
      notify: "SELECT pg_notify('\(DeploymentStoreSQL.notificationChannel)', $1)",
      databaseNow: databaseNow, writingCTEs: true)
  }
  /// Microseconds since 1970 on the server's clock, in SQL.
  static let serverNowSQL = "(EXTRACT(EPOCH FROM clock_timestamp()) * 1000000)::BIGINT"
  private static let databaseClockSQL = deploymentSQL(databaseNow: serverNowSQL)
  private static let callerClockSQL = deploymentSQL(databaseNow: nil)
  var database: PostgresDatabase { PostgresDatabase(store: self) }
  private var deploymentSQL: DeploymentStoreSQL {
    leaseClock == .caller ? Self.callerClockSQL : Self.databaseClockSQL
  }

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

  /// Claims due runs with `FOR UPDATE SKIP LOCKED`: agents never wait for each other.
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

  /// Calls `wake` each time a run becomes claimable (LISTEN on the store's channel; NOTIFY is
  /// sent when a run is created or given back), until the calling task is cancelled. Throws
  /// when the listening connection is lost.
  public func listenForDueRuns(_ wake: @escaping @Sendable () -> Void) async throws {
    try await listenForDueTimes { _ in wake() }
  }

  /// Calls `wake` with the time a new run falls due (nil: now, for a run given back) each
  /// time one is created or given back, until the calling task is cancelled: an agent arms a
  /// timer for a run due later instead of claiming at once. Throws when the listening
  /// connection is lost.
  public func listenForDueTimes(_ wake: @escaping @Sendable (Date?) -> Void) async throws {
    do {
      try await client.withConnection { connection in
        try await connection.listen(on: DeploymentStoreSQL.notificationChannel) { notifications in
          for try await notification in notifications {
            wake(Int64(notification.payload).map(RunStoreCoding.date))
          }
        }
      }
    } catch is CancellationError {
      return
    } catch {
      if Task.isCancelled { return }
      throw Self.map(error, location: description)
    }
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

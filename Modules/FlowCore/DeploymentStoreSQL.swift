import Foundation

/// Runs statements inside one database transaction.
package protocol SQLExecutor {
  /// Runs `statement` and returns its rows.
  func run(_ statement: SQLStatement) async throws -> [SQLRow]
}

/// What the deployment SQL needs from a database adapter: reads and transactions.
package protocol SQLDatabase: Sendable {
  /// The store's description, for errors.
  var description: String { get }
  /// Runs one read outside a transaction.
  func read(_ statement: SQLStatement) async throws(RunStoreError) -> [SQLRow]
  /// Runs `body` in one write transaction (committed when it returns, rolled back when it
  /// throws; a ``RunStoreError`` it throws is rethrown as it is).
  func transaction<T: Sendable>(_ body: (any SQLExecutor) async throws -> T)
    async throws(RunStoreError) -> T
  /// Runs one statement that writes, atomically on its own (PostgreSQL: one round trip, no
  /// BEGIN and COMMIT around it).
  func execute(_ statement: SQLStatement) async throws(RunStoreError) -> [SQLRow]
}

extension SQLDatabase {
  /// Runs the statement in a transaction of its own.
  package func execute(_ statement: SQLStatement) async throws(RunStoreError) -> [SQLRow] {
    try await transaction { executor in try await executor.run(statement) }
  }
}

/// The deployment store's SQL and logic, shared by the SQLite and PostgreSQL adapters: only
/// the placeholder syntax and the row-locking clauses differ.
package struct DeploymentStoreSQL: Sendable {
  private let placeholder: @Sendable (Int) -> String
  /// Appended to the claim's candidate query (`FOR UPDATE SKIP LOCKED` on PostgreSQL).
  private let skipLocked: String
  /// Appended to a single-row read that a write follows (`FOR UPDATE` on PostgreSQL).
  private let forUpdate: String
  /// Whether the database runs data-modifying common table expressions (PostgreSQL's
  /// `WITH x AS (UPDATE … RETURNING …)`): a claim and a run's release are then one statement
  /// each instead of a transaction of several round trips.
  let writingCTEs: Bool
  /// Run in a transaction that makes runs claimable (PostgreSQL's `pg_notify`: agents that
  /// LISTEN wake at its commit), with one placeholder for the payload (the time the run falls
  /// due); nil where there is no such thing.
  private let notify: String?
  /// An SQL expression for the database's clock in microseconds since 1970 (PostgreSQL's
  /// `clock_timestamp()`): when set, leases are claimed, renewed and checked by it, not by
  /// the `now` the agents pass, so that agents with skewed clocks agree. Nil: the caller's.
  let databaseNow: String?
  private let runs: RunStoreSQL
  /// The results' SQL (durable execution).
  private let resultSQL: RunResultSQL
  /// The claim's statement for this database's clock (``claimSQL(databaseNow:)``).
  private let claimText: String
  /// The flush's statement for this database's clock (``flushSQL(databaseNow:)``), where
  /// data-modifying CTEs work.
  let flushText: String

  /// The channel agents LISTEN on for new claimable runs (PostgreSQL).
  package static let notificationChannel = "swift_flow_runs_due"

  /// SQL for a database with the given placeholders and locking clauses (empty on SQLite,
  /// whose write transactions are exclusive: `BEGIN IMMEDIATE`) and notification statement;
  /// `writingCTEs` where data-modifying common table expressions work (PostgreSQL).
  package init(
    placeholder: @escaping @Sendable (Int) -> String, skipLocked: String, forUpdate: String,
    notify: String? = nil, databaseNow: String? = nil, writingCTEs: Bool = false
  ) {
    self.placeholder = placeholder
    self.writingCTEs = writingCTEs
    self.skipLocked = skipLocked
    self.forUpdate = forUpdate
    self.notify = notify
    self.databaseNow = databaseNow
    self.runs = RunStoreSQL(placeholder: placeholder)
    self.resultSQL = RunResultSQL(placeholder: placeholder)
    self.claimText = Self.claimSQL(databaseNow: databaseNow)
    self.flushText = writingCTEs ? Self.flushSQL(databaseNow: databaseNow) : ""
  }

  /// The time leases are judged by inside a transaction: the database's clock when it has one
  /// (read once per transaction), else `given`.
  private func leaseTime(_ given: Date, on executor: any SQLExecutor) async throws -> Date {
    guard let databaseNow else { return given }
    let row = try await executor.run(SQLStatement(sql: "SELECT \(databaseNow) AS now")).first
    return Self.date(row?["now"]) ?? given
  }

  /// Tells listening agents a run is claimable from `dueAt` (nil: now); the payload is its
  /// time in microseconds, so that an agent arms a timer instead of claiming at once.
  private func notifyAgents(dueAt: Date?, on executor: any SQLExecutor) async throws {
    guard let notify else { return }
    let payload = dueAt.map { String(RunStoreCoding.micros($0)) } ?? ""
    _ = try await executor.run(SQLStatement(sql: notify, binds: [.text(payload)]))
  }

  /// The schema's version-2 statements (projects, deployments, their runs and leases).
  package static let migration: [String] = [
    """
    CREATE TABLE projects (name TEXT PRIMARY KEY, description TEXT NOT NULL,
      created_at BIGINT NOT NULL)
    """,
    """
    CREATE TABLE deployments (id TEXT PRIMARY KEY, project TEXT NOT NULL, name TEXT NOT NULL,
      flow_name TEXT NOT NULL, flow_version TEXT NOT NULL, version BIGINT NOT NULL,
      parameter_schema TEXT NOT NULL, schedule TEXT, default_parameters TEXT NOT NULL,
      labels TEXT NOT NULL, crash_retries BIGINT NOT NULL, created_at BIGINT NOT NULL,
      updated_at BIGINT NOT NULL, UNIQUE (project, name))
    """,
    """
    CREATE TABLE deployment_versions (deployment_id TEXT NOT NULL, version BIGINT NOT NULL,
      flow_version TEXT NOT NULL, parameter_schema TEXT NOT NULL, registered_at BIGINT NOT NULL,
      PRIMARY KEY (deployment_id, version))
    """,
    """
    CREATE TABLE deployment_runs (id TEXT PRIMARY KEY, deployment_id TEXT NOT NULL,
      deployment_version BIGINT NOT NULL, flow_name TEXT NOT NULL, flow_version TEXT NOT NULL,
      idempotency_key TEXT NOT NULL, origin TEXT NOT NULL, parameters TEXT NOT NULL,
      scheduled_at BIGINT NOT NULL, created_at BIGINT NOT NULL, state TEXT NOT NULL,
      message TEXT, labels TEXT NOT NULL, lease_agent TEXT, lease_epoch BIGINT NOT NULL,
      lease_expires_at BIGINT, crashes BIGINT NOT NULL, crash_retries BIGINT NOT NULL,
      cancel_requested BIGINT NOT NULL, ended_at BIGINT,
      UNIQUE (deployment_id, idempotency_key))
    """,
    "CREATE INDEX deployment_runs_due ON deployment_runs (state, scheduled_at)",
    "CREATE INDEX deployment_runs_by_deployment ON deployment_runs (deployment_id, scheduled_at)",
    """
    CREATE TABLE run_labels (run_id TEXT NOT NULL, label TEXT NOT NULL,
      PRIMARY KEY (run_id, label))
    """,
    """
    CREATE TABLE run_leases (run_id TEXT NOT NULL, epoch BIGINT NOT NULL,
      agent_id TEXT NOT NULL, claimed_at BIGINT NOT NULL, expires_at BIGINT NOT NULL,
      released_at BIGINT, PRIMARY KEY (run_id, epoch))
    """,
  ]

  /// The schema's version-7 statements: a deployment's schedule can be paused.
  package static func schedulePauseMigration(sqlite: Bool) -> [String] {
    let add = "ALTER TABLE deployments ADD COLUMN \(sqlite ? "" : "IF NOT EXISTS ")"
    return [
      add + "schedule_paused BIGINT NOT NULL DEFAULT 0", add + "schedule_resumed_at BIGINT",
    ]
  }

  /// The schema's version-3 statements: the agents' registry.
  package static let agentsMigration: [String] = [
    """
    CREATE TABLE agents (agent_id TEXT PRIMARY KEY, host TEXT NOT NULL, pid BIGINT NOT NULL,
      labels TEXT NOT NULL, run_limit BIGINT NOT NULL, flows TEXT NOT NULL,
      heartbeat_interval BIGINT NOT NULL, started_at BIGINT NOT NULL,
      heartbeat_at BIGINT NOT NULL, stopped_at BIGINT)
    """
  ]

  // MARK: Building statements

  /// Collects binds and writes their placeholders (a class: `b.statement("…\(b(x))")`
  /// must see the binds its argument adds).
  private final class Binder {
    let placeholder: @Sendable (Int) -> String
    var binds: [SQLValue] = []

    init(placeholder: @escaping @Sendable (Int) -> String) { self.placeholder = placeholder }

    func callAsFunction(_ value: SQLValue) -> String {
      binds.append(value)
      return placeholder(binds.count)
    }

    func statement(_ sql: String) -> SQLStatement { SQLStatement(sql: sql, binds: binds) }
  }

  private func binder() -> Binder { Binder(placeholder: placeholder) }

  private static func id(_ id: UUID) -> SQLValue { .text(id.uuidString.lowercased()) }
  private static func time(_ date: Date?) -> SQLValue {
    date.map { .integer(RunStoreCoding.micros($0)) } ?? .null
  }
  private static func text(_ text: String?) -> SQLValue { text.map { .text($0) } ?? .null }
  private static func json<T: Encodable>(_ value: T) -> SQLValue {
    .text(RunStoreCoding.json(value))
  }
  private static func micros(_ duration: Duration) -> Int64 {
    let (seconds, attoseconds) = duration.components
    return seconds * 1_000_000 + attoseconds / 1_000_000_000_000
  }

  private static let deploymentColumns =
    "id, project, name, flow_name, flow_version, version, parameter_schema, schedule, "
    + "default_parameters, labels, crash_retries, created_at, updated_at, schedule_paused, "
    + "schedule_resumed_at"
  static let runColumns =
    "id, deployment_id, deployment_version, flow_name, flow_version, idempotency_key, origin, "
    + "parameters, scheduled_at, created_at, state, message, labels, lease_agent, lease_epoch, "
    + "lease_expires_at, crashes, crash_retries, cancel_requested, ended_at"

  // MARK: Decoding rows

  private static func uuid(_ value: SQLValue?) -> UUID? { value?.text.flatMap(UUID.init) }
  static func date(_ value: SQLValue?) -> Date? {
    value?.integer.map(RunStoreCoding.date)
  }

  private static func project(_ row: SQLRow) -> ProjectRecord? {
    guard let name = row["name"]?.text else { return nil }
    return ProjectRecord(
      name: name, description: row["description"]?.text ?? "",
      createdAt: date(row["created_at"]) ?? .distantPast)
  }

  private static func deployment(_ row: SQLRow) -> DeploymentRecord? {
    guard let id = uuid(row["id"]) else { return nil }
    return DeploymentRecord(
      id: id, project: row["project"]?.text ?? "", name: row["name"]?.text ?? "",
      flowName: row["flow_name"]?.text ?? "", flowVersion: row["flow_version"]?.text ?? "",
      version: Int(row["version"]?.integer ?? 1),
      parameterSchemaJSON: row["parameter_schema"]?.text ?? "{}",
      schedule: row["schedule"]?.text.flatMap {
        RunStoreCoding.decode($0, as: DeploymentScheduleSpec?.self, or: nil)
      },
      defaultParameters: RunStoreCoding.decode(
        row["default_parameters"]?.text ?? "{}", as: [String: String].self, or: [:]),
      labels: RunStoreCoding.decode(row["labels"]?.text ?? "[]", as: [String].self, or: []),
      crashRetries: Int(row["crash_retries"]?.integer ?? 0),
      createdAt: date(row["created_at"]) ?? .distantPast,
      updatedAt: date(row["updated_at"]) ?? .distantPast,
      schedulePaused: (row["schedule_paused"]?.integer ?? 0) != 0,
      scheduleResumedAt: date(row["schedule_resumed_at"]))
  }

  static func run(_ row: SQLRow) -> DeploymentRunRecord? {
    guard let id = uuid(row["id"]), let deploymentID = uuid(row["deployment_id"]) else {
      return nil
    }
    return DeploymentRunRecord(
      id: id, deploymentID: deploymentID,
      deploymentVersion: Int(row["deployment_version"]?.integer ?? 1),
      flowName: row["flow_name"]?.text ?? "", flowVersion: row["flow_version"]?.text ?? "",
      idempotencyKey: row["idempotency_key"]?.text ?? "",
      origin: DeploymentRunOrigin(name: row["origin"]?.text ?? "manual"),
      parameters: RunStoreCoding.decode(
        row["parameters"]?.text ?? "{}", as: [String: String].self, or: [:]),
      scheduledAt: date(row["scheduled_at"]) ?? .distantPast,
      createdAt: date(row["created_at"]) ?? .distantPast, state: row["state"]?.text ?? "",
      message: row["message"]?.text,
      labels: RunStoreCoding.decode(row["labels"]?.text ?? "[]", as: [String].self, or: []),
      leaseAgent: row["lease_agent"]?.text, leaseEpoch: row["lease_epoch"]?.integer ?? 0,
      leaseExpiresAt: date(row["lease_expires_at"]),
      crashes: Int(row["crashes"]?.integer ?? 0),
      crashRetries: Int(row["crash_retries"]?.integer ?? 0),
      cancelRequested: (row["cancel_requested"]?.integer ?? 0) != 0,
      endedAt: date(row["ended_at"]))
  }

  private static func agent(_ row: SQLRow) -> AgentRecord? {
    guard let id = row["agent_id"]?.text, let started = date(row["started_at"]) else {
      return nil
    }
    return AgentRecord(
      agentID: id, host: row["host"]?.text ?? "", processID: Int(row["pid"]?.integer ?? 0),
      labels: RunStoreCoding.decode(row["labels"]?.text ?? "[]", as: [String].self, or: []),
      limit: Int(row["run_limit"]?.integer ?? 0),
      flows: RunStoreCoding.decode(row["flows"]?.text ?? "[]", as: [FlowKey].self, or: []),
      heartbeatInterval: .microseconds(row["heartbeat_interval"]?.integer ?? 0),
      startedAt: started, lastHeartbeatAt: date(row["heartbeat_at"]) ?? started,
      stoppedAt: date(row["stopped_at"]))
  }

  // MARK: Agents

  package func registerAgent(_ agent: AgentRecord, on db: some SQLDatabase)
    async throws(RunStoreError)
  {
    let interval = Int64((agent.heartbeatInterval.timeInterval * 1_000_000).rounded())
    try await db.transaction { executor in
      let b = binder()
      let statement = b.statement(
        "INSERT INTO agents (agent_id, host, pid, labels, run_limit, flows, heartbeat_interval, "
          + "started_at, heartbeat_at, stopped_at) VALUES (\(b(.text(agent.agentID))), "
          + "\(b(.text(agent.host))), \(b(.integer(Int64(agent.processID)))), "
          + "\(b(Self.json(agent.labels))), \(b(.integer(Int64(agent.limit)))), "
          + "\(b(Self.json(agent.flows))), \(b(.integer(interval))), "
          + "\(b(Self.time(agent.startedAt))), \(b(Self.time(agent.lastHeartbeatAt))), "
          + "\(b(Self.time(agent.stoppedAt)))) ON CONFLICT (agent_id) DO UPDATE SET "
          + "host = excluded.host, pid = excluded.pid, labels = excluded.labels, "
          + "run_limit = excluded.run_limit, flows = excluded.flows, "
          + "heartbeat_interval = excluded.heartbeat_interval, started_at = excluded.started_at, "
          + "heartbeat_at = excluded.heartbeat_at, stopped_at = excluded.stopped_at")
      _ = try await executor.run(statement)
    }
  }

  package func agentHeartbeat(agentID: String, now: Date, on db: some SQLDatabase)
    async throws(RunStoreError) -> Bool
  {
    try await db.transaction { executor in
      let b = binder()
      let statement = b.statement(
        "UPDATE agents SET heartbeat_at = \(b(Self.time(now))), stopped_at = NULL "
          + "WHERE agent_id = \(b(.text(agentID))) RETURNING agent_id")
      return try await !executor.run(statement).isEmpty
    }
  }

  package func stopAgent(agentID: String, now: Date, on db: some SQLDatabase)
    async throws(RunStoreError)
  {
    try await db.transaction { executor in
      let b = binder()
      let statement = b.statement(
        "UPDATE agents SET heartbeat_at = \(b(Self.time(now))), stopped_at = \(b(Self.time(now))) "
          + "WHERE agent_id = \(b(.text(agentID)))")
      _ = try await executor.run(statement)
    }
  }

  package func registeredAgents(on db: some SQLDatabase) async throws(RunStoreError)
    -> [AgentRecord]
  {
    try await db.read(
      SQLStatement(
        sql: "SELECT agent_id, host, pid, labels, run_limit, flows, heartbeat_interval, "
          + "started_at, heartbeat_at, stopped_at FROM agents ORDER BY agent_id")
    ).compactMap(Self.agent)
  }

  // MARK: Projects

  package func createProject(_ project: ProjectRecord, on db: some SQLDatabase)
    async throws(RunStoreError) -> ProjectRecord
  {
    try await db.transaction { executor in
      let b = binder()
      let statement = b.statement(
        "INSERT INTO projects (name, description, created_at) VALUES (\(b(.text(project.name))), "
          + "\(b(.text(project.description))), \(b(Self.time(project.createdAt)))) "
          + "ON CONFLICT DO NOTHING")
      _ = try await executor.run(statement)
      let s = binder()
      let select = s.statement(
        "SELECT name, description, created_at FROM projects WHERE name = \(s(.text(project.name)))"
      )
      return try await executor.run(select).first.flatMap(Self.project) ?? project
    }
  }

  package func projects(on db: some SQLDatabase) async throws(RunStoreError) -> [ProjectRecord] {
    try await db.read(
      SQLStatement(sql: "SELECT name, description, created_at FROM projects ORDER BY name")
    ).compactMap(Self.project)
  }

  // MARK: Deployments

  package func registerDeployment(
    _ registration: DeploymentRegistration, now: Date, on db: some SQLDatabase
  ) async throws(RunStoreError) -> DeploymentRecord {
    let location = db.description
    return try await db.transaction { executor in
      let p = binder()
      let project = p.statement(
        "SELECT name FROM projects WHERE name = \(p(.text(registration.project)))")
      if try await executor.run(project).isEmpty {
        throw RunStoreError.unknownProject(location: location, name: registration.project)
      }
      var flows = RunStoreBatch()
      flows.flows = [registration.flow]
      for statement in runs.write(flows) { _ = try await executor.run(statement) }
      let s = binder()
      let select = s.statement(
        "SELECT \(Self.deploymentColumns) FROM deployments WHERE project = "
          + "\(s(.text(registration.project))) AND name = \(s(.text(registration.name)))"
          + forUpdate)
      let existing = try await executor.run(select).first.flatMap(Self.deployment)
      let schedule: SQLValue =
        registration.schedule.map { Self.json($0) } ?? .null
      var record: DeploymentRecord
      if var current = existing {
        let changed = current.reregister(registration, now: now)
        record = current
        let u = binder()
        let update = u.statement(
          "UPDATE deployments SET flow_version = \(u(.text(record.flowVersion))), version = "
            + "\(u(.integer(Int64(record.version)))), parameter_schema = "
            + "\(u(.text(record.parameterSchemaJSON))), schedule = \(u(schedule)), "
            + "default_parameters = \(u(Self.json(record.defaultParameters))), labels = "
            + "\(u(Self.json(record.labels))), crash_retries = "
            + "\(u(.integer(Int64(record.crashRetries)))), updated_at = \(u(Self.time(now))) "
            + "WHERE id = \(u(Self.id(record.id)))")
        _ = try await executor.run(update)
        guard changed else { return record }
      } else {
        record = DeploymentRecord(registering: registration, now: now)
        let i = binder()
        let insert = i.statement(
          "INSERT INTO deployments (\(Self.deploymentColumns)) VALUES (\(i(Self.id(record.id))), "
            + "\(i(.text(record.project))), \(i(.text(record.name))), "
            + "\(i(.text(record.flowName))), \(i(.text(record.flowVersion))), "
            + "\(i(.integer(1))), \(i(.text(record.parameterSchemaJSON))), \(i(schedule)), "
            + "\(i(Self.json(record.defaultParameters))), \(i(Self.json(record.labels))), "
            + "\(i(.integer(Int64(record.crashRetries)))), \(i(Self.time(now))), "
            + "\(i(Self.time(now))), \(i(.integer(0))), \(i(.null)))")
        _ = try await executor.run(insert)
      }
      let v = binder()
      let version = v.statement(
        "INSERT INTO deployment_versions (deployment_id, version, flow_version, "
          + "parameter_schema, registered_at) VALUES (\(v(Self.id(record.id))), "
          + "\(v(.integer(Int64(record.version)))), \(v(.text(record.flowVersion))), "
          + "\(v(.text(record.parameterSchemaJSON))), \(v(Self.time(now))))")
      _ = try await executor.run(version)
      return record
    }
  }

  package func deployments(project: String?, on db: some SQLDatabase)
    async throws(RunStoreError) -> [DeploymentRecord]
  {
    let b = binder()
    let filter = project.map { " WHERE project = \(b(.text($0)))" } ?? ""
    return try await db.read(
      b.statement(
        "SELECT \(Self.deploymentColumns) FROM deployments\(filter) ORDER BY project, name")
    ).compactMap(Self.deployment)
  }

  package func deployment(project: String, name: String, on db: some SQLDatabase)
    async throws(RunStoreError) -> DeploymentRecord?
  {
    let b = binder()
    return try await db.read(
      b.statement(
        "SELECT \(Self.deploymentColumns) FROM deployments WHERE project = "
          + "\(b(.text(project))) AND name = \(b(.text(name)))")
    ).first.flatMap(Self.deployment)
  }

  package func deployment(id: UUID, on db: some SQLDatabase) async throws(RunStoreError)
    -> DeploymentRecord?
  {
    let b = binder()
    return try await db.read(
      b.statement("SELECT \(Self.deploymentColumns) FROM deployments WHERE id = \(b(Self.id(id)))")
    ).first.flatMap(Self.deployment)
  }

  package func deploymentVersions(deploymentID: UUID, on db: some SQLDatabase)
    async throws(RunStoreError) -> [DeploymentVersionRecord]
  {
    let b = binder()
    return try await db.read(
      b.statement(
        "SELECT version, flow_version, parameter_schema, registered_at FROM "
          + "deployment_versions WHERE deployment_id = \(b(Self.id(deploymentID))) ORDER BY version"
      )
    ).map {
      DeploymentVersionRecord(
        deploymentID: deploymentID, version: Int($0["version"]?.integer ?? 0),
        flowVersion: $0["flow_version"]?.text ?? "",
        parameterSchemaJSON: $0["parameter_schema"]?.text ?? "{}",
        registeredAt: Self.date($0["registered_at"]) ?? .distantPast)
    }
  }

  // MARK: Runs

  private func runByKey(deploymentID: UUID, key: String, on executor: any SQLExecutor)
    async throws -> DeploymentRunRecord?
  {
    let b = binder()
    return try await executor.run(
      b.statement(
        "SELECT \(Self.runColumns) FROM deployment_runs WHERE deployment_id = "
          + "\(b(Self.id(deploymentID))) AND idempotency_key = \(b(.text(key)))")
    ).first.flatMap(Self.run)
  }

  package func createDeploymentRun(_ request: DeploymentRunRequest, on db: some SQLDatabase)
    async throws(RunStoreError) -> DeploymentRunCreation
  {
    let location = db.description
    return try await db.transaction { executor in
      if let existing = try await runByKey(
        deploymentID: request.deploymentID, key: request.idempotencyKey, on: executor)
      {
        return DeploymentRunCreation(run: existing, created: false)
      }
      // Shared, so that a pause or a deletion (which lock it for update) is either seen here or
      // waits for this run: neither misses a run created beside it.
      let d = binder()
      guard
        let deployment = try await executor.run(
          d.statement(
            "SELECT \(Self.deploymentColumns) FROM deployments WHERE id = "
              + d(Self.id(request.deploymentID)) + (forUpdate.isEmpty ? "" : " FOR SHARE"))
        ).first.flatMap(Self.deployment)
      else {
        throw RunStoreError.unknownDeployment(
          location: location, name: request.deploymentID.uuidString.lowercased())
      }
      let run = try DeploymentRunLogic.newRun(
        request, deployment: deployment, location: location)
      let i = binder()
      let insert = i.statement(
        "INSERT INTO deployment_runs (\(Self.runColumns)) VALUES (\(i(Self.id(run.id))), "
          + "\(i(Self.id(run.deploymentID))), \(i(.integer(Int64(run.deploymentVersion)))), "
          + "\(i(.text(run.flowName))), \(i(.text(run.flowVersion))), "
          + "\(i(.text(run.idempotencyKey))), \(i(.text(run.origin.name))), "
          + "\(i(Self.json(run.parameters))), \(i(Self.time(run.scheduledAt))), "
          + "\(i(Self.time(run.createdAt))), \(i(.text(run.state))), \(i(.null)), "
          + "\(i(Self.json(run.labels))), \(i(.null)), \(i(.integer(0))), \(i(.null)), "
          + "\(i(.integer(0))), \(i(.integer(Int64(run.crashRetries)))), \(i(.integer(0))), "
          + "\(i(.null))) ON CONFLICT DO NOTHING RETURNING id")
      if try await executor.run(insert).isEmpty {
        // Another scheduler created it a moment ago: one run per key.
        if let existing = try await runByKey(
          deploymentID: request.deploymentID, key: request.idempotencyKey, on: executor)
        {
          return DeploymentRunCreation(run: existing, created: false)
        }
        throw RunStoreError(
          .conflict, location: location,
          message: "a flow run with the ID \(run.id.uuidString.lowercased()) already exists; "
            + "ask again with a new run ID")
      }
      if !run.labels.isEmpty {
        // One row per label: claims match labels in SQL, so runs no agent can take never
        // crowd out the ones it can.
        let l = binder()
        let rows = Set(run.labels).sorted().map { "(\(l(Self.id(run.id))), \(l(.text($0))))" }
        _ = try await executor.run(
          l.statement(
            "INSERT INTO run_labels (run_id, label) VALUES \(rows.joined(separator: ", "))"))
      }
      var batch = RunStoreBatch()
      batch.flowRuns = [DeploymentRunLogic.flowRun(run)]
      for statement in runs.write(batch) { _ = try await executor.run(statement) }
      try await notifyAgents(dueAt: run.scheduledAt, on: executor)
      return DeploymentRunCreation(run: run, created: true)
    }
  }

  package func deploymentRun(id: UUID, on db: some SQLDatabase) async throws(RunStoreError)
    -> DeploymentRunRecord?
  {
    let b = binder()
    return try await db.read(
      b.statement("SELECT \(Self.runColumns) FROM deployment_runs WHERE id = \(b(Self.id(id)))")
    ).first.flatMap(Self.run)
  }

  package func deploymentRuns(_ query: DeploymentRunQuery, on db: some SQLDatabase)
    async throws(RunStoreError) -> [DeploymentRunRecord]
  {
    let b = binder()
    var conditions: [String] = []
    if let id = query.deploymentID { conditions.append("deployment_id = \(b(Self.id(id)))") }
    if !query.states.isEmpty {
      conditions.append(
        "state IN (\(query.states.map { b(.text($0)) }.joined(separator: ", ")))")
    }
    let filter = conditions.isEmpty ? "" : " WHERE " + conditions.joined(separator: " AND ")
    return try await db.read(
      b.statement(
        "SELECT \(Self.runColumns) FROM deployment_runs\(filter) ORDER BY scheduled_at DESC, "
          + "id DESC LIMIT \(b(.integer(Int64(max(0, query.limit)))))")
    ).compactMap(Self.run)
  }

  package func latestScheduledFireTime(deploymentID: UUID, on db: some SQLDatabase)
    async throws(RunStoreError) -> Date?
  {
    let b = binder()
    return try await db.read(
      b.statement(
        "SELECT max(scheduled_at) AS latest FROM deployment_runs WHERE deployment_id = "
          + "\(b(Self.id(deploymentID))) AND origin = \(b(.text(DeploymentRunOrigin.schedule.name)))"
      )
    ).first.flatMap { Self.date($0["latest"]) }
  }

  package func setSchedulePaused(
    _ paused: Bool, deploymentID: UUID, now: Date, on db: some SQLDatabase
  ) async throws(RunStoreError) -> DeploymentScheduleChange {
    let location = db.description
    return try await db.transaction { executor in
      var deployment = try await lockedDeployment(deploymentID, location: location, on: executor)
      guard deployment.schedule != nil else {
        throw RunStoreError.noSchedule(location: location, deployment: deployment.qualifiedName)
      }
      guard deployment.schedulePaused != paused else {
        return DeploymentScheduleChange(deployment: deployment, removedRuns: [])
      }
      deployment.schedulePaused = paused
      let u = binder()
      var update = "schedule_paused = \(u(.integer(paused ? 1 : 0)))"
      if !paused {
        deployment.scheduleResumedAt = now
        update += ", schedule_resumed_at = \(u(Self.time(now)))"
      }
      _ = try await executor.run(
        u.statement(
          "UPDATE deployments SET \(update) WHERE id = \(u(Self.id(deploymentID)))"))
      guard paused else { return DeploymentScheduleChange(deployment: deployment, removedRuns: []) }
      let removed = try await removeUnstarted(deploymentID, origin: .schedule, on: executor)
      return DeploymentScheduleChange(deployment: deployment, removedRuns: removed)
    }
  }

  package func deleteDeployment(id: UUID, now: Date, on db: some SQLDatabase)
    async throws(RunStoreError) -> DeploymentDeletion
  {
    let location = db.description
    return try await db.transaction { executor in
      let deployment = try await lockedDeployment(id, location: location, on: executor)
      let removed = try await removeUnstarted(id, origin: nil, on: executor)
      let s = binder()
      let unfinished = try await executor.run(
        s.statement(
          "SELECT \(Self.runColumns) FROM deployment_runs WHERE deployment_id = \(s(Self.id(id))) "
            + "AND ended_at IS NULL ORDER BY scheduled_at, id" + forUpdate)
      ).compactMap(Self.run)
      for run in unfinished {
        _ = try await cancel(
          run, message: DeploymentRunLogic.deletedMessage, now: now, on: executor)
      }
      for table in ["deployment_versions", "deployments"] {
        let d = binder()
        let column = table == "deployments" ? "id" : "deployment_id"
        _ = try await executor.run(
          d.statement("DELETE FROM \(table) WHERE \(column) = \(d(Self.id(id)))"))
      }
      return DeploymentDeletion(
        deployment: deployment, removedRuns: removed, cancelledRuns: unfinished.map(\.id))
    }
  }

  /// The deployment `id`, locked for the transaction; unknownDeployment when there is none.
  private func lockedDeployment(_ id: UUID, location: String, on executor: any SQLExecutor)
    async throws -> DeploymentRecord
  {
    let s = binder()
    guard
      let deployment = try await executor.run(
        s.statement(
          "SELECT \(Self.deploymentColumns) FROM deployments WHERE id = \(s(Self.id(id)))"
            + forUpdate)
      ).first.flatMap(Self.deployment)
    else {
      throw RunStoreError.unknownDeployment(location: location, name: id.uuidString.lowercased())
    }
    return deployment
  }

  /// Deletes, with their records, the runs of the deployment no agent has started (Scheduled
  /// or Late; of `origin` only, when given); returns their IDs by scheduled time.
  private func removeUnstarted(
    _ deploymentID: UUID, origin: DeploymentRunOrigin?, on executor: any SQLExecutor
  ) async throws -> [UUID] {
    let r = binder()
    let originFilter = origin.map { " AND origin = \(r(.text($0.name)))" } ?? ""
    let removed = try await executor.run(
      r.statement(
        "SELECT id FROM deployment_runs WHERE deployment_id = \(r(Self.id(deploymentID)))"
          + "\(originFilter) AND state IN ('Scheduled', 'Late') ORDER BY scheduled_at, id")
    ).compactMap { $0["id"]?.text }
    for statement in runs.delete(runs: removed) { _ = try await executor.run(statement) }
    return removed.compactMap(UUID.init)
  }

  private func setFlowRunState(
    _ ids: [String], state: String, message: String?, endedAt: Date?, on executor: any SQLExecutor
  ) async throws {
    guard !ids.isEmpty else { return }
    let b = binder()
    let end = endedAt.map { ", ended_at = \(b(Self.time($0)))" } ?? ""
    let statement = b.statement(
      "UPDATE flow_runs SET state = \(b(.text(state))), message = \(b(Self.text(message)))\(end) "
        + "WHERE id IN (\(ids.map { b(.text($0)) }.joined(separator: ", ")))")
    _ = try await executor.run(statement)
  }

  package func requestCancellation(runID: UUID, now: Date, on db: some SQLDatabase)
    async throws(RunStoreError) -> DeploymentRunRecord
  {
    let location = db.description
    return try await db.transaction { executor in
      let s = binder()
      guard
        let run = try await executor.run(
          s.statement(
            "SELECT \(Self.runColumns) FROM deployment_runs WHERE id = \(s(Self.id(runID)))"
              + forUpdate)
        ).first.flatMap(Self.run)
      else {
        throw RunStoreError.unknownRun(location: location, id: runID.uuidString.lowercased())
      }
      guard !run.isFinished else { return run }
      return try await cancel(
        run, message: DeploymentRunLogic.cancelledUnstartedMessage, now: now, on: executor)
    }
  }

  /// Cancels the unfinished `run`: flagged for its agent when one holds it (it cancels at its
  /// next renewal), otherwise Cancelled at once with `message`. Returns the run as it is now.
  private func cancel(
    _ run: DeploymentRunRecord, message: String, now: Date, on executor: any SQLExecutor
  ) async throws -> DeploymentRunRecord {
    var run = run
    let runID = run.id
    let u = binder()
    guard DeploymentRunLogic.cancelAtOnce(&run, message: message, now: now) else {
      _ = try await executor.run(
        u.statement(
          "UPDATE deployment_runs SET cancel_requested = 1 WHERE id = \(u(Self.id(runID)))"))
      return run
    }
    _ = try await executor.run(
      u.statement(
        "UPDATE deployment_runs SET cancel_requested = 1, state = 'Cancelled', message = "
          + "\(u(Self.text(run.message))), ended_at = \(u(Self.time(now))), lease_agent = "
          + "NULL, lease_expires_at = NULL WHERE id = \(u(Self.id(runID)))"))
    try await setFlowRunState(
      [runID.uuidString.lowercased()], state: "Cancelled", message: run.message, endedAt: now,
      on: executor)
    return run
  }

  package func markLate(scheduledBefore cutoff: Date, now: Date, on db: some SQLDatabase)
    async throws(RunStoreError) -> [UUID]
  {
    try await db.transaction { executor in
      let b = binder()
      let ids = try await executor.run(
        b.statement(
          "UPDATE deployment_runs SET state = 'Late', message = \(b(.text(DeploymentRunLogic.lateMessage))) "
            + "WHERE state = 'Scheduled' AND scheduled_at < \(b(Self.time(cutoff))) RETURNING id")
      ).compactMap { $0["id"]?.text }
      try await setFlowRunState(
        ids, state: "Late", message: DeploymentRunLogic.lateMessage, endedAt: nil, on: executor)
      return ids.compactMap(UUID.init)
    }
  }

  // MARK: Leases

  package func claim(_ claim: LeaseClaim, on db: some SQLDatabase)
    async throws(RunStoreError) -> [ClaimedRun]
  {
    guard claim.limit > 0, !claim.flows.isEmpty else { return [] }
    if writingCTEs {
      // One statement marks the runs whose leases ran out Crashed and, when there were none
      // (nearly always), claims due runs. Those it marked become claimable only after it (one
      // statement sees the table as it was), oldest first among the others: then a second
      // statement claims.
      let first = try await claimInOneStatement(claim, on: db)
      guard first.swept > 0 else { return first.runs }
      return try await claimInOneStatement(claim, on: db).runs
    }
    return try await db.transaction { executor in
      let claimedAt = try await leaseTime(claim.now, on: executor)
      let now = Self.time(claimedAt)
      let expiry = claimedAt.addingTimeInterval(claim.leaseDuration.timeInterval)
      // Leases that ran out: their agents are presumed dead.
      let e = binder()
      let expired = try await executor.run(
        e.statement(
          "UPDATE deployment_runs SET state = 'Crashed', crashes = crashes + 1, lease_agent = "
            + "NULL, lease_expires_at = NULL, message = CASE WHEN crashes + 1 > crash_retries "
            + "THEN \(e(.text(DeploymentRunLogic.crashedFinalMessage))) ELSE "
            + "\(e(.text(DeploymentRunLogic.crashedRetryMessage))) END, ended_at = CASE WHEN "
            + "crashes + 1 > crash_retries THEN \(e(now)) ELSE NULL END WHERE state = 'Running' "
            + "AND lease_expires_at <= \(e(now)) RETURNING id, ended_at")
      )
      let final = expired.filter { $0["ended_at"]?.integer != nil }.compactMap { $0["id"]?.text }
      let retried = expired.filter { $0["ended_at"]?.integer == nil }.compactMap {
        $0["id"]?.text
      }
      try await setFlowRunState(
        final, state: "Crashed", message: DeploymentRunLogic.crashedFinalMessage,
        endedAt: claimedAt, on: executor)
      try await setFlowRunState(
        retried, state: "Crashed", message: DeploymentRunLogic.crashedRetryMessage, endedAt: nil,
        on: executor)
      // Due runs of the agent's flows, oldest first; rows another agent is claiming are skipped.
      let c = binder()
      let (flows, foreign) = Self.claimFilters(claim, c)
      let chosen = try await executor.run(
        c.statement(
          "SELECT id FROM deployment_runs WHERE state IN ('Scheduled', 'Late', 'Crashed') AND "
            + "ended_at IS NULL AND cancel_requested = 0 AND scheduled_at <= \(c(now)) AND "
            + "(\(flows)) AND NOT EXISTS (SELECT 1 FROM run_labels l WHERE l.run_id = "
            + "deployment_runs.id\(foreign)) ORDER BY scheduled_at, id LIMIT "
            + "\(c(.integer(Int64(claim.limit))))\(skipLocked)")
      ).compactMap { $0["id"]?.text }
      guard !chosen.isEmpty else { return [] }
      let u = binder()
      let claimed = try await executor.run(
        u.statement(
          "UPDATE deployment_runs SET state = 'Running', message = NULL, lease_agent = "
            + "\(u(.text(claim.agentID))), lease_epoch = lease_epoch + 1, lease_expires_at = "
            + "\(u(Self.time(expiry))) WHERE id IN (\(chosen.map { u(.text($0)) }.joined(separator: ", "))) "
            + "RETURNING \(Self.runColumns)")
      )
      // The runs as claimed go back with their leases: the agent need not read them again.
      let runs = claimed.compactMap(Self.run).sorted {
        ($0.scheduledAt, $0.id.uuidString.lowercased())
          < ($1.scheduledAt, $1.id.uuidString.lowercased())
      }
      let leases = runs.map {
        RunLease(runID: $0.id, agentID: claim.agentID, epoch: $0.leaseEpoch, expiresAt: expiry)
      }
      let h = binder()
      let rows = leases.map {
        "(\(h(Self.id($0.runID))), \(h(.integer($0.epoch))), \(h(.text(claim.agentID))), "
          + "\(h(now)), \(h(Self.time(expiry))), NULL)"
      }
      _ = try await executor.run(
        h.statement(
          "INSERT INTO run_leases (run_id, epoch, agent_id, claimed_at, expires_at, released_at) "
            + "VALUES \(rows.joined(separator: ", "))"))
      let f = binder()
      _ = try await executor.run(
        f.statement(
          "UPDATE flow_runs SET state = 'Running', message = NULL, heartbeat_at = \(f(now)) "
            + "WHERE id IN (\(chosen.map { f(.text($0)) }.joined(separator: ", ")))"))
      return zip(leases, runs).map { ClaimedRun(lease: $0, run: $1) }
    }
  }

  /// A claim's conditions: its flows (name and version), and the labels a run may not carry
  /// (those the agent lacks), bound through `c`.
  private static func claimFilters(_ claim: LeaseClaim, _ c: Binder) -> (
    flows: String, foreign: String
  ) {
    let flows = claim.flows.map {
      "(flow_name = \(c(.text($0.name))) AND flow_version = \(c(.text($0.version))))"
    }.joined(separator: " OR ")
    let labels = Set(claim.labels).sorted().map { c(.text($0)) }
    let foreign =
      labels.isEmpty ? "" : " AND l.label NOT IN (\(labels.joined(separator: ", ")))"
    return (flows, foreign)
  }

  /// The claim as one statement (data-modifying CTEs, PostgreSQL): marks the runs whose
  /// leases ran out Crashed (claimable again within their crash-retry limit, final beyond it)
  /// and their flow runs, locks up to the claim's limit of due runs skipping those another
  /// claim holds, takes them with the next epoch, records the holdings and marks their flow
  /// runs Running, unless it marked any run Crashed; atomic, in one round trip; returns the
  /// runs and how many it marked Crashed. Its
  /// text is the same for every claim (``claimSQL(databaseNow:)``), so that the database can
  /// prepare it once per connection instead of planning it at each claim.
  private func claimInOneStatement(_ claim: LeaseClaim, on db: some SQLDatabase)
    async throws(RunStoreError) -> (runs: [ClaimedRun], swept: Int64)
  {
    var binds: [SQLValue] = [
      .text(claim.agentID), Self.json(claim.flows.map { [$0.name, $0.version] }),
      Self.json(Set(claim.labels).sorted()), .integer(Int64(claim.limit)),
      .integer(Self.micros(claim.leaseDuration)),
      .text(DeploymentRunLogic.crashedFinalMessage), .text(DeploymentRunLogic.crashedRetryMessage),
    ]
    if databaseNow == nil { binds.append(Self.time(claim.now)) }
    let statement = SQLStatement(sql: claimText, binds: binds, prepared: true)
    let rows = try await db.execute(statement)
    // The runs as claimed go back with their leases: the agent need not read them again.
    let runs = rows.compactMap(Self.run).sorted {
      ($0.scheduledAt, $0.id.uuidString.lowercased())
        < ($1.scheduledAt, $1.id.uuidString.lowercased())
    }
    let claimed = runs.map {
      ClaimedRun(
        lease: RunLease(
          runID: $0.id, agentID: claim.agentID, epoch: $0.leaseEpoch,
          expiresAt: $0.leaseExpiresAt
            ?? claim.now.addingTimeInterval(
              claim.leaseDuration.timeInterval)),
        run: $0)
    }
    return (claimed, rows.first?["swept"]?.integer ?? 0)
  }

  /// The claim's statement (PostgreSQL): `$1` the agent, `$2` its flows as JSON
  /// (`[[name, version], …]`), `$3` its labels as JSON, `$4` the limit, `$5` the lease in
  /// microseconds, `$6` the message of a run crashed for good, `$7` that of a run to be taken
  /// over, and, without `databaseNow`, `$8` the caller's time in microseconds. Its rows are
  /// the runs claimed, each with `swept`, how many leases that ran out it marked Crashed (one
  /// row without a run when it claimed none; it claims none when it marked any).
  package static func claimSQL(databaseNow: String?) -> String {
    let clock = databaseNow ?? "$8::BIGINT"
    let now = "(SELECT now FROM clock)"
    // The run's flow must be one of the agent's, and its labels all the agent's: checked on
    // the run's own row (its `labels` column holds the same labels as its `run_labels` rows)
    // rather than by a lookup per candidate, which cost a milliseconds-long anti-join over
    // the whole backlog whenever the planner chose to read the due runs unordered (a young
    // table without statistics).
    let candidates = ["Scheduled", "Late", "Crashed"].enumerated().map { index, state in
      "due\(index) AS (SELECT id, scheduled_at FROM deployment_runs WHERE state = '\(state)' AND "
        + "ended_at IS NULL AND cancel_requested = 0 AND scheduled_at <= \(now) AND "
        + "ROW(flow_name, flow_version) = ANY(ARRAY(SELECT ROW(f->>0, f->>1) FROM "
        + "jsonb_array_elements($2::jsonb) f)) AND labels::jsonb <@ $3::jsonb AND NOT EXISTS "
        + "(SELECT 1 FROM expired) ORDER BY scheduled_at LIMIT $4 FOR UPDATE SKIP LOCKED), "
    }
    return "WITH clock AS MATERIALIZED (SELECT \(clock) AS now), "
      // Leases that ran out: their agents are presumed dead.
      + "expired AS (UPDATE deployment_runs SET state = 'Crashed', crashes = crashes + 1, "
      + "lease_agent = NULL, lease_expires_at = NULL, message = CASE WHEN crashes + 1 > "
      + "crash_retries THEN $6 ELSE $7 END, ended_at = CASE WHEN crashes + 1 > crash_retries "
      + "THEN \(now) ELSE NULL END WHERE state = 'Running' AND lease_expires_at <= \(now) "
      + "RETURNING id, ended_at), "
      + "crashed AS (UPDATE flow_runs f SET state = 'Crashed', message = CASE WHEN "
      + "e.ended_at IS NULL THEN $7 ELSE $6 END, ended_at = COALESCE(e.ended_at, f.ended_at) "
      + "FROM expired e WHERE f.id = e.id), "
      // Due runs of the agent's flows, oldest first; rows another agent is claiming are
      // skipped. One ordered index scan per claimable state that stops after `limit` rows
      // (a single scan of the three states would read and sort every due run, the whole
      // backlog, at each claim), then the oldest of those; the few locked but not chosen are
      // unlocked when the statement ends.
      + candidates.joined()
      + "chosen AS (SELECT id AS chosen_id FROM (SELECT * FROM due0 UNION ALL SELECT * FROM "
      + "due1 UNION ALL SELECT * FROM due2) due ORDER BY scheduled_at, id LIMIT $4), "
      + "claimed AS (UPDATE deployment_runs SET state = 'Running', message = NULL, lease_agent = "
      + "$1, lease_epoch = lease_epoch + 1, lease_expires_at = \(now) + $5::BIGINT FROM chosen "
      + "WHERE id = chosen_id RETURNING \(runColumns)), "
      + "holdings AS (INSERT INTO run_leases (run_id, epoch, agent_id, claimed_at, expires_at, "
      + "released_at) SELECT id, lease_epoch, $1, \(now), lease_expires_at, NULL FROM claimed), "
      + "started AS (UPDATE flow_runs f SET state = 'Running', message = NULL, heartbeat_at = "
      + "\(now) FROM claimed WHERE f.id = claimed.id) "
      + "SELECT claimed.*, swept.count AS swept FROM (SELECT count(*) AS count FROM expired) "
      + "swept LEFT JOIN claimed ON true"
  }

  package func nextClaimable(after claim: LeaseClaim, now: Date, on db: some SQLDatabase)
    async throws(RunStoreError) -> Duration?
  {
    guard !claim.flows.isEmpty else { return nil }
    let b = binder()
    let flows = claim.flows.map {
      "(flow_name = \(b(.text($0.name))) AND flow_version = \(b(.text($0.version))))"
    }.joined(separator: " OR ")
    let since = b(Self.time(claim.now))
    let row = try await db.read(
      b.statement(
        "SELECT \(databaseNow ?? b(Self.time(now))) AS now, (SELECT MIN(scheduled_at) FROM "
          + "deployment_runs WHERE state IN ('Scheduled', 'Late', 'Crashed') AND ended_at IS "
          + "NULL AND cancel_requested = 0 AND scheduled_at > \(since) AND (\(flows))) AS due, "
          + "(SELECT MIN(lease_expires_at) FROM deployment_runs WHERE state = 'Running' AND "
          + "ended_at IS NULL AND lease_expires_at > \(since) AND lease_agent <> "
          + "\(b(.text(claim.agentID))) AND (\(flows))) AS expiry")
    ).first
    guard let row, let at = row["now"]?.integer else { return nil }
    let next = [row["due"]?.integer, row["expiry"]?.integer].compactMap { $0 }.min()
    return next.map { .microseconds(max(0, $0 - at)) }
  }

  package func renewLeases(
    _ leases: [RunLease], leaseDuration: Duration, now: Date, on db: some SQLDatabase
  ) async throws(RunStoreError) -> LeaseRenewal {
    guard !leases.isEmpty else { return LeaseRenewal(renewed: [], lost: [], cancelRequested: []) }
    if writingCTEs { return try await renewInOneStatement(leases, leaseDuration, now: now, on: db) }
    return try await db.transaction { executor in
      let renewedAt = try await leaseTime(now, on: executor)
      let expiry = renewedAt.addingTimeInterval(leaseDuration.timeInterval)
      var renewal = LeaseRenewal(renewed: [], lost: [], cancelRequested: [])
      for lease in leases {
        let b = binder()
        let row = try await executor.run(
          b.statement(
            "UPDATE deployment_runs SET lease_expires_at = \(b(Self.time(expiry))) WHERE id = "
              + "\(b(Self.id(lease.runID))) AND lease_epoch = \(b(.integer(lease.epoch))) AND "
              + "state = 'Running' AND ended_at IS NULL AND lease_expires_at > "
              + "\(b(Self.time(renewedAt))) RETURNING cancel_requested")
        ).first
        guard let row else {
          renewal.lost.append(lease.runID)
          continue
        }
        renewal.renewed.append(lease.renewed(until: expiry))
        if (row["cancel_requested"]?.integer ?? 0) != 0 {
          renewal.cancelRequested.append(lease.runID)
        }
        let h = binder()
        _ = try await executor.run(
          h.statement(
            "UPDATE run_leases SET expires_at = \(h(Self.time(expiry))) WHERE run_id = "
              + "\(h(Self.id(lease.runID))) AND epoch = \(h(.integer(lease.epoch)))"))
      }
      return renewal
    }
  }

  /// The renewal as one statement (data-modifying CTEs, PostgreSQL): extends every lease
  /// still current and its holding, and reads the cancellations requested.
  private func renewInOneStatement(
    _ leases: [RunLease], _ leaseDuration: Duration, now: Date, on db: some SQLDatabase
  ) async throws(RunStoreError) -> LeaseRenewal {
    let b = binder()
    let clock = databaseNow ?? "\(b(Self.time(now)))::BIGINT"
    let held = leases.map {
      "(\(b(Self.id($0.runID)))::TEXT, \(b(.integer($0.epoch)))::BIGINT)"
    }
    let rows = try await db.execute(
      b.statement(
        "WITH clock AS MATERIALIZED (SELECT \(clock) AS now), held (id, epoch) AS (VALUES "
          + "\(held.joined(separator: ", "))), "
          + "renewed AS (UPDATE deployment_runs d SET lease_expires_at = (SELECT now FROM clock) "
          + "+ \(b(.integer(Self.micros(leaseDuration)))) FROM held WHERE d.id = held.id AND "
          + "d.lease_epoch = held.epoch AND d.state = 'Running' AND d.ended_at IS NULL AND "
          + "d.lease_expires_at > (SELECT now FROM clock) RETURNING d.id, d.lease_epoch, "
          + "d.lease_expires_at, d.cancel_requested), "
          + "holdings AS (UPDATE run_leases l SET expires_at = renewed.lease_expires_at FROM "
          + "renewed WHERE l.run_id = renewed.id AND l.epoch = renewed.lease_epoch) "
          + "SELECT id, lease_expires_at, cancel_requested FROM renewed"))
    var found: [UUID: SQLRow] = [:]
    for row in rows { if let id = Self.uuid(row["id"]) { found[id] = row } }
    var renewal = LeaseRenewal(renewed: [], lost: [], cancelRequested: [])
    for lease in leases {
      guard let row = found[lease.runID], let expiry = Self.date(row["lease_expires_at"]) else {
        renewal.lost.append(lease.runID)
        continue
      }
      renewal.renewed.append(lease.renewed(until: expiry))
      if (row["cancel_requested"]?.integer ?? 0) != 0 {
        renewal.cancelRequested.append(lease.runID)
      }
    }
    return renewal
  }

  /// Writes `writes` in one transaction: one statement locks every run's row (in ID order, so
  /// that two agents' transactions never wait on each other in a cycle) and reads the current
  /// leases; each write under a stale lease is refused on its own, the others' records are
  /// written together (one statement per table), then their releases (a few statements for
  /// all of them).
  package func write(_ writes: [FencedWrite], now: Date, on db: some SQLDatabase)
    async throws(RunStoreError) -> [RunStoreError?]
  {
    guard !writes.isEmpty else { return [] }
    let location = db.description
    // The usual flush (records and ends of runs held under distinct leases): one statement.
    if let statement = flushStatement(writes, now: now) {
      let rows = try await db.execute(statement)
      return flushResults(writes, rows: rows, location: location, now: now)
    }
    return try await db.transaction { executor in
      let ids = Set(writes.map(\.lease.runID)).map { $0.uuidString.lowercased() }.sorted()
      let b = binder()
      var current: [UUID: DeploymentRunRecord] = [:]
      // The database's clock, when leases go by it, is read by the same statement.
      let clock = databaseNow.map { ", \($0) AS database_now" } ?? ""
      var judgedAt = now
      for row in try await executor.run(
        b.statement(
          "SELECT \(Self.runColumns)\(clock) FROM deployment_runs WHERE id IN "
            + "(\(ids.map { b(.text($0)) }.joined(separator: ", "))) ORDER BY id" + forUpdate))
      {
        if let run = Self.run(row) { current[run.id] = run }
        if let time = Self.date(row["database_now"]) { judgedAt = time }
      }
      var results: [RunStoreError?] = []
      var merged = FencedBatchMerger()
      var finished: [FinishedKey: [UUID]] = [:]
      var finishedOrder: [FinishedKey] = []
      var returned: [UUID] = []
      var released: [RunLease] = []
      var stored: [RunResultRecord] = []
      for write in writes {
        let lease = write.lease
        if let reason = DeploymentRunLogic.staleReason(
          current[lease.runID], lease: lease, now: judgedAt)
        {
          results.append(RunStoreError.staleLease(location: location, lease: lease, reason: reason))
          continue
        }
        results.append(nil)
        merged.add(write.batch)
        stored += write.results
        guard let release = write.release else { continue }
        released.append(lease)
        // A later write of this run in the same list sees it released, as it would one by one.
        current[lease.runID]?.leaseAgent = nil
        current[lease.runID]?.leaseExpiresAt = nil
        switch release {
        case .finished(let state, let message):
          let key = FinishedKey(state: state, message: message)
          if finished[key] == nil { finishedOrder.append(key) }
          finished[key, default: []].append(lease.runID)
          current[lease.runID]?.state = state
          current[lease.runID]?.message = message
          current[lease.runID]?.endedAt = judgedAt
        case .returned:
          returned.append(lease.runID)
          current[lease.runID]?.state = "Scheduled"
        }
      }
      for statement in batchStatements(merged.batch) { _ = try await executor.run(statement) }
      for statement in resultSQL.write(stored) { _ = try await executor.run(statement) }
      if writingCTEs, !finishedOrder.isEmpty {
        // Every finished run's end, its flow run's (unless its records wrote one) and its
        // holding's release, in one statement.
        let ended = released.filter { current[$0.runID]?.endedAt != nil }
        _ = try await executor.run(finishStatement(ended, current: current, at: judgedAt))
        released.removeAll { current[$0.runID]?.endedAt != nil }
        finishedOrder = []
      }
      for key in finishedOrder {
        let runIDs = finished[key, default: []].map { $0.uuidString.lowercased() }
        let u = binder()
        _ = try await executor.run(
          u.statement(
            "UPDATE deployment_runs SET state = \(u(.text(key.state))), message = "
              + "\(u(Self.text(key.message))), ended_at = \(u(Self.time(judgedAt))), lease_agent = "
              + "NULL, lease_expires_at = NULL WHERE id IN "
              + "(\(runIDs.map { u(.text($0)) }.joined(separator: ", ")))"))
        // A run that ended before its recorder wrote its end (it could not start) shows it.
        let f = binder()
        _ = try await executor.run(
          f.statement(
            "UPDATE flow_runs SET state = \(f(.text(key.state))), message = "
              + "\(f(Self.text(key.message))), ended_at = \(f(Self.time(judgedAt))) WHERE id IN "
              + "(\(runIDs.map { f(.text($0)) }.joined(separator: ", "))) AND ended_at IS NULL"))
      }
      if !returned.isEmpty {
        let runIDs = returned.map { $0.uuidString.lowercased() }
        let u = binder()
        _ = try await executor.run(
          u.statement(
            "UPDATE deployment_runs SET state = 'Scheduled', message = "
              + "\(u(.text(DeploymentRunLogic.returnedMessage))), lease_agent = NULL, "
              + "lease_expires_at = NULL WHERE id IN "
              + "(\(runIDs.map { u(.text($0)) }.joined(separator: ", ")))"))
        try await setFlowRunState(
          runIDs, state: "Scheduled", message: DeploymentRunLogic.returnedMessage, endedAt: nil,
          on: executor)
        try await notifyAgents(dueAt: nil, on: executor)
      }
      if !released.isEmpty {
        let h = binder()
        let time = h(Self.time(judgedAt))
        let holdings = released.map {
          "(run_id = \(h(Self.id($0.runID))) AND epoch = \(h(.integer($0.epoch))))"
        }
        _ = try await executor.run(
          h.statement(
            "UPDATE run_leases SET released_at = \(time) WHERE "
              + holdings.joined(separator: " OR ")))
      }
      return results
    }
  }

  /// The statements that write `batch`: with data-modifying CTEs, its inserts into the
  /// different tables as one statement (one round trip), then its heartbeats (which may touch
  /// a flow run the inserts write, so a statement of their own each).
  private func batchStatements(_ batch: RunStoreBatch) -> [SQLStatement] {
    guard writingCTEs else { return runs.write(batch) }
    var inserts = batch
    inserts.heartbeats = []
    var heartbeats = RunStoreBatch()
    heartbeats.heartbeats = batch.heartbeats
    let statements = runs.write(inserts)
    guard statements.count > 1 else { return statements + runs.write(heartbeats) }
    var sql = "WITH "
    var binds: [SQLValue] = []
    for (index, statement) in statements.enumerated() {
      if index > 0 { sql += ", " }
      sql += "w\(index) AS (\(Self.renumbered(statement.sql, after: binds.count))) "
      binds += statement.binds
    }
    sql += "SELECT 1"
    return [SQLStatement(sql: sql, binds: binds)] + runs.write(heartbeats)
  }

  /// `sql` with each PostgreSQL placeholder `$n` written `$(n + offset)` (the statements a
  /// batch writes have no `$` but in placeholders).
  private static func renumbered(_ sql: String, after offset: Int) -> String {
    guard offset > 0 else { return sql }
    var result = ""
    result.reserveCapacity(sql.utf8.count + 16)
    var digits = ""
    var inPlaceholder = false
    for character in sql {
      if inPlaceholder, character.isASCII, character.isNumber {
        digits.append(character)
        continue
      }
      if inPlaceholder {
        result += String((Int(digits) ?? 0) + offset)
        digits = ""
        inPlaceholder = false
      }
      if character == "$" {
        inPlaceholder = true
        result.append(character)
      } else {
        result.append(character)
      }
    }
    if inPlaceholder { result += String((Int(digits) ?? 0) + offset) }
    return result
  }

  /// One statement (data-modifying CTEs) that ends the finished runs of `leases` with the
  /// states and messages in `current`, ends their flow runs that their records left open,
  /// and releases their holdings, at `time`.
  private func finishStatement(
    _ leases: [RunLease], current: [UUID: DeploymentRunRecord], at time: Date
  ) -> SQLStatement {
    let b = binder()
    let rows = leases.map { lease in
      let run = current[lease.runID]
      return "(\(b(Self.id(lease.runID)))::TEXT, \(b(.integer(lease.epoch)))::BIGINT, "
        + "\(b(.text(run?.state ?? "Failed")))::TEXT, \(b(Self.text(run?.message)))::TEXT)"
    }
    let at = b(Self.time(time))
    return b.statement(
      "WITH ended (id, epoch, state, message) AS (VALUES \(rows.joined(separator: ", "))), "
        + "runs AS (UPDATE deployment_runs d SET state = ended.state, message = ended.message, "
        + "ended_at = \(at)::BIGINT, lease_agent = NULL, lease_expires_at = NULL FROM ended WHERE "
        + "d.id = ended.id RETURNING d.id), "
        // A run that ended before its recorder wrote its end (it could not start) shows it.
        // Not `f.ended_at IS NULL`: statistics gathered while few flow runs were open make
        // the planner scan every open flow run by that index (a backlog of a thousand: 5 ms
        // and more per flush) instead of looking the few ended ones up by ID.
        + "flows AS (UPDATE flow_runs f SET state = ended.state, message = ended.message, "
        + "ended_at = \(at)::BIGINT FROM ended WHERE f.id = ended.id AND COALESCE(f.ended_at, "
        + "-1) = -1), "
        + "holdings AS (UPDATE run_leases l SET released_at = \(at)::BIGINT FROM ended WHERE "
        + "l.run_id = ended.id AND l.epoch = ended.epoch) "
        + "SELECT count(*) AS ended FROM runs")
  }

  /// The final state and message shared by released runs (one UPDATE each).
  private struct FinishedKey: Hashable {
    let state: String
    let message: String?
  }

  // MARK: Results

  /// Stores `records` in one transaction.
  package func writeResults(_ records: [RunResultRecord], on db: some SQLDatabase)
    async throws(RunStoreError)
  {
    guard !records.isEmpty else { return }
    let statements = resultSQL.write(records)
    try await db.transaction { executor in
      for statement in statements { _ = try await executor.run(statement) }
    }
  }

  /// Every value the flow run stored.
  package func results(flowRunID: UUID, on db: some SQLDatabase) async throws(RunStoreError)
    -> [RunResultRecord]
  {
    RunResultSQL.results(
      try await db.read(resultSQL.read(flowRunID: flowRunID)), flowRunID: flowRunID)
  }

  package func leaseHistory(runID: UUID, on db: some SQLDatabase) async throws(RunStoreError)
    -> [LeaseHistoryRecord]
  {
    let b = binder()
    return try await db.read(
      b.statement(
        "SELECT epoch, agent_id, claimed_at, expires_at, released_at FROM run_leases WHERE "
          + "run_id = \(b(Self.id(runID))) ORDER BY epoch")
    ).map {
      LeaseHistoryRecord(
        runID: runID, epoch: $0["epoch"]?.integer ?? 0, agentID: $0["agent_id"]?.text ?? "",
        claimedAt: Self.date($0["claimed_at"]) ?? .distantPast,
        expiresAt: Self.date($0["expires_at"]) ?? .distantPast,
        releasedAt: Self.date($0["released_at"]))
    }
  }
}

/// The decisions every deployment store shares (the SQL one and the in-memory one).
package enum DeploymentRunLogic {
  /// The message of a run marked Late.
  package static let lateMessage = "Not started within the grace period after its scheduled time"
  /// The message of a run whose agent died, to be taken over.
  package static let crashedRetryMessage =
    "Its agent stopped renewing the lease (the process died or lost the database); another "
    + "agent resumes it from its recorded history"
  /// The message of a run whose agent died once too often.
  package static let crashedFinalMessage =
    "Its agent stopped renewing the lease and the deployment's crash-retry limit is reached; "
    + "resume it by hand with `flow runs resume`"
  /// The message of a run cancelled before an agent held it.
  package static let cancelledUnstartedMessage = "Cancelled before an agent started it"
  /// The message of a run cancelled because its deployment was deleted.
  package static let deletedMessage = "Cancelled: its deployment was deleted"

  /// Cancels the unfinished `run` (it is flagged either way): true when it ends Cancelled at
  /// once with `message` (no agent holds it), false when its agent cancels it at its next
  /// renewal.
  package static func cancelAtOnce(_ run: inout DeploymentRunRecord, message: String, now: Date)
    -> Bool
  {
    run.cancelRequested = true
    guard !(run.state == "Running" && (run.leaseExpiresAt.map { $0 > now } ?? false)) else {
      return false
    }
    run.state = "Cancelled"
    run.message = message
    run.endedAt = now
    run.leaseAgent = nil
    run.leaseExpiresAt = nil
    return true
  }

  /// The message of a run an agent claimed and gave back without running it.
  package static let returnedMessage =
    "Given back unstarted by the agent that claimed it; another agent runs it"

  /// The new run `request` asks for, or the parameter problems as an error.
  package static func newRun(
    _ request: DeploymentRunRequest, deployment: DeploymentRecord, location: String
  ) throws(RunStoreError) -> DeploymentRunRecord {
    if request.origin == .schedule, deployment.schedulePaused {
      throw RunStoreError.schedulePaused(location: location, deployment: deployment.qualifiedName)
    }
    var parameters = deployment.defaultParameters
    for (name, value) in request.parameters { parameters[name] = value }
    if let schema = try? ParameterSchema(json: deployment.parameterSchemaJSON) {
      let problems = schema.problems(in: parameters)
      if !problems.isEmpty {
        throw RunStoreError.invalidParameters(
          location: location, deployment: deployment.qualifiedName, problems: problems)
      }
    }
    return DeploymentRunRecord(
      id: request.runID, deploymentID: deployment.id, deploymentVersion: deployment.version,
      flowName: deployment.flowName, flowVersion: deployment.flowVersion,
      idempotencyKey: request.idempotencyKey, origin: request.origin, parameters: parameters,
      scheduledAt: request.scheduledAt, createdAt: request.now, state: "Scheduled", message: nil,
      labels: deployment.labels, leaseAgent: nil, leaseEpoch: 0, leaseExpiresAt: nil,
      crashes: 0, crashRetries: deployment.crashRetries, cancelRequested: false, endedAt: nil)
  }

  /// The flow run recorded for a new deployment run (Scheduled, no process yet).
  package static func flowRun(_ run: DeploymentRunRecord) -> FlowRunRecord {
    FlowRunRecord(
      id: run.id, flowName: run.flowName, flowVersion: run.flowVersion,
      parameters: run.parameters, executor: "", host: "", processID: 0, command: [],
      scheduledAt: run.scheduledAt, startedAt: run.scheduledAt, endedAt: nil, state: run.state,
      message: nil, heartbeatAt: run.createdAt)
  }

  /// Why a write under `lease` is refused at `now`, or nil when it is accepted.
  package static func staleReason(_ run: DeploymentRunRecord?, lease: RunLease, now: Date)
    -> String?
  {
    guard let run else { return "the run is not a deployment run" }
    if run.leaseEpoch != lease.epoch {
      return "the run was claimed again with epoch \(run.leaseEpoch)"
    }
    if run.isFinished { return "the run already ended \(run.state)" }
    guard run.state == "Running", let expiry = run.leaseExpiresAt else {
      return "the lease expired and the run is \(run.state)"
    }
    if expiry <= now {
      return "the lease expired at \(RunStoreReading.iso8601(expiry))"
    }
    return nil
  }
}

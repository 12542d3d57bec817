import FlowCore
import Foundation

/// The in-memory store's deployment tables.
struct MemoryDeploymentTables {
  var projects: [String: ProjectRecord] = [:]
  var deployments: [UUID: DeploymentRecord] = [:]
  var versions: [UUID: [DeploymentVersionRecord]] = [:]
  var runs: [UUID: DeploymentRunRecord] = [:]
  var keys: [String: UUID] = [:]
  var leases: [UUID: [LeaseHistoryRecord]] = [:]
  var agents: [String: AgentRecord] = [:]
  /// Task outputs persisted for durable execution, by flow run and location.
  var results: [UUID: [String: StoredResult]] = [:]

  static func key(_ deploymentID: UUID, _ key: String) -> String {
    "\(deploymentID.uuidString)\u{0}\(key)"
  }

  /// Forgets the deployment runs (and their leases) of the pruned flow runs `ids`.
  mutating func prune(_ ids: Set<UUID>) {
    for id in ids {
      if let run = runs.removeValue(forKey: id) {
        keys[Self.key(run.deploymentID, run.idempotencyKey)] = nil
      }
      leases[id] = nil
      results[id] = nil
    }
  }

  /// Stores `records`, replacing the values at their locations.
  mutating func store(_ records: [RunResultRecord]) {
    for record in records {
      results[record.flowRunID, default: [:]][record.location] = record.result
    }
  }
}

extension MemoryRunStore: DeploymentStore {
  /// Runs `body` on the tables under the lock, after the schema and availability checks.
  private func withTables<T>(
    _ body: (inout Tables) throws(RunStoreError) -> T
  ) throws(RunStoreError) -> T {
    try tables.withLock { (tables) throws(RunStoreError) -> T in
      try migrated(tables)
      return try body(&tables)
    }
  }

  private static func setFlowRun(
    _ id: UUID, state: String, message: String?, endedAt: Date?, in tables: inout Tables
  ) {
    guard tables.flowRuns[id] != nil else { return }
    tables.flowRuns[id]?.state = state
    tables.flowRuns[id]?.message = message
    if let endedAt { tables.flowRuns[id]?.endedAt = endedAt }
  }

  /// Creates the project, or returns the existing one.
  public func createProject(_ project: ProjectRecord) async throws(RunStoreError) -> ProjectRecord {
    try withTables { (tables) throws(RunStoreError) in
      if let existing = tables.deployments.projects[project.name] { return existing }
      tables.deployments.projects[project.name] = project
      return project
    }
  }

  /// Every project, by name.
  public func projects() async throws(RunStoreError) -> [ProjectRecord] {
    try withTables { (tables) throws(RunStoreError) in
      tables.deployments.projects.values.sorted { $0.name < $1.name }
    }
  }

  /// Registers or re-registers a deployment.
  public func registerDeployment(_ registration: DeploymentRegistration, now: Date)
    async throws(RunStoreError) -> DeploymentRecord
  {
    let location = description
    return try withTables { (tables) throws(RunStoreError) in
      guard tables.deployments.projects[registration.project] != nil else {
        throw RunStoreError.unknownProject(location: location, name: registration.project)
      }
      var flows = RunStoreBatch()
      flows.flows = [registration.flow]
      Self.apply(flows, to: &tables)
      let existing = tables.deployments.deployments.values.first {
        $0.project == registration.project && $0.name == registration.name
      }
      var record: DeploymentRecord
      var changed = true
      if var current = existing {
        changed = current.reregister(registration, now: now)
        record = current
      } else {
        record = DeploymentRecord(registering: registration, now: now)
      }
      tables.deployments.deployments[record.id] = record
      if changed {
        tables.deployments.versions[record.id, default: []].append(
          DeploymentVersionRecord(
            deploymentID: record.id, version: record.version, flowVersion: record.flowVersion,
            parameterSchemaJSON: record.parameterSchemaJSON, registeredAt: now))
      }
      return record
    }
  }

  /// The deployments of a project, or of every project.
  public func deployments(project: String?) async throws(RunStoreError) -> [DeploymentRecord] {
    try withTables { (tables) throws(RunStoreError) in
      tables.deployments.deployments.values.filter { project == nil || $0.project == project }
        .sorted { ($0.project, $0.name) < ($1.project, $1.name) }
    }
  }

  /// The deployment named `name` in `project`, or nil.
  public func deployment(project: String, name: String) async throws(RunStoreError)
    -> DeploymentRecord?
  {
    try withTables { (tables) throws(RunStoreError) in
      tables.deployments.deployments.values.first { $0.project == project && $0.name == name }
    }
  }

  /// The deployment with this ID, or nil.
  public func deployment(id: UUID) async throws(RunStoreError) -> DeploymentRecord? {
    try withTables { (tables) throws(RunStoreError) in tables.deployments.deployments[id] }
  }

  /// Every version of the deployment, oldest first.
  public func deploymentVersions(deploymentID: UUID) async throws(RunStoreError)
    -> [DeploymentVersionRecord]
  {
    try withTables { (tables) throws(RunStoreError) in
      tables.deployments.versions[deploymentID] ?? []
    }
  }

  /// Creates a run of a deployment (idempotent by key).
  public func createDeploymentRun(_ request: DeploymentRunRequest) async throws(RunStoreError)
    -> DeploymentRunCreation
  {
    let location = description
    return try withTables { (tables) throws(RunStoreError) in
      let key = MemoryDeploymentTables.key(request.deploymentID, request.idempotencyKey)
      if let id = tables.deployments.keys[key], let run = tables.deployments.runs[id] {
        return DeploymentRunCreation(run: run, created: false)
      }
      guard let deployment = tables.deployments.deployments[request.deploymentID] else {
        throw RunStoreError.unknownDeployment(
          location: location, name: request.deploymentID.uuidString.lowercased())
      }
      let run = try DeploymentRunLogic.newRun(
        request, deployment: deployment, location: location)
      guard tables.deployments.runs[run.id] == nil else {
        throw RunStoreError(
          .conflict, location: location,
          message: "a flow run with the ID \(run.id.uuidString.lowercased()) already exists; "
            + "ask again with a new run ID")
      }
      tables.deployments.runs[run.id] = run
      tables.deployments.keys[key] = run.id
      var batch = RunStoreBatch()
      batch.flowRuns = [DeploymentRunLogic.flowRun(run)]
      Self.apply(batch, to: &tables)
      return DeploymentRunCreation(run: run, created: true)
    }
  }

  /// The deployment run with this ID, or nil.
  public func deploymentRun(id: UUID) async throws(RunStoreError) -> DeploymentRunRecord? {
    try withTables { (tables) throws(RunStoreError) in tables.deployments.runs[id] }
  }

  /// Deployment runs, latest scheduled first.
  public func deploymentRuns(_ query: DeploymentRunQuery) async throws(RunStoreError)
    -> [DeploymentRunRecord]
  {
    try withTables { (tables) throws(RunStoreError) in
      Array(
        tables.deployments.runs.values.filter {
          (query.deploymentID == nil || $0.deploymentID == query.deploymentID)
            && (query.states.isEmpty || query.states.contains($0.state))
        }
        .sorted {
          ($0.scheduledAt, $0.id.uuidString.lowercased())
            > ($1.scheduledAt, $1.id.uuidString.lowercased())
        }
        .prefix(max(0, query.limit)))
    }
  }

  /// The latest fire time with a scheduled run.
  public func latestScheduledFireTime(deploymentID: UUID) async throws(RunStoreError) -> Date? {
    try withTables { (tables) throws(RunStoreError) in
      tables.deployments.runs.values.filter {
        $0.deploymentID == deploymentID && $0.origin == .schedule
      }.map(\.scheduledAt).max()
    }
  }

  /// Pauses or resumes the deployment's schedule (pausing removes its unstarted runs).
  public func setSchedulePaused(_ paused: Bool, deploymentID: UUID, now: Date)
    async throws(RunStoreError) -> DeploymentScheduleChange
  {
    let location = description
    return try withTables { (tables) throws(RunStoreError) in
      guard var deployment = tables.deployments.deployments[deploymentID] else {
        throw RunStoreError.unknownDeployment(
          location: location, name: deploymentID.uuidString.lowercased())
      }
      guard deployment.schedule != nil else {
        throw RunStoreError.noSchedule(location: location, deployment: deployment.qualifiedName)
      }
      guard deployment.schedulePaused != paused else {
        return DeploymentScheduleChange(deployment: deployment, removedRuns: [])
      }
      deployment.schedulePaused = paused
      if !paused { deployment.scheduleResumedAt = now }
      tables.deployments.deployments[deploymentID] = deployment
      guard paused else { return DeploymentScheduleChange(deployment: deployment, removedRuns: []) }
      return DeploymentScheduleChange(
        deployment: deployment,
        removedRuns: Self.removeUnstarted(deploymentID, origin: .schedule, from: &tables))
    }
  }

  /// Deletes the deployment (its unstarted runs removed, its started ones cancelled).
  public func deleteDeployment(id: UUID, now: Date) async throws(RunStoreError)
    -> DeploymentDeletion
  {
    let location = description
    return try withTables { (tables) throws(RunStoreError) in
      guard let deployment = tables.deployments.deployments.removeValue(forKey: id) else {
        throw RunStoreError.unknownDeployment(location: location, name: id.uuidString.lowercased())
      }
      tables.deployments.versions[id] = nil
      let removed = Self.removeUnstarted(id, origin: nil, from: &tables)
      let unfinished = tables.deployments.runs.values.filter {
        $0.deploymentID == id && !$0.isFinished
      }.sorted { ($0.scheduledAt, $0.id.uuidString) < ($1.scheduledAt, $1.id.uuidString) }
      for run in unfinished {
        Self.cancel(run, message: DeploymentRunLogic.deletedMessage, now: now, in: &tables)
      }
      return DeploymentDeletion(
        deployment: deployment, removedRuns: removed, cancelledRuns: unfinished.map(\.id))
    }
  }

  /// Deletes, with their records, the deployment's runs no agent has started (Scheduled or
  /// Late; of `origin` only, when given); returns their IDs by scheduled time.
  private static func removeUnstarted(
    _ deploymentID: UUID, origin: DeploymentRunOrigin?, from tables: inout Tables
  ) -> [UUID] {
    let removed = tables.deployments.runs.values.filter { run in
      run.deploymentID == deploymentID && (origin == nil || run.origin == origin)
        && (run.state == "Scheduled" || run.state == "Late")
    }.sorted { ($0.scheduledAt, $0.id.uuidString) < ($1.scheduledAt, $1.id.uuidString) }.map(\.id)
    remove(runs: Set(removed), from: &tables)
    return removed
  }

  /// Cancels the unfinished `run` (at once, or at its agent's next renewal); returns it.
  @discardableResult
  private static func cancel(
    _ run: DeploymentRunRecord, message: String, now: Date, in tables: inout Tables
  ) -> DeploymentRunRecord {
    var run = run
    if DeploymentRunLogic.cancelAtOnce(&run, message: message, now: now) {
      setFlowRun(run.id, state: "Cancelled", message: run.message, endedAt: now, in: &tables)
    }
    tables.deployments.runs[run.id] = run
    return run
  }

  /// Requests cancellation of a run.
  public func requestCancellation(runID: UUID, now: Date) async throws(RunStoreError)
    -> DeploymentRunRecord
  {
    let location = description
    return try withTables { (tables) throws(RunStoreError) in
      guard let run = tables.deployments.runs[runID] else {
        throw RunStoreError.unknownRun(location: location, id: runID.uuidString.lowercased())
      }
      guard !run.isFinished else { return run }
      return Self.cancel(
        run, message: DeploymentRunLogic.cancelledUnstartedMessage, now: now, in: &tables)
    }
  }

  /// Marks overdue Scheduled runs Late.
  public func markLate(scheduledBefore cutoff: Date, now: Date) async throws(RunStoreError)
    -> [UUID]
  {
    try withTables { (tables) throws(RunStoreError) in
      let ids = tables.deployments.runs.values.filter {
        $0.state == "Scheduled" && $0.scheduledAt < cutoff
      }.map(\.id)
      for id in ids {
        tables.deployments.runs[id]?.state = "Late"
        tables.deployments.runs[id]?.message = DeploymentRunLogic.lateMessage
        Self.setFlowRun(
          id, state: "Late", message: DeploymentRunLogic.lateMessage, endedAt: nil, in: &tables)
      }
      return ids
    }
  }

  /// Claims due runs.
  public func claim(_ claim: LeaseClaim) async throws(RunStoreError) -> [ClaimedRun] {
    guard claim.limit > 0, !claim.flows.isEmpty else { return [] }
    return try withTables { (tables) throws(RunStoreError) in
      let now = claim.now
      for (id, run) in tables.deployments.runs
      where run.state == "Running" && (run.leaseExpiresAt.map { $0 <= now } ?? false) {
        var run = run
        run.crashes += 1
        run.leaseAgent = nil
        run.leaseExpiresAt = nil
        run.state = "Crashed"
        let final = run.crashes > run.crashRetries
        run.message =
          final ? DeploymentRunLogic.crashedFinalMessage : DeploymentRunLogic.crashedRetryMessage
        if final { run.endedAt = now }
        tables.deployments.runs[id] = run
        Self.setFlowRun(
          id, state: "Crashed", message: run.message, endedAt: final ? now : nil, in: &tables)
      }
      let flows = Set(claim.flows)
      let labels = Set(claim.labels)
      let due = tables.deployments.runs.values.filter {
        ["Scheduled", "Late", "Crashed"].contains($0.state) && !$0.isFinished
          && !$0.cancelRequested && $0.scheduledAt <= now
          && flows.contains(FlowKey(name: $0.flowName, version: $0.flowVersion))
          && Set($0.labels).isSubset(of: labels)
      }
      .sorted {
        ($0.scheduledAt, $0.id.uuidString.lowercased())
          < ($1.scheduledAt, $1.id.uuidString.lowercased())
      }
      .prefix(claim.limit)
      let expiry = now.addingTimeInterval(claim.leaseDuration.timeInterval)
      return due.map { run in
        var run = run
        run.state = "Running"
        run.message = nil
        run.leaseAgent = claim.agentID
        run.leaseEpoch += 1
        run.leaseExpiresAt = expiry
        tables.deployments.runs[run.id] = run
        tables.deployments.leases[run.id, default: []].append(
          LeaseHistoryRecord(
            runID: run.id, epoch: run.leaseEpoch, agentID: claim.agentID, claimedAt: now,
            expiresAt: expiry, releasedAt: nil))
        if tables.flowRuns[run.id] != nil {
          tables.flowRuns[run.id]?.state = "Running"
          tables.flowRuns[run.id]?.message = nil
          tables.flowRuns[run.id]?.heartbeatAt = now
        }
        return ClaimedRun(
          lease: RunLease(
            runID: run.id, agentID: claim.agentID, epoch: run.leaseEpoch, expiresAt: expiry),
          run: run)
      }
    }
  }

  /// How long until a run of the claim's flows next becomes claimable.
  public func nextClaimable(after claim: LeaseClaim, now: Date) async throws(RunStoreError)
    -> Duration?
  {
    let since = claim.now
    let flows = Set(claim.flows)
    return try withTables { (tables) throws(RunStoreError) in
      let times = tables.deployments.runs.values.compactMap { run -> Date? in
        guard flows.contains(FlowKey(name: run.flowName, version: run.flowVersion)),
          !run.isFinished
        else { return nil }
        if ["Scheduled", "Late", "Crashed"].contains(run.state), !run.cancelRequested,
          run.scheduledAt > since
        {
          return run.scheduledAt
        }
        if run.state == "Running", run.leaseAgent != claim.agentID,
          let expiry = run.leaseExpiresAt, expiry > since
        {
          return expiry
        }
        return nil
      }
      return times.min().map {
        .microseconds(max(0, Int64(($0.timeIntervalSince(now) * 1e6).rounded())))
      }
    }
  }

  /// Renews leases.
  public func renewLeases(_ leases: [RunLease], leaseDuration: Duration, now: Date)
    async throws(RunStoreError) -> LeaseRenewal
  {
    try withTables { (tables) throws(RunStoreError) in
      var renewal = LeaseRenewal(renewed: [], lost: [], cancelRequested: [])
      let expiry = now.addingTimeInterval(leaseDuration.timeInterval)
      for lease in leases {
        guard
          DeploymentRunLogic.staleReason(
            tables.deployments.runs[lease.runID], lease: lease, now: now) == nil
        else {
          renewal.lost.append(lease.runID)
          continue
        }
        tables.deployments.runs[lease.runID]?.leaseExpiresAt = expiry
        if let index = tables.deployments.leases[lease.runID]?.firstIndex(where: {
          $0.epoch == lease.epoch
        }) {
          tables.deployments.leases[lease.runID]?[index].expiresAt = expiry
        }
        renewal.renewed.append(lease.renewed(until: expiry))
        if tables.deployments.runs[lease.runID]?.cancelRequested == true {
          renewal.cancelRequested.append(lease.runID)
        }
      }
      return renewal
    }
  }

  /// Writes runs' records under their leases, each fenced on its own, all at once.
  public func write(_ writes: [FencedWrite], now: Date) async throws(RunStoreError)
    -> [RunStoreError?]
  {
    try withTables { (tables) throws(RunStoreError) in
      writes.map { write in
        let lease = write.lease
        if let reason = DeploymentRunLogic.staleReason(
          tables.deployments.runs[lease.runID], lease: lease, now: now)
        {
          return RunStoreError.staleLease(location: description, lease: lease, reason: reason)
        }
        Self.apply(write.batch, to: &tables)
        tables.deployments.store(write.results)
        if let outcome = write.release {
          Self.release(lease, outcome: outcome, now: now, in: &tables)
        }
        return nil
      }
    }
  }

  private static func release(
    _ lease: RunLease, outcome: LeaseOutcome, now: Date, in tables: inout Tables
  ) {
    guard var run = tables.deployments.runs[lease.runID] else { return }
    run.leaseAgent = nil
    run.leaseExpiresAt = nil
    switch outcome {
    case .finished(let state, let message):
      run.state = state
      run.message = message
      run.endedAt = now
      if tables.flowRuns[run.id]?.endedAt == nil {
        setFlowRun(run.id, state: state, message: message, endedAt: now, in: &tables)
      }
    case .returned:
      run.state = "Scheduled"
      run.message = DeploymentRunLogic.returnedMessage
      setFlowRun(run.id, state: "Scheduled", message: run.message, endedAt: nil, in: &tables)
    }
    tables.deployments.runs[run.id] = run
    if let index = tables.deployments.leases[lease.runID]?.firstIndex(where: {
      $0.epoch == lease.epoch
    }) {
      tables.deployments.leases[lease.runID]?[index].releasedAt = now
    }
  }

  /// Stores task outputs.
  public func writeResults(_ results: [RunResultRecord]) async throws(RunStoreError) {
    try withTables { (tables) throws(RunStoreError) in tables.deployments.store(results) }
  }

  /// Every value the flow run stored, by location.
  public func results(flowRunID: UUID) async throws(RunStoreError) -> [RunResultRecord] {
    try withTables { (tables) throws(RunStoreError) in
      (tables.deployments.results[flowRunID] ?? [:]).sorted { $0.key < $1.key }.map {
        RunResultRecord(flowRunID: flowRunID, location: $0.key, result: $0.value)
      }
    }
  }

  /// Every holding of the run.
  public func leaseHistory(runID: UUID) async throws(RunStoreError) -> [LeaseHistoryRecord] {
    try withTables { (tables) throws(RunStoreError) in tables.deployments.leases[runID] ?? [] }
  }

  /// Registers the agent.
  public func registerAgent(_ agent: AgentRecord) async throws(RunStoreError) {
    try withTables { (tables) throws(RunStoreError) in
      tables.deployments.agents[agent.agentID] = agent
    }
  }

  /// Records the agent's heartbeat; false when it is not registered.
  public func agentHeartbeat(agentID: String, now: Date) async throws(RunStoreError) -> Bool {
    try withTables { (tables) throws(RunStoreError) in
      guard tables.deployments.agents[agentID] != nil else { return false }
      tables.deployments.agents[agentID]?.lastHeartbeatAt = now
      tables.deployments.agents[agentID]?.stoppedAt = nil
      return true
    }
  }

  /// Marks the agent stopped.
  public func stopAgent(agentID: String, now: Date) async throws(RunStoreError) {
    try withTables { (tables) throws(RunStoreError) in
      guard tables.deployments.agents[agentID] != nil else { return }
      tables.deployments.agents[agentID]?.lastHeartbeatAt = now
      tables.deployments.agents[agentID]?.stoppedAt = now
    }
  }

  /// Every registered agent, by ID.
  public func registeredAgents() async throws(RunStoreError) -> [AgentRecord] {
    try withTables { (tables) throws(RunStoreError) in
      tables.deployments.agents.values.sorted { $0.agentID < $1.agentID }
    }
  }
}

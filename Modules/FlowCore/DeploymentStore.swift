import Foundation

/// The deployment-store port: projects, deployments with their versions, the runs created for
/// them, and the leases agents hold on those runs (with fencing epochs).
///
/// Times are passed in (`now`), never read by the store, so that the in-memory store, the
/// simulator and the databases decide alike. Every write an agent makes for a run it holds
/// goes through ``write(_:now:)``: a write under a lease that is no longer the run's
/// current one throws ``RunStoreError/Code/staleLease`` and writes nothing.
///
/// ```swift
/// let deployment = try await store.registerDeployment(registration, now: clock.now)
/// let run = try await store.createDeploymentRun(
///   .init(runID: ids.next(), deploymentID: deployment.id, scheduledAt: clock.now,
///         idempotencyKey: "quick-run-1", now: clock.now)).run
/// let leases = try await store.claimRuns(
///   LeaseClaim(agentID: "a1", flows: [FlowKey(name: "etl", version: v)], limit: 4,
///              leaseDuration: .seconds(30), now: clock.now))
/// ```
public protocol DeploymentStore: RunStore, RunResultStorage {
  /// Creates the project, or returns the existing one with that name unchanged.
  func createProject(_ project: ProjectRecord) async throws(RunStoreError) -> ProjectRecord
  /// Every project, by name.
  func projects() async throws(RunStoreError) -> [ProjectRecord]
  /// Registers (or re-registers) a deployment: a changed flow graph makes a new version and
  /// keeps the old ones; the schedule, defaults and labels are replaced. Records the flow.
  /// Throws ``RunStoreError/Code/unknownProject`` when the project does not exist.
  func registerDeployment(_ registration: DeploymentRegistration, now: Date)
    async throws(RunStoreError) -> DeploymentRecord
  /// The deployments of `project` (every project's when nil), by project and name.
  func deployments(project: String?) async throws(RunStoreError) -> [DeploymentRecord]
  /// The deployment named `name` in `project`, or nil.
  func deployment(project: String, name: String) async throws(RunStoreError) -> DeploymentRecord?
  /// The deployment with this ID, or nil.
  func deployment(id: UUID) async throws(RunStoreError) -> DeploymentRecord?
  /// Every version of the deployment, oldest first.
  func deploymentVersions(deploymentID: UUID) async throws(RunStoreError)
    -> [DeploymentVersionRecord]
  /// Creates a run of the deployment (state Scheduled, its flow run recorded too) with the
  /// deployment's defaults under the request's parameters, checked against its parameter
  /// schema (``RunStoreError/Code/invalidParameters``); returns the existing run when the
  /// idempotency key is taken.
  func createDeploymentRun(_ request: DeploymentRunRequest) async throws(RunStoreError)
    -> DeploymentRunCreation
  /// The deployment run with this ID, or nil.
  func deploymentRun(id: UUID) async throws(RunStoreError) -> DeploymentRunRecord?
  /// Deployment runs, latest scheduled first.
  func deploymentRuns(_ query: DeploymentRunQuery) async throws(RunStoreError)
    -> [DeploymentRunRecord]
  /// The latest fire time the scheduler already created a run for, or nil.
  func latestScheduledFireTime(deploymentID: UUID) async throws(RunStoreError) -> Date?
  /// Pauses or resumes the deployment's schedule. Pausing removes the runs its schedule
  /// created that no agent has started (Scheduled or Late), with their records, and the
  /// scheduler creates no more (``RunStoreError/Code/schedulePaused``); resuming runs the
  /// schedule from `now` on, without catching up the fire times it missed while paused. Runs
  /// created by hand are not touched. Throws ``RunStoreError/Code/unknownDeployment``, or
  /// ``RunStoreError/Code/noSchedule`` for a deployment without a schedule.
  func setSchedulePaused(_ paused: Bool, deploymentID: UUID, now: Date)
    async throws(RunStoreError) -> DeploymentScheduleChange
  /// Deletes the deployment with its versions. Its runs no agent has started (Scheduled or
  /// Late) are removed with their records; its other unfinished runs are cancelled (a held one
  /// at its agent's next renewal, one waiting to be taken over at once); finished runs keep
  /// their history. Throws ``RunStoreError/Code/unknownDeployment``.
  func deleteDeployment(id: UUID, now: Date) async throws(RunStoreError) -> DeploymentDeletion
  /// Requests cancellation: a run nobody holds ends Cancelled at once; a held run is flagged
  /// and its agent cancels it at its next renewal; a finished run is left as it is.
  func requestCancellation(runID: UUID, now: Date) async throws(RunStoreError)
    -> DeploymentRunRecord
  /// Marks runs still Scheduled whose time is before `cutoff` as Late (they stay claimable);
  /// returns their IDs.
  func markLate(scheduledBefore cutoff: Date, now: Date) async throws(RunStoreError) -> [UUID]
  /// Marks runs whose lease expired Crashed (claimable again within their crash-retry limit,
  /// final beyond it), then claims up to `claim.limit` due runs the agent can run, oldest
  /// first, each with the next fencing epoch; returns each lease with its run as claimed.
  func claim(_ claim: LeaseClaim) async throws(RunStoreError) -> [ClaimedRun]
  /// How long from `now` (on the store's lease clock when it has one) until a run of
  /// `claim`'s flows next becomes claimable after that claim was made: a run falls due after
  /// `claim.now`, or another agent's lease on one runs out after it. Nil when none is known.
  /// A hint for an agent's next claim (labels are not judged), not a promise.
  func nextClaimable(after claim: LeaseClaim, now: Date) async throws(RunStoreError)
    -> Duration?
  /// Extends the leases still current; reports the lost ones and requested cancellations.
  func renewLeases(_ leases: [RunLease], leaseDuration: Duration, now: Date)
    async throws(RunStoreError) -> LeaseRenewal
  /// Writes every run's records (and releases, see ``FencedWrite``) in one transaction. Each
  /// write whose lease is no longer the run's current, unexpired lease at `now` is refused on
  /// its own: its result is a ``RunStoreError/Code/staleLease`` error and nothing of it is
  /// written, while the others are. Returns one result per write, in order (nil: written);
  /// throws only when the transaction itself fails (then nothing is written).
  func write(_ writes: [FencedWrite], now: Date) async throws(RunStoreError) -> [RunStoreError?]
  /// Every holding of the run, by epoch.
  func leaseHistory(runID: UUID) async throws(RunStoreError) -> [LeaseHistoryRecord]
  /// Registers the agent (an agent that restarts under the same ID replaces its record and is
  /// no longer stopped).
  func registerAgent(_ agent: AgentRecord) async throws(RunStoreError)
  /// Records the agent's heartbeat at `now`; false when it is not registered (it was removed:
  /// register it again).
  func agentHeartbeat(agentID: String, now: Date) async throws(RunStoreError) -> Bool
  /// Marks the agent stopped at `now` (it stopped cleanly); nothing when it is not registered.
  func stopAgent(agentID: String, now: Date) async throws(RunStoreError)
  /// Every registered agent, by ID.
  func registeredAgents() async throws(RunStoreError) -> [AgentRecord]
}

extension DeploymentStore {
  /// Claims due runs (``claim(_:)``) and returns their leases.
  public func claimRuns(_ claim: LeaseClaim) async throws(RunStoreError) -> [RunLease] {
    try await self.claim(claim).map(\.lease)
  }

  /// Gives the lease back: the run finished, or is returned for another agent. Throws
  /// ``RunStoreError/Code/staleLease`` when the lease is no longer current.
  public func releaseLease(_ lease: RunLease, outcome: LeaseOutcome, now: Date)
    async throws(RunStoreError)
  {
    if let error = try await write([FencedWrite(lease: lease, release: outcome)], now: now).first,
      let error
    {
      throw error
    }
  }

  /// Writes `batch` in one transaction if `lease` is still the run's current, unexpired lease;
  /// otherwise throws ``RunStoreError/Code/staleLease`` and writes nothing.
  public func write(_ batch: RunStoreBatch, fencedBy lease: RunLease, now: Date)
    async throws(RunStoreError)
  {
    if let error = try await write([FencedWrite(lease: lease, batch: batch)], now: now).first,
      let error
    {
      throw error
    }
  }
}

extension RunStoreError.Code {
  /// The write was made under a lease that is no longer the run's current one.
  public static let staleLease = Self(name: "staleLease")
  /// No project has the given name.
  public static let unknownProject = Self(name: "unknownProject")
  /// No deployment has the given name or ID.
  public static let unknownDeployment = Self(name: "unknownDeployment")
  /// Parameter values do not match the deployment's parameter schema.
  public static let invalidParameters = Self(name: "invalidParameters")
  /// The scheduler asked for a run of a deployment whose schedule is paused.
  public static let schedulePaused = Self(name: "schedulePaused")
  /// The deployment has no schedule to pause or resume.
  public static let noSchedule = Self(name: "noSchedule")
}

/// What deleting a deployment did.
public struct DeploymentDeletion: Sendable, Equatable {
  /// The deployment as it was.
  public var deployment: DeploymentRecord
  /// Its runs no agent had started, removed with their records.
  public var removedRuns: [UUID]
  /// Its started, unfinished runs, cancelled (or asked to cancel, when an agent holds them).
  public var cancelledRuns: [UUID]

  /// Creates a deletion.
  public init(deployment: DeploymentRecord, removedRuns: [UUID], cancelledRuns: [UUID]) {
    self.deployment = deployment
    self.removedRuns = removedRuns
    self.cancelledRuns = cancelledRuns
  }
}

/// What pausing or resuming a deployment's schedule did.
public struct DeploymentScheduleChange: Sendable, Equatable {
  /// The deployment as it is now.
  public var deployment: DeploymentRecord
  /// The unstarted runs its schedule had created, removed by pausing it.
  public var removedRuns: [UUID]

  /// Creates a change.
  public init(deployment: DeploymentRecord, removedRuns: [UUID]) {
    self.deployment = deployment
    self.removedRuns = removedRuns
  }
}

extension RunStoreError {
  /// A write under `lease` was fenced off.
  public static func staleLease(location: String, lease: RunLease, reason: String)
    -> RunStoreError
  {
    RunStoreError(
      .staleLease, location: location,
      message:
        "\(lease) is no longer the run's current lease (\(reason)); this agent must stop "
        + "working on the run and write nothing more for it")
  }

  /// No project is named `name`.
  public static func unknownProject(location: String, name: String) -> RunStoreError {
    RunStoreError(
      .unknownProject, location: location,
      message:
        "there is no project named '\(name)'; create it with `flow projects create \(name)` "
        + "or name an existing one (`flow projects list`)")
  }

  /// The scheduler asked for a run of `deployment`, whose schedule is paused.
  public static func schedulePaused(location: String, deployment: String) -> RunStoreError {
    RunStoreError(
      .schedulePaused, location: location,
      message:
        "the schedule of \(deployment) is paused; resume it with `flow deployments resume "
        + "\(deployment)`")
  }

  /// `deployment` has no schedule to pause or resume.
  public static func noSchedule(location: String, deployment: String) -> RunStoreError {
    RunStoreError(
      .noSchedule, location: location,
      message:
        "\(deployment) has no schedule to pause or resume; give it one with `<executable> deploy "
        + "--cron EXPR` or `--interval 5m`")
  }

  /// No deployment is named or identified by `name`.
  public static func unknownDeployment(location: String, name: String) -> RunStoreError {
    RunStoreError(
      .unknownDeployment, location: location,
      message:
        "there is no deployment \(name); register it with `<executable> deploy` or list the "
        + "deployments with `flow deployments list`")
  }

  /// The parameters have `problems`.
  public static func invalidParameters(
    location: String, deployment: String, problems: [ParameterProblem]
  ) -> RunStoreError {
    RunStoreError(
      .invalidParameters, location: location,
      message: "the parameters of \(deployment) do not match its schema: "
        + problems.map(\.description).joined(separator: "; "))
  }
}

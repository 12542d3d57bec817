import Foundation

/// A project: a named group of deployments (Prefect 1's projects).
public struct ProjectRecord: Sendable, Equatable, Codable {
  /// The project's name (unique).
  public var name: String
  /// What it is for.
  public var description: String
  /// When it was created.
  public var createdAt: Date

  /// Creates a record.
  public init(name: String, description: String = "", createdAt: Date) {
    self.name = name
    self.description = description
    self.createdAt = createdAt
  }
}

/// When a deployment's runs are due, as stored: a cron expression or an interval.
public struct DeploymentScheduleSpec: Sendable, Equatable, Codable, CustomStringConvertible {
  /// `cron` or `interval` (a string so that kinds can be added).
  public var kind: String
  /// The cron expression, or the interval in seconds.
  public var expression: String
  /// For an interval, the instant its fire times are counted from (nil: the Unix epoch).
  public var anchor: Date?
  /// For cron, the time zone's identifier (nil: UTC).
  public var timeZone: String?

  /// Creates a specification.
  public init(kind: String, expression: String, anchor: Date? = nil, timeZone: String? = nil) {
    self.kind = kind
    self.expression = expression
    self.anchor = anchor
    self.timeZone = timeZone
  }

  /// Runs at the fire times of a cron expression (`*/5 * * * *`).
  public static func cron(_ expression: String, timeZone: String? = nil) -> Self {
    Self(kind: "cron", expression: expression, timeZone: timeZone)
  }

  /// Runs every `seconds` seconds from `anchor`.
  public static func interval(seconds: Double, anchor: Date? = nil) -> Self {
    Self(kind: "interval", expression: Self.seconds(seconds), anchor: anchor)
  }

  /// The interval in seconds, for an interval schedule.
  public var intervalSeconds: Double? { kind == "interval" ? Double(expression) : nil }

  /// `cron */5 * * * *`, or `every 1h` in the largest whole unit that `--interval` takes
  /// (`every 90s`, `every 2m`, `every 1d`).
  public var description: String {
    guard let seconds = intervalSeconds else { return "\(kind) \(expression)" }
    for (unit, size) in [("d", 86_400.0), ("h", 3_600.0), ("m", 60.0)]
    where seconds >= size && (seconds / size).rounded() == seconds / size {
      return "every \(Self.seconds(seconds / size))\(unit)"
    }
    return "every \(expression)s"
  }

  private static func seconds(_ value: Double) -> String {
    value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : String(value)
  }
}

/// What `deploy` registers: a flow version in a project, with its schedule and defaults.
public struct DeploymentRegistration: Sendable, Equatable {
  /// The project (it must exist).
  public var project: String
  /// The deployment's name, unique in its project (by default the flow's name).
  public var name: String
  /// The flow's definition: name, graph version, graph and parameter schema.
  public var flow: FlowRecord
  /// When runs are created automatically; nil for runs started by hand only.
  public var schedule: DeploymentScheduleSpec?
  /// Parameter values (JSON text by name) that runs get unless they give their own.
  public var defaultParameters: [String: String]
  /// Agents run it only if they have all these labels.
  public var labels: [String]
  /// How many times a run is taken over by another agent after its agent died.
  public var crashRetries: Int
  /// The new deployment's ID, used when the deployment does not exist yet.
  public var id: UUID

  /// Creates a registration.
  public init(
    project: String, name: String, flow: FlowRecord, schedule: DeploymentScheduleSpec? = nil,
    defaultParameters: [String: String] = [:], labels: [String] = [], crashRetries: Int = 3,
    id: UUID
  ) {
    self.project = project
    self.name = name
    self.flow = flow
    self.schedule = schedule
    self.defaultParameters = defaultParameters
    self.labels = labels
    self.crashRetries = crashRetries
    self.id = id
  }
}

/// A deployment as stored: its current version and settings.
public struct DeploymentRecord: Sendable, Equatable, Codable {
  /// The deployment's ID.
  public var id: UUID
  /// Its project.
  public var project: String
  /// Its name, unique in the project.
  public var name: String
  /// The flow's name.
  public var flowName: String
  /// The current version's flow graph version (``FlowRecord/version``).
  public var flowVersion: String
  /// The deployment's version: 1, then one more each time a changed graph is registered.
  public var version: Int
  /// The current version's parameter schema (``Flow/parameterSchemaJSON``).
  public var parameterSchemaJSON: String
  /// When runs are created automatically, if at all.
  public var schedule: DeploymentScheduleSpec?
  /// Parameter values (JSON text by name) that runs get unless they give their own.
  public var defaultParameters: [String: String]
  /// Agents run it only if they have all these labels.
  public var labels: [String]
  /// How many times a run is taken over by another agent after its agent died.
  public var crashRetries: Int
  /// When it was first registered.
  public var createdAt: Date
  /// When it was last registered.
  public var updatedAt: Date
  /// True while its schedule is paused: the scheduler creates no runs for it (runs created by
  /// hand still run). Registering it again keeps it paused.
  public var schedulePaused: Bool
  /// When its schedule was last resumed: fire times before it are not run (nil: never resumed).
  public var scheduleResumedAt: Date?

  /// Creates a record.
  public init(
    id: UUID, project: String, name: String, flowName: String, flowVersion: String, version: Int,
    parameterSchemaJSON: String, schedule: DeploymentScheduleSpec?,
    defaultParameters: [String: String], labels: [String], crashRetries: Int, createdAt: Date,
    updatedAt: Date, schedulePaused: Bool = false, scheduleResumedAt: Date? = nil
  ) {
    self.id = id
    self.project = project
    self.name = name
    self.flowName = flowName
    self.flowVersion = flowVersion
    self.version = version
    self.parameterSchemaJSON = parameterSchemaJSON
    self.schedule = schedule
    self.defaultParameters = defaultParameters
    self.labels = labels
    self.crashRetries = crashRetries
    self.createdAt = createdAt
    self.updatedAt = updatedAt
    self.schedulePaused = schedulePaused
    self.scheduleResumedAt = scheduleResumedAt
  }

  /// `PROJECT/NAME`.
  public var qualifiedName: String { "\(project)/\(name)" }

  /// The schedule as people read it: `cron */5 * * * *`, `every 1h (paused)`, or `none`.
  public var scheduleSummary: String {
    guard let schedule else { return "none" }
    return schedulePaused ? "\(schedule) (paused)" : schedule.description
  }

  /// The schedule the scheduler runs: nil without one, or while it is paused.
  public var activeSchedule: DeploymentScheduleSpec? { schedulePaused ? nil : schedule }
}

/// One version of a deployment (kept when a changed graph is registered).
public struct DeploymentVersionRecord: Sendable, Equatable, Codable {
  /// The deployment.
  public var deploymentID: UUID
  /// The version number, from 1.
  public var version: Int
  /// The flow graph's version.
  public var flowVersion: String
  /// That version's parameter schema.
  public var parameterSchemaJSON: String
  /// When it was registered.
  public var registeredAt: Date

  /// Creates a record.
  public init(
    deploymentID: UUID, version: Int, flowVersion: String, parameterSchemaJSON: String,
    registeredAt: Date
  ) {
    self.deploymentID = deploymentID
    self.version = version
    self.flowVersion = flowVersion
    self.parameterSchemaJSON = parameterSchemaJSON
    self.registeredAt = registeredAt
  }
}

/// Why a deployment run exists.
public struct DeploymentRunOrigin: Hashable, Sendable, Codable, CustomStringConvertible {
  /// The origin's name.
  public let name: String

  /// An origin named `name`.
  public init(name: String) { self.name = name }

  /// The name.
  public var description: String { name }

  /// The scheduler created it for a fire time.
  public static let schedule = Self(name: "schedule")
  /// A person or a program asked for it (`run-deployment`, Quick Run, a parent flow).
  public static let manual = Self(name: "manual")
}

/// A request for one run of a deployment.
public struct DeploymentRunRequest: Sendable, Equatable {
  /// The new run's ID (used only if no run has the idempotency key yet).
  public var runID: UUID
  /// The deployment.
  public var deploymentID: UUID
  /// When the run is due.
  public var scheduledAt: Date
  /// Parameter values (JSON text by name) over the deployment's defaults.
  public var parameters: [String: String]
  /// Unique per deployment: asking again with the same key returns the existing run.
  public var idempotencyKey: String
  /// Why the run exists.
  public var origin: DeploymentRunOrigin
  /// When it is asked for.
  public var now: Date

  /// Creates a request.
  public init(
    runID: UUID, deploymentID: UUID, scheduledAt: Date, parameters: [String: String] = [:],
    idempotencyKey: String, origin: DeploymentRunOrigin = .manual, now: Date
  ) {
    self.runID = runID
    self.deploymentID = deploymentID
    self.scheduledAt = scheduledAt
    self.parameters = parameters
    self.idempotencyKey = idempotencyKey
    self.origin = origin
    self.now = now
  }

  /// The idempotency key of the scheduler's run for `fireTime` (one per fire time).
  public static func scheduleKey(_ fireTime: Date) -> String {
    "schedule:\(Int64((fireTime.timeIntervalSince1970 * 1_000_000).rounded()))"
  }

  /// A request for the scheduler's run of `deploymentID` at `fireTime`.
  public static func scheduled(
    runID: UUID, deploymentID: UUID, fireTime: Date, parameters: [String: String] = [:],
    now: Date
  ) -> Self {
    Self(
      runID: runID, deploymentID: deploymentID, scheduledAt: fireTime, parameters: parameters,
      idempotencyKey: scheduleKey(fireTime), origin: .schedule, now: now)
  }
}

/// A run of a deployment as the orchestration sees it: its schedule, lease and state.
public struct DeploymentRunRecord: Sendable, Equatable, Codable {
  /// The flow run's ID (the same as its ``FlowRunRecord``'s).
  public var id: UUID
  /// The deployment.
  public var deploymentID: UUID
  /// The deployment's version when the run was created.
  public var deploymentVersion: Int
  /// The flow's name.
  public var flowName: String
  /// The flow graph version the run must be run with.
  public var flowVersion: String
  /// The idempotency key (unique per deployment).
  public var idempotencyKey: String
  /// Why the run exists.
  public var origin: DeploymentRunOrigin
  /// Parameter values, JSON text by name (defaults included).
  public var parameters: [String: String]
  /// When it is due.
  public var scheduledAt: Date
  /// When it was created.
  public var createdAt: Date
  /// `Scheduled`, `Late`, `Running`, `Crashed` (final only with ``endedAt``), `Success`,
  /// `Failed`, `Cancelled`…
  public var state: String
  /// The state's message.
  public var message: String?
  /// The deployment's labels when the run was created.
  public var labels: [String]
  /// The agent holding the run's lease, if any.
  public var leaseAgent: String?
  /// The latest fencing epoch given out (0: never claimed).
  public var leaseEpoch: Int64
  /// When the current lease ends, on the store's clock.
  public var leaseExpiresAt: Date?
  /// How many times the run's agent died with it.
  public var crashes: Int
  /// How many takeovers after a crash are allowed.
  public var crashRetries: Int
  /// Cancellation was requested while an agent held it.
  public var cancelRequested: Bool
  /// When it reached a final state; nil while it can still run.
  public var endedAt: Date?

  /// Creates a record.
  public init(
    id: UUID, deploymentID: UUID, deploymentVersion: Int, flowName: String, flowVersion: String,
    idempotencyKey: String, origin: DeploymentRunOrigin, parameters: [String: String],
    scheduledAt: Date, createdAt: Date, state: String, message: String?, labels: [String],
    leaseAgent: String?, leaseEpoch: Int64, leaseExpiresAt: Date?, crashes: Int,
    crashRetries: Int, cancelRequested: Bool, endedAt: Date?
  ) {
    self.id = id
    self.deploymentID = deploymentID
    self.deploymentVersion = deploymentVersion
    self.flowName = flowName
    self.flowVersion = flowVersion
    self.idempotencyKey = idempotencyKey
    self.origin = origin
    self.parameters = parameters
    self.scheduledAt = scheduledAt
    self.createdAt = createdAt
    self.state = state
    self.message = message
    self.labels = labels
    self.leaseAgent = leaseAgent
    self.leaseEpoch = leaseEpoch
    self.leaseExpiresAt = leaseExpiresAt
    self.crashes = crashes
    self.crashRetries = crashRetries
    self.cancelRequested = cancelRequested
    self.endedAt = endedAt
  }

  /// The run reached a final state.
  public var isFinished: Bool { endedAt != nil }
}

/// What ``DeploymentStore/createDeploymentRun(_:)`` did.
public struct DeploymentRunCreation: Sendable, Equatable {
  /// The run (new, or the one that already had the idempotency key).
  public var run: DeploymentRunRecord
  /// False when a run with the key already existed.
  public var created: Bool

  /// Creates a result.
  public init(run: DeploymentRunRecord, created: Bool) {
    self.run = run
    self.created = created
  }
}

/// Which deployment runs to list.
public struct DeploymentRunQuery: Sendable, Equatable {
  /// Only runs of this deployment.
  public var deploymentID: UUID?
  /// Only runs in one of these states (empty: any).
  public var states: [String]
  /// At most this many, latest scheduled first.
  public var limit: Int

  /// Creates a query.
  public init(deploymentID: UUID? = nil, states: [String] = [], limit: Int = 100) {
    self.deploymentID = deploymentID
    self.states = states
    self.limit = limit
  }
}

/// A flow an agent can run: its name and graph version.
public struct FlowKey: Hashable, Sendable, Codable, CustomStringConvertible {
  /// The flow's name.
  public var name: String
  /// The graph version.
  public var version: String

  /// Creates a key.
  public init(name: String, version: String) {
    self.name = name
    self.version = version
  }

  /// `name@version`.
  public var description: String { "\(name)@\(version)" }
}

/// An agent's request for work.
public struct LeaseClaim: Sendable, Equatable {
  /// The agent's name (recorded with the lease).
  public var agentID: String
  /// The agent's labels: it gets runs whose labels are all among them.
  public var labels: [String]
  /// The flows (name and version) the agent's executable contains.
  public var flows: [FlowKey]
  /// At most this many runs.
  public var limit: Int
  /// How long the leases last.
  public var leaseDuration: Duration
  /// The current time (the agent's wall clock).
  public var now: Date

  /// Creates a claim.
  public init(
    agentID: String, labels: [String] = [], flows: [FlowKey], limit: Int,
    leaseDuration: Duration, now: Date
  ) {
    self.agentID = agentID
    self.labels = labels
    self.flows = flows
    self.limit = limit
    self.leaseDuration = leaseDuration
    self.now = now
  }
}

/// The answer to a lease renewal.
public struct LeaseRenewal: Sendable, Equatable {
  /// The leases still held, with their new expiry.
  public var renewed: [RunLease]
  /// The runs whose lease was lost (expired, taken over, or the run ended).
  public var lost: [UUID]
  /// Runs among the renewed ones whose cancellation was requested.
  public var cancelRequested: [UUID]

  /// Creates an answer.
  public init(renewed: [RunLease], lost: [UUID], cancelRequested: [UUID]) {
    self.renewed = renewed
    self.lost = lost
    self.cancelRequested = cancelRequested
  }
}

/// How an agent gives a lease back.
public enum LeaseOutcome: Sendable, Equatable {
  /// The run reached this final state (`Success`, `Failed`, `Cancelled`…).
  case finished(state: String, message: String?)
  /// The agent stops without finishing the run: it can be claimed again (no crash counted).
  case returned
}

/// One holding of a run by an agent, as recorded (for checking that no two overlapped).
public struct LeaseHistoryRecord: Sendable, Equatable, Codable {
  /// The run.
  public var runID: UUID
  /// The fencing epoch.
  public var epoch: Int64
  /// The agent.
  public var agentID: String
  /// When it was claimed (store time).
  public var claimedAt: Date
  /// Its last known expiry.
  public var expiresAt: Date
  /// When it was given back (finished or returned); nil if it expired or is still held.
  public var releasedAt: Date?

  /// Creates a record.
  public init(
    runID: UUID, epoch: Int64, agentID: String, claimedAt: Date, expiresAt: Date,
    releasedAt: Date?
  ) {
    self.runID = runID
    self.epoch = epoch
    self.agentID = agentID
    self.claimedAt = claimedAt
    self.expiresAt = expiresAt
    self.releasedAt = releasedAt
  }

  /// The instant the holding ended: its release, or its expiry.
  public var endedAt: Date { min(releasedAt ?? expiresAt, expiresAt) }
}

extension DeploymentRecord {
  /// A first registration: version 1 of the deployment.
  public init(registering registration: DeploymentRegistration, now: Date) {
    self.init(
      id: registration.id, project: registration.project, name: registration.name,
      flowName: registration.flow.name, flowVersion: registration.flow.version, version: 1,
      parameterSchemaJSON: registration.flow.parameterSchemaJSON,
      schedule: registration.schedule, defaultParameters: registration.defaultParameters,
      labels: registration.labels, crashRetries: registration.crashRetries, createdAt: now,
      updatedAt: now)
  }

  /// Applies a re-registration: a changed graph makes a new version; schedule, defaults,
  /// labels and crash retries always take the new values. Returns whether the graph changed.
  public mutating func reregister(_ registration: DeploymentRegistration, now: Date) -> Bool {
    let changed = flowVersion != registration.flow.version
    if changed {
      version += 1
      flowVersion = registration.flow.version
      parameterSchemaJSON = registration.flow.parameterSchemaJSON
    }
    schedule = registration.schedule
    defaultParameters = registration.defaultParameters
    labels = registration.labels
    crashRetries = registration.crashRetries
    updatedAt = now
    return changed
  }
}

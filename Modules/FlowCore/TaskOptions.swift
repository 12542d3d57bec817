import FlowState

/// How the engine treats a task: retries, timeout, trigger, skip propagation, state handlers.
public struct TaskOptions: Sendable {
  /// Retries of failed and timed-out attempts.
  public var retries: RetryPolicy
  /// The longest one attempt may run before it is cancelled and counts as TimedOut.
  public var timeout: Duration?
  /// Decides from the upstream states whether the task runs.
  public var trigger: Trigger
  /// When true (the default), a task with a Skipped upstream is Skipped too.
  public var skipOnUpstreamSkip: Bool
  /// Called on every state transition of the task's runs.
  public var stateHandlers: [StateHandler]
  /// Free-form labels.
  public var tags: Set<String>
  /// When true, what the body prints to standard output goes to the task's log (see
  /// `StdoutCapture` in FlowLogging for how, and its limits).
  public var logStdout: Bool
  /// Where the output is persisted (and the target location that makes the task Cached).
  public var checkpoint: CheckpointPolicy?
  /// When false (``TaskDefinition/noCheckpoint()``), the output is not persisted unless
  /// ``checkpoint`` says so: neither in the flow's result store nor for a deployment's durable
  /// execution (the task then runs again when its run is taken over). True by default.
  public var checkpointsByDefault: Bool
  /// How long the output may be reused, and what must match.
  public var cache: CachePolicy?
  /// Names of the inputs, in order, for target templates and `partialInputs` validators.
  public var inputNames: [String]
  /// On a cluster, higher-priority ready tasks are placed first (default 0).
  public var priority: Int
  /// On a cluster, abstract resources each run holds on its worker (`["GPU": 1]`).
  public var resources: [String: Double]
  /// The most loop iterations (``LoopAgain``) one task run may take before it fails
  /// (default 1,000).
  public var maxLoopIterations: Int

  /// Creates options; the defaults are Prefect's.
  public init(
    retries: RetryPolicy = .none, timeout: Duration? = nil, trigger: Trigger = .allSuccessful,
    skipOnUpstreamSkip: Bool = true, stateHandlers: [StateHandler] = [], tags: Set<String> = [],
    logStdout: Bool = false
  ) {
    self.retries = retries
    self.timeout = timeout
    self.trigger = trigger
    self.skipOnUpstreamSkip = skipOnUpstreamSkip
    self.stateHandlers = stateHandlers
    self.tags = tags
    self.logStdout = logStdout
    self.checkpoint = nil
    self.checkpointsByDefault = true
    self.cache = nil
    self.inputNames = []
    self.priority = 0
    self.resources = [:]
    self.maxLoopIterations = 1_000
  }
}

import FlowClusterProtocol
import FlowCore
import FlowState
import Foundation

/// The scheduler logic a ``SimulatedCluster`` drives: FlowClusterProtocol's
/// `ClusterSchedulerStateMachine`, or a wrapper around it (to plant a bug and see the
/// invariants catch it).
public protocol SimulatedClusterScheduler {
  /// Handles one event and returns what to do, in order.
  mutating func handle(
    _ event: ClusterSchedulerStateMachine.Event
  ) -> [ClusterSchedulerStateMachine.Action]
}

extension ClusterSchedulerStateMachine: SimulatedClusterScheduler {}

/// A cluster in a ``Simulator``: the real scheduler and worker state machines of
/// FlowClusterProtocol, a scheduler (node 0) and `workers` workers (nodes 1…N) over a
/// ``SimulatedNetwork`` with TCP-like connections. Flows run on it through the real engine:
/// a ``SimulatedEngine`` is the executor whose attempts the simulated scheduler places on the
/// simulated workers (there is no engine in here; the flow-run machine decides everything).
///
/// Workers can crash (they lose everything; a supervisor restarts them), pause (everything
/// they would do waits), and slow down; their connections break under partitions and lost
/// frames, and a worker whose connection broke exits and is restarted, as `flow worker`
/// under a supervisor would be. Every step is an event in the simulator's trace.
/// ``EngineSimulation`` and ``ClusterSimulation`` set one up, with faults and invariants.
public final class SimulatedCluster {
  /// How the simulated cluster is set up.
  public struct Configuration: Sendable {
    /// How many workers.
    public var workers: Int
    /// How many attempts each worker runs at once.
    public var capacity: Int
    /// The scheduler's configuration (heartbeats, allowed failures…).
    public var scheduler: ClusterSchedulerStateMachine.Configuration
    /// Missed scheduler heartbeats before a worker gives up on the scheduler.
    public var missedHeartbeats: Int
    /// The network between the nodes.
    public var network: NetworkConditions
    /// How long it takes an end to notice that its connection broke.
    public var detection: DurationDistribution
    /// How long a supervisor takes to restart a worker that exited.
    public var restartDelay: DurationDistribution

    /// A configuration; by default 4 workers of capacity 4 on a LAN.
    public init(
      workers: Int = 4, capacity: Int = 4,
      scheduler: ClusterSchedulerStateMachine.Configuration = .init(),
      missedHeartbeats: Int = 10, network: NetworkConditions = .lan,
      detection: DurationDistribution = .uniform(.milliseconds(1) ... .seconds(2)),
      restartDelay: DurationDistribution = .uniform(.milliseconds(100) ... .seconds(2))
    ) {
      self.workers = workers
      self.capacity = capacity
      self.scheduler = scheduler
      self.missedHeartbeats = missedHeartbeats
      self.network = network
      self.detection = detection
      self.restartDelay = restartDelay
    }
  }

  /// The simulator the cluster lives in.
  public unowned let simulator: Simulator
  /// The configuration.
  public let configuration: Configuration
  /// The network: node 0 is the scheduler, nodes 1…N the workers.
  public let network: SimulatedNetwork<[ClusterMessage]>
  private var scheduler: any SimulatedClusterScheduler
  private var workers: [WorkerNode]
  private var connections: [ConnectionID: (worker: Int, connection: Int)] = [:]
  private var connectionIDs: [Int: ConnectionID] = [:]
  private var nextConnection: UInt64 = 0
  var random: SimulationRandom
  var nextTaskID: ClusterTaskID = 0
  /// The attempts the engine submitted (see SimulatedEngine.swift).
  var attempts: [ClusterTaskID: EngineAttempt] = [:]
  /// Violations seen while running (a result delivered twice); ``checkInvariants()`` adds
  /// the final checks.
  public private(set) var violations: [InvariantViolation] = []
  /// How many worker crashes, pauses, restarts and exits happened.
  public private(set) var counters = Counters()
  private var shutDown = false

  /// Counts of what happened to the workers.
  public struct Counters: Sendable, Hashable {
    /// Workers crashed by faults.
    public var crashes = 0
    /// Worker processes that exited (a lost connection, a silent scheduler).
    public var exits = 0
    /// Worker processes started (initial starts and restarts).
    public var starts = 0
    /// Attempts reported lost with their worker.
    public var crashedAttempts = 0
    /// Task bodies started on workers.
    public var bodiesStarted = 0
  }

  private struct WorkerNode {
    var machine: ClusterWorkerStateMachine?
    var incarnation = 0
    var connection = -1
    var connectionID: ConnectionID?
    /// The attempts whose bodies run on this worker.
    var running: [ClusterTaskID: SimulationSpawnID] = [:]
    /// Conditional starts handed over by the machine, by the attempt they run after (as the
    /// real worker's attempt queue keeps them).
    var armed: [ClusterTaskID: ClusterAssignment] = [:]
    var paused = false
    var held: [() -> Void] = []
    var slowdown = 1.0
    var crashed = false
    var restartPending = false
  }

  /// Trace kinds of the simulated cluster.
  public enum Trace {
    /// The engine submitted an attempt (node 0, value: attempt ID).
    public static let submit = TraceKind("cluster.submit")
    /// A worker started a body (value: attempt ID).
    public static let run = TraceKind("cluster.run")
    /// The engine got an attempt's result (value: attempt ID).
    public static let finished = TraceKind("cluster.finished")
    /// The scheduler reported an attempt lost with its worker (value: attempt ID).
    public static let crashed = TraceKind("cluster.crashed")
    /// A worker process started (node, value: incarnation).
    public static let start = TraceKind("cluster.worker.start")
    /// A worker process exited (node, value: 1 when it failed).
    public static let exit = TraceKind("cluster.worker.exit")
    /// A worker joined or left the scheduler (node, value: 1 joined, 0 left).
    public static let membership = TraceKind("cluster.membership")
  }

  /// A cluster on `simulator` with the real scheduler state machine.
  public convenience init(simulator: Simulator, configuration: Configuration) {
    self.init(
      simulator: simulator, configuration: configuration,
      scheduler: ClusterSchedulerStateMachine(configuration: configuration.scheduler))
  }

  /// A cluster on `simulator` driving `scheduler` (a wrapper around the real one, for
  /// instance); the workers start at once.
  public init(
    simulator: Simulator, configuration: Configuration, scheduler: any SimulatedClusterScheduler
  ) {
    self.simulator = simulator
    self.configuration = configuration
    self.scheduler = scheduler
    network = SimulatedNetwork(
      simulator: simulator, nodeCount: configuration.workers + 1,
      conditions: configuration.network,
      mode: .connections(detection: configuration.detection), name: "cluster.net")
    workers = Array(repeating: WorkerNode(), count: configuration.workers)
    random = simulator.randomStream("cluster")
    network.traceTag = { Self.tag($0) }
    network.onDeliver = { [unowned self] from, to, messages in deliver(messages, from: from, to: to)
    }
    network.onConnectionLost = { [unowned self] node, peer, connection in
      connectionLost(node: node, peer: peer, connection: connection)
    }
    for worker in 0..<configuration.workers {
      simulator.schedule(afterNanoseconds: 0, .timer, node: worker + 1) { [self] in
        boot(worker)
      }
    }
  }

  /// The fault targets of this cluster: the workers crash, restart, pause, resume and slow
  /// down; partitions may separate any nodes, the scheduler included.
  public var faultTargets: FaultTargets {
    FaultTargets(
      nodes: Array(1...configuration.workers), networkNodes: Array(0...configuration.workers),
      crash: { [unowned self] in crash(worker: $0 - 1) },
      restart: { [unowned self] in restart(worker: $0 - 1) },
      pause: { [unowned self] in pause(worker: $0 - 1) },
      resume: { [unowned self] in resume(worker: $0 - 1) },
      slow: { [unowned self] in workers[$0 - 1].slowdown = $1 })
  }

  // MARK: Workers

  private func node(_ worker: Int) -> Int { worker + 1 }

  private func boot(_ worker: Int) {
    guard !shutDown, !workers[worker].crashed, workers[worker].machine == nil else { return }
    workers[worker].restartPending = false
    workers[worker].incarnation += 1
    counters.starts += 1
    simulator.record(Trace.start, node: node(worker), value: UInt64(workers[worker].incarnation))
    workers[worker].machine = ClusterWorkerStateMachine(
      configuration: .init(
        name: "worker-\(node(worker))", capacity: configuration.capacity,
        missedHeartbeats: configuration.missedHeartbeats, chainsInTransport: true))
    guard let connection = network.connect(node(worker), 0) else { return }  // told later
    workers[worker].connection = connection
    nextConnection += 1
    let id = ConnectionID(nextConnection)
    workers[worker].connectionID = id
    connections[id] = (worker, connection)
    connectionIDs[node(worker) << 32 | connection] = id
    schedulerHandle(.connectionOpened(id))
    workerHandle(worker, .connected)
  }

  private func workerHandle(_ worker: Int, _ event: ClusterWorkerStateMachine.Event) {
    guard workers[worker].machine != nil else { return }
    if workers[worker].paused {
      let incarnation = workers[worker].incarnation
      workers[worker].held.append { [unowned self] in
        if workers[worker].incarnation == incarnation { workerHandle(worker, event) }
      }
      return
    }
    if case .taskFinished(let result) = event { startFollower(of: result, on: worker) }
    let actions = workers[worker].machine!.handle(event)
    for action in actions { perform(action, worker: worker) }
  }

  /// The conditional start after `result`'s attempt starts on its output when it succeeded
  /// (as the worker's runner runs it next on its slot), or is dropped with what runs after it.
  private func startFollower(of result: ClusterTaskResult, on worker: Int) {
    guard let next = workers[worker].armed.removeValue(forKey: result.taskID) else { return }
    guard case .success(let output) = result.outcome else {
      dropChain(after: next.taskID, on: worker)
      return
    }
    var released = next
    released.inputs = [output]
    start(released, on: worker)
  }

  /// Drops the conditional starts after `id`, one after another.
  private func dropChain(after id: ClusterTaskID, on worker: Int) {
    var upstream = id
    while let next = workers[worker].armed.removeValue(forKey: upstream) {
      upstream = next.taskID
    }
  }

  private func perform(_ action: ClusterWorkerStateMachine.Action, worker: Int) {
    switch action {
    case .send(let messages):
      guard workers[worker].connection >= 0,
        network.connection(node(worker), 0) == workers[worker].connection
      else { return }
      network.send(messages, from: node(worker), to: 0)
    case .run(let assignment):
      if let after = assignment.after {
        workers[worker].armed[after] = assignment
      } else {
        start(assignment, on: worker)
      }
    case .cancel(let ids):
      for id in ids {
        stopBody(id, on: worker)
        // What runs after a cancelled attempt, or is cancelled itself, never starts.
        if let upstream = workers[worker].armed.first(where: { $0.value.taskID == id })?.key {
          workers[worker].armed[upstream] = nil
        }
        dropChain(after: id, on: worker)
      }
    case .startTimer(let timer, let after):
      let incarnation = workers[worker].incarnation
      simulator.schedule(after: after, .timer, node: node(worker)) { [self] in
        guard workers[worker].incarnation == incarnation else { return }
        workerHandle(worker, .timerFired(timer))
      }
    case .close:
      if network.connection(node(worker), 0) == workers[worker].connection {
        network.disconnect(node(worker), 0)
      }
    case .exit(let exit):
      simulator.record(Trace.exit, node: node(worker), value: exit.failed ? 1 : 0)
      counters.exits += 1
      stopProcess(worker)
      scheduleRestart(worker)
    }
  }

  /// The worker's process is gone: its bodies stop, its pending events are dropped.
  private func stopProcess(_ worker: Int) {
    for id in workers[worker].running.keys.sorted() { stopBody(id, on: worker) }
    workers[worker].armed = [:]
    workers[worker].machine = nil
    workers[worker].held = []
    workers[worker].paused = false
    workers[worker].connection = -1
    workers[worker].connectionID = nil
    workers[worker].incarnation += 1
  }

  private func scheduleRestart(_ worker: Int) {
    guard !workers[worker].crashed, !workers[worker].restartPending, !shutDown else { return }
    workers[worker].restartPending = true
    let delay = configuration.restartDelay.sampleNanoseconds(&random)
    simulator.schedule(afterNanoseconds: delay, .timer, node: node(worker)) { [self] in
      boot(worker)
    }
  }

  private func crash(worker: Int) {
    guard !workers[worker].crashed else { return }
    counters.crashes += 1
    workers[worker].crashed = true
    stopProcess(worker)
    network.crash(node(worker))
  }

  private func restart(worker: Int) {
    guard workers[worker].crashed else { return }
    workers[worker].crashed = false
    network.restart(node(worker))
    boot(worker)
  }

  private func pause(worker: Int) {
    guard workers[worker].machine != nil else { return }
    workers[worker].paused = true
  }

  private func resume(worker: Int) {
    guard workers[worker].paused else { return }
    workers[worker].paused = false
    let held = workers[worker].held
    workers[worker].held = []
    for event in held { event() }
  }

  // MARK: Task bodies

  /// Submits attempts of the engine (the real FlowExecutors engine through
  /// ``SimulatedClusterBackend``) to the scheduler; returns their
  /// attempt IDs. Attempts submitted together reach the scheduler in one event; one with a
  /// position (`after`) is a conditional start after the attempt at that position.
  func submit(
    _ batch: [(
      assignment: ClusterAssignment, priority: Int, resources: [String: Double],
      attempt: EngineAttempt, after: Int?
    )]
  ) -> [ClusterTaskID] {
    var ids: [ClusterTaskID] = []
    var submissions: [ClusterTaskSubmission] = []
    for item in batch {
      nextTaskID += 1
      let id = nextTaskID
      var assignment = item.assignment
      assignment.taskID = id
      assignment.after = item.after.map { ids[$0] }
      attempts[id] = item.attempt
      simulator.record(Trace.submit, node: 0, value: id)
      ids.append(id)
      submissions.append(
        ClusterTaskSubmission(
          assignment: assignment, priority: item.priority, resources: item.resources))
    }
    schedulerHandle(.submit(submissions))
    return ids
  }

  /// The engine no longer wants attempt `id` (a timeout, a cancelled run).
  func cancel(_ id: ClusterTaskID) {
    guard attempts[id] != nil, !attempts[id]!.finished else { return }
    attempts[id]!.cancelled = true
    schedulerHandle(.cancel(id))
  }

  /// A worker runs an attempt: it waits the attempt's drawn duration on the virtual clock
  /// (times the worker's slowdown), then runs the body.
  private func start(_ assignment: ClusterAssignment, on worker: Int) {
    let id = assignment.taskID
    attempts[id]!.bodies += 1
    counters.bodiesStarted += 1
    simulator.record(Trace.run, node: node(worker), value: id)
    let record = attempts[id]!
    var nanoseconds = 0.0
    if let duration = record.duration {
      nanoseconds = Double(duration.sampleNanoseconds(&random)) * workers[worker].slowdown
    }
    let delay = Int64(min(nanoseconds, 1e17))
    let incarnation = workers[worker].incarnation
    let clock = simulator.clock
    let execute = record.execute
    let name = "worker-\(node(worker))"
    let environment = simulator.environment("cluster.attempt-\(id)-\(record.bodies)")
    let spawn = simulator.spawn(node: node(worker), value: id) {
      if delay > 0 { try await clock.sleep(for: .nanoseconds(delay)) }
      return await execute(assignment, name, environment)
    } completion: { [self] result in
      guard workers[worker].incarnation == incarnation,
        workers[worker].running.removeValue(forKey: id) != nil,
        case .success(let taskResult) = result
      else { return }
      workerHandle(worker, .taskFinished(taskResult))
    }
    workers[worker].running[id] = spawn
  }

  private func attemptFinished(_ result: ClusterTaskResult, worker: String) {
    simulator.record(Trace.finished, node: 0, value: result.taskID)
    guard !attempts[result.taskID]!.finished else {
      violations.append(
        .resultDeliveredTwice(attempt: result.taskID, task: attempts[result.taskID]!.label))
      return
    }
    attempts[result.taskID]!.finished = true
    attempts[result.taskID]!.onFinished(result, worker)
  }

  private func attemptViolations(allowedFailures allowed: Int) -> [InvariantViolation] {
    var found: [InvariantViolation] = []
    for (id, record) in attempts.sorted(by: { $0.key < $1.key }) {
      if record.crashes > allowed {
        found.append(
          .attemptLostTooOften(
            attempt: id, task: record.label, lostWorkers: record.crashes,
            allowedFailures: allowed))
      }
      if record.bodies > record.crashes + 1 {
        found.append(
          .bodyRanTwice(
            attempt: id, task: record.label, bodies: record.bodies, lostWorkers: record.crashes))
      }
      if !record.finished, !record.cancelled, !shutDown {
        found.append(.resultLost(attempt: id, task: record.label))
      }
    }
    return found
  }

  private func stopBody(_ id: ClusterTaskID, on worker: Int) {
    if let spawn = workers[worker].running.removeValue(forKey: id) {
      simulator.cancelSpawn(spawn)
    }
  }

  // MARK: Network

  private func deliver(_ messages: [ClusterMessage], from: Int, to: Int) {
    if to == 0 {
      let worker = from - 1
      guard let id = workers[worker].connectionID else { return }
      schedulerHandle(.messagesReceived(id, messages))
    } else {
      workerHandle(to - 1, .messagesReceived(messages))
    }
  }

  private func connectionLost(node: Int, peer: Int, connection: Int) {
    if node == 0 {
      guard let id = connectionIDs.removeValue(forKey: peer << 32 | connection) else { return }
      connections[id] = nil
      schedulerHandle(.connectionClosed(id))
    } else {
      let worker = node - 1
      guard connection == -1 || connection == workers[worker].connection else { return }
      workerHandle(worker, .connectionLost)
    }
  }

  // MARK: Scheduler

  private func schedulerHandle(_ event: ClusterSchedulerStateMachine.Event) {
    let actions = scheduler.handle(event)
    for action in actions { perform(action) }
  }

  private func perform(_ action: ClusterSchedulerStateMachine.Action) {
    switch action {
    case .send(let id, let messages):
      guard let (worker, connection) = connections[id],
        network.connection(0, node(worker)) == connection
      else { return }
      network.send(messages, from: 0, to: node(worker))
    case .close(let id, _):
      guard let (worker, connection) = connections[id],
        network.connection(0, node(worker)) == connection
      else { return }
      network.disconnect(0, node(worker))
    case .startTimer(let timer, let after):
      simulator.schedule(after: after, .timer, node: 0) { [self] in
        schedulerHandle(.timerFired(timer))
      }
    case .taskFinished(let result, let worker):
      attemptFinished(result, worker: worker)
    case .taskCrashed(let id, let worker, let reason, let rescheduled):
      counters.crashedAttempts += 1
      simulator.record(Trace.crashed, node: 0, value: id)
      if let attempt = attempts[id] {
        attempts[id]!.crashes += 1
        attempt.onCrashed(worker, reason.message, rescheduled)
      }
    case .workerJoined(let info):
      simulator.record(Trace.membership, node: 0, peer: node(info), value: 1)
    case .workerLeft(let id, _, _):
      simulator.record(Trace.membership, node: 0, peer: Int(id.rawValue), value: 0)
    case .notice:
      break
    }
  }

  private func node(_ info: ClusterWorkerInfo) -> Int {
    connections[info.connection].map { node($0.worker) } ?? -1
  }

  /// Stops the cluster: the scheduler shuts down, the workers are told goodbye.
  public func shutdown() {
    shutDown = true
    schedulerHandle(.shutdown)
  }

  // MARK: Invariants

  /// Checks the invariants of the attempts the engine submitted and returns every violation
  /// (empty: all hold): no result delivered twice; each attempt lost with at most
  /// `allowedFailures` workers, its body run at most once more than the times its worker was
  /// lost, and its result not lost (finished unless withdrawn or the cluster shut down). The
  /// engine's checks (``SimulatedEngine/checkInvariants(_:flow:)``) cover the runs.
  public func checkInvariants() -> [InvariantViolation] {
    violations + attemptViolations(allowedFailures: configuration.scheduler.allowedFailures)
  }

  // MARK: Helpers

  /// A number for a frame in the trace: its first message's kind and first task ID.
  static func tag(_ messages: [ClusterMessage]) -> UInt64 {
    guard let first = messages.first else { return 0 }
    switch first {
    case .hello: return 1
    case .welcome(let id, _): return 2 | id << 8
    case .refused: return 3
    case .assign(let batch): return 4 | UInt64(batch.count) << 8 | (batch.first?.taskID ?? 0) << 24
    case .results(let batch):
      return 5 | UInt64(batch.count) << 8 | (batch.first?.taskID ?? 0) << 24
    case .heartbeat(let running): return 6 | UInt64(max(0, running)) << 8
    case .cancel(let ids): return 7 | (ids.first ?? 0) << 8
    case .drain: return 8
    case .draining: return 9
    case .handBack(let ids): return 10 | (ids.first ?? 0) << 8
    case .goodbye: return 11
    case .runContext(let context): return 12 | context.run << 8
    case .outputPart(let id, _): return 13 | id << 8
    }
  }
}

/// `12.345s`.
func formatDuration(_ duration: Duration) -> String {
  formatSimulated(duration.simulationNanoseconds)
}

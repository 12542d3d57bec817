import HeapModule

/// What the scheduler knows about a connected worker.
public struct ClusterWorkerInfo: Sendable, Equatable {
  /// The connection.
  public let connection: ConnectionID
  /// The worker's name from its hello.
  public let name: String
  /// How many attempts it runs at once.
  public let capacity: Int
  /// The resources it offers.
  public let resources: [String: Double]
  /// How many attempts it runs now.
  public let running: Int
  /// True once it drains: it gets nothing more.
  public let draining: Bool
}

/// One task attempt the engine wants run on some worker.
public struct ClusterTaskSubmission: Sendable, Equatable {
  /// What the worker runs.
  public var assignment: ClusterAssignment
  /// Higher runs first; equal priorities run in submission order.
  public var priority: Int
  /// Resources the attempt holds on its worker while it runs (`GPU: 1`).
  public var resources: [String: Double]
  /// The flow run's context, sent once to each worker before its first attempt of the run.
  public var context: ClusterRunContext?
  /// The task's name (not sent): attempts of one name share an observed run time, whatever
  /// node of the flow (slug) they run, so a flow of many calls of one short task batches from
  /// its first results on. Defaults to the slug.
  public var taskName: String

  /// Creates a submission.
  public init(
    assignment: ClusterAssignment, priority: Int = 0, resources: [String: Double] = [:],
    context: ClusterRunContext? = nil, taskName: String? = nil
  ) {
    self.taskName = taskName ?? assignment.task
    self.assignment = assignment
    self.priority = priority
    self.resources = resources
    self.context = context
  }

  /// The attempt's ID.
  public var taskID: ClusterTaskID { assignment.taskID }
}

/// The scheduler's logic, free of I/O and clocks: connections, handshakes, heartbeats, placement,
/// lost workers and drains. The transport (SwiftNIO, or the simulator) feeds it events and
/// performs the actions it returns, in order.
///
/// A worker that stops heartbeating for ``Configuration/heartbeatTTL``, or whose connection
/// drops, is lost: its running attempts become crashed and go back to the queue, to run
/// elsewhere, until an attempt has crashed ``Configuration/allowedFailures`` workers; then it
/// fails with an explanation (Dask's `KilledWorker`).
public struct ClusterSchedulerStateMachine: Sendable {
  /// Limits and timings.
  public struct Configuration: Sendable {
    /// The shared secret workers must present; nil accepts any (loopback only).
    public var token: String?
    /// How often workers send heartbeats.
    public var heartbeatInterval: Duration
    /// A worker silent this long is lost (checked once per TTL, so detection takes at most
    /// twice this).
    public var heartbeatTTL: Duration
    /// A connection that has not said hello this long after opening is closed.
    public var handshakeTimeout: Duration
    /// How many workers one attempt may crash before it fails.
    public var allowedFailures: Int
    /// The most assignments sent in one message.
    public var maxBatch: Int
    /// Assignments each worker may hold per thread beyond the one it runs, queued on the
    /// worker so that it never waits for its next task (0: exactly its capacity).
    public var prefetchPerThread: Int
    /// With attempts to run and no worker connected this long, they fail with a message that
    /// says so (nil: wait for a worker forever). Defaults to three heartbeat TTLs.
    public var noWorkerTimeout: Duration?
    /// The largest task output accepted from a worker (sent in parts when it exceeds a
    /// frame); a bigger one fails its task with a message that says so.
    public var maxOutputSize: Int
    /// The most assignments per thread a worker may hold of a task observed to be short (its
    /// mean run time, as workers report it, times this window stays within
    /// ``batchLatencyBound``), so that many travel per frame; a task not observed yet, or
    /// longer, gets `1 + prefetchPerThread`, so long tasks spread across workers. 0: off.
    public var shortTaskWindow: Int
    /// The most a deep window may add to the wait of the last task queued on a thread: a task
    /// of mean run time `t` is queued at most `batchLatencyBound / t` deep per thread.
    public var batchLatencyBound: Duration

    /// Creates a configuration.
    public init(
      token: String? = nil, heartbeatInterval: Duration = .milliseconds(500),
      heartbeatTTL: Duration = .seconds(5), handshakeTimeout: Duration = .seconds(10),
      allowedFailures: Int = 3, maxBatch: Int = 512, prefetchPerThread: Int = 0,
      noWorkerTimeout: Duration? = nil, maxOutputSize: Int = ClusterProtocol.defaultMaxOutputSize,
      shortTaskWindow: Int = 128, batchLatencyBound: Duration = .milliseconds(2)
    ) {
      self.shortTaskWindow = max(0, shortTaskWindow)
      self.batchLatencyBound = batchLatencyBound
      self.token = token
      self.heartbeatInterval = heartbeatInterval
      self.heartbeatTTL = heartbeatTTL
      self.handshakeTimeout = handshakeTimeout
      self.allowedFailures = allowedFailures
      self.maxBatch = maxBatch
      self.prefetchPerThread = max(0, prefetchPerThread)
      self.noWorkerTimeout = noWorkerTimeout ?? heartbeatTTL * 3
      self.maxOutputSize = maxOutputSize
    }
  }

  /// The scheduler's timers; each fires once per ``Action/startTimer(_:after:)``.
  public enum Timer: Hashable, Sendable {
    /// The handshake deadline of a connection.
    case handshake(ConnectionID)
    /// The periodic liveness check of a worker.
    case heartbeatCheck(ConnectionID)
    /// The deadline for a worker to connect while attempts wait (its generation).
    case noWorkers(UInt64)
  }

  /// Something that happened.
  public enum Event: Sendable {
    /// A worker connected.
    case connectionOpened(ConnectionID)
    /// A frame's messages arrived from a connection.
    case messagesReceived(ConnectionID, [ClusterMessage])
    /// The transport could not decode what a connection sent.
    case protocolViolation(ConnectionID, ClusterProtocolError)
    /// A connection closed (either side, for any reason).
    case connectionClosed(ConnectionID)
    /// A timer started by ``Action/startTimer(_:after:)`` fired.
    case timerFired(Timer)
    /// The engine wants these attempts run.
    case submit([ClusterTaskSubmission])
    /// The engine no longer wants this attempt (a timeout or a cancelled run).
    case cancel(ClusterTaskID)
    /// Ask one worker to finish its attempts and leave.
    case drainWorker(ConnectionID)
    /// Stop: every worker is told goodbye and every unfinished attempt fails.
    case shutdown
  }

  /// Something the transport must do, or report.
  public enum Action: Sendable, Equatable {
    /// Send these messages to the connection (in one frame).
    case send(ConnectionID, [ClusterMessage])
    /// Close the connection; `reason` is logged.
    case close(ConnectionID, reason: ClusterCloseReason)
    /// Fire `timer` once after `after`.
    case startTimer(Timer, after: Duration)
    /// An attempt ended on a worker (or failed on the scheduler: a killed-worker error, a
    /// shutdown), for the engine.
    case taskFinished(ClusterTaskResult, worker: String)
    /// An attempt was lost with its worker; `rescheduled` tells whether it runs again.
    case taskCrashed(
      ClusterTaskID, worker: String, reason: ClusterCloseReason, rescheduled: Bool)
    /// A worker finished its handshake.
    case workerJoined(ClusterWorkerInfo)
    /// A worker left or was lost.
    case workerLeft(ConnectionID, name: String, reason: ClusterCloseReason)
    /// Something worth a warning in the scheduler's log (a refused peer, an ignored message).
    case notice(String)
  }

  /// The codes of failures the scheduler itself reports in ``ClusterTaskOutcome/failure(code:message:)``.
  public enum FailureCode {
    /// The attempt crashed `allowedFailures` workers.
    public static let killedWorker = "killedWorker"
    /// The scheduler shut down before the attempt finished.
    public static let shutdown = "shutdown"
    /// No worker was connected for ``Configuration/noWorkerTimeout``.
    public static let noWorkers = "noWorkers"
    /// The output exceeded ``Configuration/maxOutputSize``.
    public static let outputTooLarge = "outputTooLarge"
  }

  private enum Phase: Sendable { case handshaking, active, draining, leaving }

  /// The reason every connection closes with at shutdown.
  static let shuttingDown = ClusterCloseReason(.shutdown, "the scheduler is shutting down")

  private struct Peer: Sendable {
    var phase: Phase
    var name = ""
    var capacity = 0
    var resources: [String: Double] = [:]
    var inUse: [String: Double] = [:]
    var running: Set<ClusterTaskID> = []
    var seen = false
    /// The runs whose context this worker has.
    var runs: Set<UInt64> = []

    /// Room for one more assignment of a task allowed `window` per thread.
    func free(window: Int) -> Int { phase == .active ? capacity * window - running.count : 0 }

    func fits(_ need: [String: Double]) -> Bool {
      for (name, amount) in need where (inUse[name] ?? 0) + amount > (resources[name] ?? 0) + 1e-9 {
        return false
      }
      return true
    }

    func couldEverFit(_ need: [String: Double]) -> Bool {
      need.allSatisfy { $0.value <= (resources[$0.key] ?? 0) + 1e-9 }
    }
  }

  private struct Job: Sendable {
    let submission: ClusterTaskSubmission
    let sequence: UInt64
    var worker: ConnectionID?
    var crashedOn: [String] = []
    var warned = false
  }

  private struct Queued: Comparable, Sendable {
    let priority: Int
    let sequence: UInt64
    let id: ClusterTaskID
    // The heap's max is the next to run: higher priority, then earlier submission.
    static func < (lhs: Self, rhs: Self) -> Bool {
      lhs.priority != rhs.priority ? lhs.priority < rhs.priority : lhs.sequence > rhs.sequence
    }
  }

  /// The configuration.
  public let configuration: Configuration
  private var peers: [ConnectionID: Peer] = [:]
  private var jobs: [ClusterTaskID: Job] = [:]
  private var queue = Heap<Queued>()
  private var sequence: UInt64 = 0
  private var stopped = false
  /// The current no-worker deadline's generation, and whether one is pending.
  private var noWorkerGeneration: UInt64 = 0
  private var noWorkerArmed = false
  /// The leading parts of big outputs, by attempt, while they arrive.
  private var outputParts: [ClusterTaskID: [UInt8]] = [:]
  /// Conditional starts (``ClusterAssignment/after``) by the attempt they run after: each goes
  /// to that attempt's worker in the same frame, right behind it.
  private var conditionals: [ClusterTaskID: ClusterTaskID] = [:]
  /// The mean run time of each task (by flow and task name), as workers reported it.
  private var runTimes: [TaskKey: RunTimeMean] = [:]

  /// A task by flow and name (``ClusterTaskSubmission/taskName``).
  private struct TaskKey: Hashable, Sendable {
    let flow: String
    let task: String
  }

  /// A running mean of a task's run times: the plain mean of the first 16, then an
  /// exponential one (the latest 16 weigh most), so that a task that gets slower is noticed.
  struct RunTimeMean: Sendable, Equatable {
    var nanoseconds: Double = 0
    var count = 0

    mutating func add(_ sample: UInt64) {
      count += 1
      nanoseconds += (Double(sample) - nanoseconds) / Double(min(count, 16))
    }
  }

  /// Creates a scheduler with no workers and no work.
  public init(configuration: Configuration = Configuration()) {
    self.configuration = configuration
  }

  // MARK: Observing

  /// The workers that finished their handshake, by connection.
  public var workers: [ClusterWorkerInfo] {
    peers.keys.sorted().compactMap { id in
      let peer = peers[id]!
      guard peer.phase != .handshaking else { return nil }
      return info(id, peer)
    }
  }

  /// Attempts waiting for a worker.
  public var queuedCount: Int { jobs.values.count { $0.worker == nil } }
  /// Attempts running on workers.
  public var runningCount: Int { jobs.values.count { $0.worker != nil } }
  /// True after ``Event/shutdown``.
  public var isStopped: Bool { stopped }

  /// How many assignments of task `task` (its name) of flow `flow` each worker thread may hold
  /// now: deep for a task observed to be short, `1 + prefetchPerThread` otherwise.
  public func window(flow: String, task: String) -> Int {
    window(key: TaskKey(flow: flow, task: task))
  }

  private func window(key: TaskKey) -> Int {
    let base = 1 + configuration.prefetchPerThread
    guard configuration.shortTaskWindow > base, let mean = runTimes[key] else { return base }
    let bound =
      Double(configuration.batchLatencyBound.components.seconds) * 1e9
      + Double(configuration.batchLatencyBound.components.attoseconds) * 1e-9
    let deep = min(Double(configuration.shortTaskWindow), bound / max(1, mean.nanoseconds))
    return max(base, Int(deep))
  }

  private var deepestWindow: Int {
    max(1 + configuration.prefetchPerThread, configuration.shortTaskWindow)
  }

  private func info(_ id: ConnectionID, _ peer: Peer) -> ClusterWorkerInfo {
    ClusterWorkerInfo(
      connection: id, name: peer.name, capacity: peer.capacity, resources: peer.resources,
      running: peer.running.count, draining: peer.phase != .active)
  }

  // MARK: Handling

  /// Handles one event and returns what to do, in order.
  public mutating func handle(_ event: Event) -> [Action] {
    var actions = handleEvent(event)
    watchForNoWorkers(&actions)
    return actions
  }

  private mutating func handleEvent(_ event: Event) -> [Action] {
    var actions: [Action] = []
    switch event {
    case .connectionOpened(let id):
      guard !stopped else {
        actions.append(.close(id, reason: Self.shuttingDown))
        break
      }
      peers[id] = Peer(phase: .handshaking)
      actions.append(.startTimer(.handshake(id), after: configuration.handshakeTimeout))
    case .messagesReceived(let id, let messages):
      // Most messages are results, each an action: room for them at once, not by growth.
      actions.reserveCapacity(messages.count + 1)
      for message in messages {
        guard peers[id] != nil else { break }
        received(message, from: id, &actions)
      }
      place(&actions)
    case .protocolViolation(let id, let error):
      guard peers[id] != nil else { break }
      drop(id, reason: ClusterCloseReason(error), &actions)
      place(&actions)
    case .connectionClosed(let id):
      guard let peer = peers[id] else { break }
      if peer.phase == .handshaking {
        peers[id] = nil
        actions.append(.notice("connection \(id) closed before its handshake"))
        break
      }
      lose(id, reason: ClusterCloseReason(.connectionLost, "its connection closed"), &actions)
      place(&actions)
    case .timerFired(.handshake(let id)):
      guard let peer = peers[id], peer.phase == .handshaking else { break }
      let error = ClusterProtocolError(
        .timeout,
        "no hello within \(configuration.handshakeTimeout) of connecting; is the peer a "
          + "swift-flow worker of the same version?")
      drop(id, reason: ClusterCloseReason(error), &actions)
    case .timerFired(.heartbeatCheck(let id)):
      guard var peer = peers[id], peer.phase != .handshaking else { break }
      if peer.seen {
        peer.seen = false
        peers[id] = peer
        actions.append(.startTimer(.heartbeatCheck(id), after: configuration.heartbeatTTL))
      } else {
        let error = ClusterProtocolError(
          .timeout, "no heartbeat from '\(peer.name)' within \(configuration.heartbeatTTL)")
        drop(id, reason: ClusterCloseReason(error), &actions)
        place(&actions)
      }
    case .timerFired(.noWorkers(let generation)):
      guard noWorkerArmed, generation == noWorkerGeneration else { break }
      noWorkerArmed = false
      guard !hasWorker, let timeout = configuration.noWorkerTimeout else { break }
      let message =
        "no worker was connected for \(timeout) (every worker left or was lost), so this "
        + "attempt and the \(jobs.count - 1) others waiting fail; start workers with `worker "
        + "--connect HOST:PORT` (a local cluster replaces lost workers within its crash budget), "
        + "or raise `noWorkerTimeout`"
      actions.append(
        .notice(
          "no worker was connected for \(timeout): failing the \(jobs.count) attempts waiting "
            + "for one (raise `noWorkerTimeout`, or start workers with `worker --connect`)"))
      for id in jobs.keys.sorted() {
        actions.append(
          .taskFinished(
            ClusterTaskResult(
              taskID: id, outcome: .failure(code: FailureCode.noWorkers, message: message)),
            worker: ""))
      }
      jobs.removeAll()
      conditionals.removeAll()
      queue = Heap()
    case .submit(let submissions):
      for submission in submissions {
        guard !stopped else {
          actions.append(
            .taskFinished(
              ClusterTaskResult(
                taskID: submission.taskID,
                outcome: .failure(
                  code: FailureCode.shutdown, message: "the cluster has shut down")),
              worker: ""))
          continue
        }
        sequence += 1
        if let after = submission.assignment.after {
          // It goes wherever its upstream goes, with it; it cannot run without it.
          jobs[submission.taskID] = Job(submission: submission, sequence: sequence)
          guard let upstream = jobs[after], upstream.worker == nil, conditionals[after] == nil
          else {
            dropConditional(
              submission.taskID, "the attempt it runs after (\(after)) is not waiting for a worker",
              &actions)
            continue
          }
          conditionals[after] = submission.taskID
          continue
        }
        jobs[submission.taskID] = Job(submission: submission, sequence: sequence)
        queue.insert(
          Queued(priority: submission.priority, sequence: sequence, id: submission.taskID))
      }
      place(&actions)
    case .cancel(let taskID):
      guard let job = jobs.removeValue(forKey: taskID) else { break }
      if let after = job.submission.assignment.after, conditionals[after] == taskID {
        conditionals[after] = nil
      }
      let dependents = dropDependents(of: taskID, "it was cancelled", &actions)
      if let worker = job.worker, peers[worker] != nil {
        release(taskID, job, from: worker)
        actions.append(.send(worker, [.cancel([taskID] + dependents)]))
        place(&actions)
      }
    case .drainWorker(let id):
      guard var peer = peers[id], peer.phase == .active else { break }
      peer.phase = .draining
      peers[id] = peer
      actions.append(.send(id, [.drain]))
    case .shutdown:
      stopped = true
      for id in peers.keys.sorted() {
        actions.append(.send(id, [.goodbye(reason: "the scheduler is shutting down")]))
        actions.append(.close(id, reason: Self.shuttingDown))
      }
      peers.removeAll()
      for id in jobs.keys.sorted() {
        actions.append(
          .taskFinished(
            ClusterTaskResult(
              taskID: id,
              outcome: .failure(
                code: FailureCode.shutdown,
                message: "the cluster shut down before the attempt finished")),
            worker: ""))
      }
      jobs.removeAll()
      conditionals.removeAll()
      outputParts.removeAll()
      queue = Heap()
    }
    return actions
  }

  /// Ends a conditional start that will not run (or not run where it was sent): the engine
  /// learns it with ``ClusterTaskOutcome/notRunCode`` and starts the task the ordinary way if
  /// it decides to. What was to run after it is dropped too.
  private mutating func dropConditional(
    _ taskID: ClusterTaskID, _ why: String, code: String = ClusterTaskOutcome.notRunCode,
    _ actions: inout [Action]
  ) {
    guard let job = jobs.removeValue(forKey: taskID) else { return }
    if let after = job.submission.assignment.after, conditionals[after] == taskID {
      conditionals[after] = nil
    }
    var worker = ""
    if let id = job.worker {
      worker = peers[id]?.name ?? ""
      release(taskID, job, from: id)
    }
    actions.append(
      .taskFinished(
        ClusterTaskResult(
          taskID: taskID,
          outcome: .failure(code: code, message: "not run: \(why)")),
        worker: worker))
    _ = dropDependents(of: taskID, "the attempt it runs after (\(taskID)) did not run", &actions)
  }

  /// Drops the conditional starts after `taskID` (see ``dropConditional(_:_:_:)``); returns
  /// their IDs.
  private mutating func dropDependents(
    of taskID: ClusterTaskID, _ why: String, _ actions: inout [Action]
  ) -> [ClusterTaskID] {
    guard let dependent = conditionals.removeValue(forKey: taskID) else { return [] }
    var dropped = [dependent]
    var next = conditionals[dependent]
    while let id = next {
      dropped.append(id)
      next = conditionals[id]
    }
    dropConditional(dependent, why, &actions)
    return dropped
  }

  /// True while some worker finished its handshake and is connected.
  private var hasWorker: Bool { peers.values.contains { $0.phase != .handshaking } }

  /// Starts the no-worker deadline when attempts wait and no worker is connected; a worker
  /// that joins cancels it.
  private mutating func watchForNoWorkers(_ actions: inout [Action]) {
    if hasWorker || jobs.isEmpty || stopped {
      if noWorkerArmed {
        noWorkerArmed = false
        noWorkerGeneration += 1
      }
      return
    }
    guard !noWorkerArmed, let timeout = configuration.noWorkerTimeout else { return }
    noWorkerArmed = true
    noWorkerGeneration += 1
    actions.append(.startTimer(.noWorkers(noWorkerGeneration), after: timeout))
  }

  private mutating func received(
    _ message: ClusterMessage, from id: ConnectionID, _ actions: inout [Action]
  ) {
    peers[id]!.seen = true
    if peers[id]!.phase == .handshaking {
      guard case .hello(let hello) = message else {
        let error = ClusterProtocolError(
          .outOfOrder, "the first message must be a hello, got \(message.kind)")
        return drop(id, reason: ClusterCloseReason(error), &actions)
      }
      return handshake(id, hello, &actions)
    }
    switch message {
    case .outputPart(let taskID, let part):
      // Parts of an attempt that no longer runs there (failed, cancelled) are dropped.
      guard let job = jobs[taskID], job.worker == id else { break }
      let size = (outputParts[taskID]?.count ?? 0) + part.count
      guard size <= configuration.maxOutputSize else {
        outputParts[taskID] = nil
        jobs[taskID] = nil
        release(taskID, job, from: id)
        let dependents = dropDependents(of: taskID, "the attempt it runs after failed", &actions)
        actions.append(.send(id, [.cancel([taskID] + dependents)]))
        let message =
          "the output of task '\(job.submission.assignment.task)' exceeds the "
          + "\(configuration.maxOutputSize) bytes the scheduler accepts (`maxOutputSize`); "
          + "persist it in a result store and return its location, or raise the limit"
        actions.append(
          .taskFinished(
            ClusterTaskResult(
              taskID: taskID,
              outcome: .failure(code: FailureCode.outputTooLarge, message: message)),
            worker: peers[id]!.name))
        break
      }
      outputParts[taskID, default: []].append(contentsOf: part)
    case .results(let results):
      let worker = peers[id]!.name
      actions.reserveCapacity(actions.count + results.count)
      // Run times are added up per task while results of one task come in a row (most do),
      // and kept once per run of them: no hashing of the task's key per result.
      var timed: (key: TaskKey, mean: RunTimeMean)?
      for var result in results {
        if !outputParts.isEmpty, let parts = outputParts.removeValue(forKey: result.taskID),
          case .success(let last) = result.outcome
        {
          result.outcome = .success(parts + last)
        }
        guard let job = jobs.removeValue(forKey: result.taskID) else {
          actions.append(.notice(Self.ignored(result.taskID, from: worker)))
          continue
        }
        guard job.worker == id else {
          jobs[result.taskID] = job
          actions.append(.notice(Self.ignored(result.taskID, from: worker)))
          continue
        }
        if !conditionals.isEmpty {
          conditionals[result.taskID] = nil  // its dependent runs (or not) on that worker
          if let after = job.submission.assignment.after, conditionals[after] == result.taskID {
            conditionals[after] = nil
          }
        }
        release(result.taskID, job, from: id)
        if result.runNanoseconds > 0 {
          if let current = timed, current.key.flow == job.submission.assignment.flow,
            current.key.task == job.submission.taskName
          {
            timed!.mean.add(result.runNanoseconds)
          } else {
            if let current = timed { runTimes[current.key] = current.mean }
            let key = TaskKey(flow: job.submission.assignment.flow, task: job.submission.taskName)
            var mean = runTimes[key] ?? RunTimeMean()
            mean.add(result.runNanoseconds)
            timed = (key, mean)
          }
        }
        actions.append(.taskFinished(result, worker: worker))
      }
      if let current = timed { runTimes[current.key] = current.mean }
    case .heartbeat:
      actions.append(.send(id, [.heartbeat(running: peers[id]!.running.count)]))
    case .draining:
      if peers[id]!.phase == .active { peers[id]!.phase = .draining }
    case .handBack(let ids):
      for taskID in ids {
        guard let job = jobs[taskID], job.worker == id else { continue }
        if job.submission.assignment.after != nil {
          dropConditional(taskID, "its worker handed it back", &actions)
          continue
        }
        release(taskID, job, from: id)
        requeue(taskID)
      }
    case .goodbye(let reason):
      leave(id, reason: ClusterCloseReason(.goodbye, "it said goodbye (\(reason))"), &actions)
    case .hello, .welcome, .refused, .assign, .cancel, .drain, .runContext:
      let error = ClusterProtocolError(
        .outOfOrder,
        "'\(peers[id]!.name)' sent \(message.kind), which a worker never sends after "
          + "its handshake")
      drop(id, reason: ClusterCloseReason(error), &actions)
    }
  }

  private mutating func handshake(
    _ id: ConnectionID, _ hello: ClusterHello, _ actions: inout [Action]
  ) {
    var refusal: ClusterProtocolError?
    if hello.protocolVersion != ClusterProtocol.version {
      refusal = ClusterProtocolError(
        .versionMismatch,
        "a worker speaks protocol version \(hello.protocolVersion), this "
          + "scheduler speaks \(ClusterProtocol.version); run the same build on both sides")
    } else if let token = configuration.token, !ClusterWireFormat.sameToken(token, hello.token) {
      refusal = ClusterProtocolError(
        .badToken,
        "a worker presented \(hello.token.isEmpty ? "no" : "a wrong") token; "
          + "start it with the scheduler's `--token`")
    } else if hello.capacity < 1 || hello.capacity > 1 << 20 {
      refusal = ClusterProtocolError(
        .malformedFrame,
        "worker '\(hello.workerName)' offers a capacity of \(hello.capacity); give it 1 or more "
          + "threads")
    } else if hello.resources.values.contains(where: { !($0 >= 0) || !$0.isFinite }) {
      refusal = ClusterProtocolError(
        .malformedFrame, "worker '\(hello.workerName)' offers a negative or infinite resource")
    }
    if let refusal {
      actions.append(.send(id, [.refused(reason: refusal.message)]))
      peers[id] = nil
      actions.append(.close(id, reason: ClusterCloseReason(.refused, "refused: \(refusal)")))
      return
    }
    var peer = Peer(phase: .active)
    peer.name = hello.workerName
    peer.capacity = hello.capacity
    peer.resources = hello.resources
    peer.seen = true
    peers[id] = peer
    let interval =
      Int(configuration.heartbeatInterval.components.seconds * 1000)
      + Int(configuration.heartbeatInterval.components.attoseconds / 1_000_000_000_000_000)
    actions.append(.send(id, [.welcome(workerID: id.rawValue, heartbeatMilliseconds: interval)]))
    actions.append(.startTimer(.heartbeatCheck(id), after: configuration.heartbeatTTL))
    actions.append(.workerJoined(info(id, peer)))
  }

  /// Closes a misbehaving or silent connection; its attempts crash.
  private mutating func drop(
    _ id: ConnectionID, reason: ClusterCloseReason, _ actions: inout [Action]
  ) {
    actions.append(.close(id, reason: reason))
    lose(id, reason: reason, &actions)
  }

  /// A worker is gone without handing its attempts back: they crash.
  private mutating func lose(
    _ id: ConnectionID, reason: ClusterCloseReason, _ actions: inout [Action]
  ) {
    guard let peer = peers.removeValue(forKey: id) else { return }
    guard peer.phase != .handshaking else { return }
    for taskID in peer.running.sorted() {
      outputParts[taskID] = nil
      guard var job = jobs[taskID] else { continue }
      if job.submission.assignment.after != nil {
        // Its upstream runs again elsewhere, alone: this one is not a crash, it never ran.
        job.worker = nil
        jobs[taskID] = job
        dropConditional(
          taskID, "its worker '\(peer.name)' was lost (\(reason.message))",
          code: ClusterTaskOutcome.lostCode, &actions)
        continue
      }
      conditionals[taskID] = nil
      job.worker = nil
      job.crashedOn.append(peer.name)
      if job.crashedOn.count >= configuration.allowedFailures {
        jobs[taskID] = nil
        actions.append(
          .taskCrashed(taskID, worker: peer.name, reason: reason, rescheduled: false))
        let workers = job.crashedOn.map { "'\($0)'" }.joined(separator: ", ")
        let message =
          "the attempt was running on \(job.crashedOn.count) workers that were lost (\(workers)); "
          + "it is suspected of crashing them (out of memory, a crash in native code, a killed "
          + "process), so it is not rescheduled again. Check the workers' logs, or raise "
          + "`allowedFailures` (now \(configuration.allowedFailures)) if the workers died for "
          + "other reasons"
        actions.append(
          .taskFinished(
            ClusterTaskResult(
              taskID: taskID, outcome: .failure(code: FailureCode.killedWorker, message: message)),
            worker: peer.name))
      } else {
        jobs[taskID] = job
        queue.insert(
          Queued(priority: job.submission.priority, sequence: job.sequence, id: taskID))
        actions.append(.taskCrashed(taskID, worker: peer.name, reason: reason, rescheduled: true))
      }
    }
    actions.append(.workerLeft(id, name: peer.name, reason: reason))
  }

  /// A worker leaves cleanly: what it still holds runs elsewhere, without counting as a crash.
  private mutating func leave(
    _ id: ConnectionID, reason: ClusterCloseReason, _ actions: inout [Action]
  ) {
    guard let peer = peers.removeValue(forKey: id) else { return }
    for taskID in peer.running.sorted() where jobs[taskID] != nil {
      outputParts[taskID] = nil
      jobs[taskID]!.worker = nil
      if jobs[taskID]!.submission.assignment.after != nil {
        dropConditional(taskID, "its worker '\(peer.name)' left", &actions)
        continue
      }
      conditionals[taskID] = nil
      requeue(taskID)
    }
    actions.append(.close(id, reason: reason))
    actions.append(.workerLeft(id, name: peer.name, reason: reason))
  }

  private mutating func requeue(_ taskID: ClusterTaskID) {
    guard let job = jobs[taskID] else { return }
    jobs[taskID]!.worker = nil
    queue.insert(Queued(priority: job.submission.priority, sequence: job.sequence, id: taskID))
  }

  private mutating func release(_ taskID: ClusterTaskID, _ job: Job, from id: ConnectionID) {
    if !outputParts.isEmpty { outputParts[taskID] = nil }
    guard let index = peers.index(forKey: id) else { return }
    peers.values[index].running.remove(taskID)
    for (name, amount) in job.submission.resources {
      peers.values[index].inUse[name, default: 0] -= amount
    }
  }

  /// The notice about a result for an attempt that does not run on the worker that sent it.
  private static func ignored(_ taskID: ClusterTaskID, from worker: String) -> String {
    "ignored a result for attempt \(taskID) from '\(worker)': it is not running there "
      + "(cancelled or reassigned)"
  }

  // MARK: Placement

  /// Assigns queued attempts: by priority, to the least-loaded worker with room and resources.
  /// A worker has room for an attempt while it holds fewer than its threads times the task's
  /// window (deep for a task observed to be short). The first attempt that finds no room stops
  /// placement, so nothing overtakes it; one that only lacks resources waits aside.
  private mutating func place(_ actions: inout [Action]) {
    guard !queue.isEmpty, !stopped else { return }
    let deepest = deepestWindow
    guard peers.values.contains(where: { $0.free(window: deepest) > 0 }) else { return }
    // The workers in a fixed order, with what placement reads and adds, kept here while it
    // runs (no lookup of a worker per attempt); their running sets get the attempts at the end.
    var slots = peers.keys.sorted().map { id in
      let peer = peers[id]!
      return PlacementSlot(
        id: id, capacity: peer.capacity, active: peer.phase == .active, name: peer.name,
        running: peer.running.count)
    }
    var waiting: [Queued] = []
    var last: (key: TaskKey, window: Int)?
    while let next = queue.popMax() {
      guard let index = jobs.index(forKey: next.id), jobs.values[index].worker == nil else {
        continue
      }
      // The job's fields are read in place: a copy of it would retain every one of them.
      let window: Int
      if let last, last.key.flow == jobs.values[index].submission.assignment.flow,
        last.key.task == jobs.values[index].submission.taskName
      {
        window = last.window
      } else {
        let key = TaskKey(
          flow: jobs.values[index].submission.assignment.flow,
          task: jobs.values[index].submission.taskName)
        window = self.window(key: key)
        last = (key, window)
      }
      let resources = jobs.values[index].submission.resources
      let choice = bestWorker(
        needing: resources, crashedOn: jobs.values[index].crashedOn, window: window, slots)
      guard let chosen = choice.slot else {
        waiting.append(next)
        if choice.full { break }  // no room for it: it goes first once a worker has room
        if !jobs.values[index].warned,
          !peers.values.contains(where: { $0.couldEverFit(resources) })
        {
          jobs.values[index].warned = true
          let need = resources.sorted { $0.key < $1.key }
            .map { "\($0.key)=\($0.value)" }.joined(separator: ", ")
          actions.append(
            .notice(
              "task '\(jobs.values[index].submission.assignment.task)' needs \(need), which no "
                + "connected worker offers; it waits for a worker started with `--resources`"))
        }
        if waiting.count >= 4096 { break }
        continue
      }
      let id = slots[chosen].id
      jobs.values[index].worker = id
      slots[chosen].take(next.id, jobs.values[index].submission.assignment)
      for (name, amount) in resources {
        peers[id]!.inUse[name, default: 0] += amount
      }
      if let run = jobs.values[index].submission.context?.run, slots[chosen].lastRun != run {
        slots[chosen].lastRun = run
        if peers[id]!.runs.insert(run).inserted {
          slots[chosen].contexts.append(.runContext(jobs.values[index].submission.context!))
        }
      }
      // The conditional starts after it go with it, in order, right behind it.
      var upstream = next.id
      while !conditionals.isEmpty, let dependent = conditionals[upstream],
        let follower = jobs[dependent]
      {
        jobs[dependent]!.worker = id
        slots[chosen].take(dependent, follower.submission.assignment)
        for (name, amount) in follower.submission.resources {
          peers[id]!.inUse[name, default: 0] += amount
        }
        upstream = dependent
      }
    }
    for item in waiting { queue.insert(item) }
    for slot in slots where !slot.assigned.isEmpty {
      peers[slot.id]!.running.formUnion(slot.taken)
      if !slot.contexts.isEmpty { actions.append(.send(slot.id, slot.contexts)) }
      guard slot.assigned.count > configuration.maxBatch else {
        actions.append(.send(slot.id, [.assign(slot.assigned)]))
        continue
      }
      var start = 0
      while start < slot.assigned.count {
        let end = min(slot.assigned.count, start + configuration.maxBatch)
        actions.append(.send(slot.id, [.assign(Array(slot.assigned[start..<end]))]))
        start = end
      }
    }
  }

  /// A worker while placement runs: what it had, and what it gets in this frame.
  private struct PlacementSlot {
    let id: ConnectionID
    let capacity: Int
    let active: Bool
    let name: String
    /// Attempts it holds, those given now included.
    var running: Int
    /// Attempts given now, and their IDs.
    var assigned: [ClusterAssignment] = []
    var taken: [ClusterTaskID] = []
    /// Run contexts it gets now, and the run whose context it has for sure.
    var contexts: [ClusterMessage] = []
    var lastRun: UInt64?

    func free(window: Int) -> Int { active ? capacity * window - running : 0 }

    mutating func take(_ id: ClusterTaskID, _ assignment: ClusterAssignment) {
      running += 1
      assigned.append(assignment)
      taken.append(id)
    }
  }

  /// The least-loaded worker with room for `job` (at `window` per thread) and its resources;
  /// `full` when no worker has room for it at all (as opposed to lacking resources). A deep
  /// window is refilled in batches: a worker gets more once it holds at most half of it (or
  /// when it already gets some in this frame), so frames carry many assignments, not one per
  /// result.
  private func bestWorker(
    needing resources: [String: Double], crashedOn: [String], window: Int,
    _ slots: [PlacementSlot]
  ) -> (slot: Int?, full: Bool) {
    let deep = window > 1 + configuration.prefetchPerThread
    let needs = !resources.isEmpty
    var best: Int?
    var bestScore = (0, 0)
    var room = false
    for index in slots.indices {
      let free = slots[index].free(window: window)
      guard free > 0 else { continue }
      guard
        !deep || !slots[index].assigned.isEmpty || free * 2 >= slots[index].capacity * window
      else { continue }
      room = true
      if needs, !peers[slots[index].id]!.fits(resources) { continue }
      // Least loaded first; a worker this attempt already crashed ranks last.
      let crashed = !crashedOn.isEmpty && crashedOn.contains(slots[index].name)
      let score = (crashed ? 0 : 1, free)
      if best == nil || score > bestScore {
        best = index
        bestScore = score
      }
    }
    return (best, !room)
  }

}

/// The worker's logic, free of I/O and clocks: handshake, assignments, results, heartbeats and
/// the graceful drain. The transport feeds it events and performs its actions, in order.
public struct ClusterWorkerStateMachine: Sendable {
  /// Who the worker is and how it drains.
  public struct Configuration: Sendable {
    /// The worker's name in the scheduler's logs.
    public var name: String
    /// How many attempts it runs at once.
    public var capacity: Int
    /// The resources it offers (`GPU: 2`).
    public var resources: [String: Double]
    /// The shared secret ("" for none).
    public var token: String
    /// The flows it registered.
    public var flows: [String]
    /// How long a drain waits for running attempts before handing them back.
    public var drainTimeout: Duration
    /// Heartbeats from the scheduler missed in a row before the worker gives up on it.
    public var missedHeartbeats: Int
    /// The most results held back to travel in one frame while more accepted attempts are still
    /// to finish (1: each result goes at once). The last accepted attempt's result never waits.
    public var resultBatch: Int
    /// The longest a held result waits for others before it is sent.
    public var resultDelay: Duration
    /// How many accepted attempts beyond ``capacity`` are started ahead: handed to the
    /// transport, which runs at most ``capacity`` at once and moves from one to the next without
    /// waiting for the machine (short bodies run back to back). A drain hands back only the
    /// attempts not started. 0: an attempt starts only when a slot is free.
    public var startAhead: Int
    /// Conditional starts (``ClusterAssignment/after``) go to the transport as they arrive
    /// (``Action/run(_:)`` of an assignment with `after`), which runs each on the slot of the
    /// attempt it runs after, at once when that attempt succeeds (its output as the only
    /// input), and never otherwise: a chain runs back to back without waiting for the machine,
    /// which applies the same rule when it learns each outcome. A drain then finishes them (as
    /// started attempts) instead of handing them back. False: the machine releases each one
    /// when the attempt before it succeeded.
    public var chainsInTransport: Bool

    /// Creates a configuration.
    public init(
      name: String, capacity: Int, resources: [String: Double] = [:], token: String = "",
      flows: [String] = [], drainTimeout: Duration = .seconds(30), missedHeartbeats: Int = 10,
      resultBatch: Int = 1, resultDelay: Duration = .microseconds(500), startAhead: Int = 0,
      chainsInTransport: Bool = false
    ) {
      self.chainsInTransport = chainsInTransport
      self.resultBatch = max(1, resultBatch)
      self.startAhead = max(0, startAhead)
      self.resultDelay = resultDelay
      self.name = name
      self.capacity = capacity
      self.resources = resources
      self.token = token
      self.flows = flows
      self.drainTimeout = drainTimeout
      self.missedHeartbeats = missedHeartbeats
    }
  }

  /// The worker's timers.
  public enum Timer: Hashable, Sendable {
    /// Time to send a heartbeat.
    case heartbeat
    /// Time to check that the scheduler was heard from.
    case schedulerCheck
    /// The drain's deadline.
    case drainDeadline
    /// Time to send the results held back (see ``Configuration/resultBatch``).
    case sendResults
  }

  /// Something that happened.
  public enum Event: Sendable {
    /// The connection to the scheduler is open.
    case connected
    /// A frame's messages arrived.
    case messagesReceived([ClusterMessage])
    /// The transport could not decode what the scheduler sent.
    case protocolViolation(ClusterProtocolError)
    /// An attempt started by ``Action/run(_:)`` ended.
    case taskFinished(ClusterTaskResult)
    /// A timer fired.
    case timerFired(Timer)
    /// The connection closed.
    case connectionLost
    /// Asked to stop gracefully (SIGTERM).
    case drainRequested
  }

  /// Why the worker stopped.
  public struct Exit: Sendable, Equatable {
    /// What happened.
    public let reason: ClusterCloseReason
    /// False for a clean stop (a drain, the scheduler's goodbye).
    public let failed: Bool
    /// True when the connection closed under the worker (the scheduler died, or dropped it
    /// while it was paused): a worker may connect again to rejoin.
    public let lostConnection: Bool

    /// Creates an exit.
    public init(reason: ClusterCloseReason, failed: Bool, lostConnection: Bool = false) {
      self.reason = reason
      self.failed = failed
      self.lostConnection = lostConnection
    }
  }

  /// Something the transport must do.
  public enum Action: Sendable, Equatable {
    /// Send these messages to the scheduler (in one frame).
    case send([ClusterMessage])
    /// Start running an attempt; report it with ``Event/taskFinished(_:)``. At most
    /// ``Configuration/capacity`` plus ``Configuration/startAhead`` attempts are started at
    /// once (the transport runs at most `capacity` of them at a time): prefetched assignments
    /// wait in the machine until a started one finishes (so a drain can hand them back
    /// unstarted). With ``Configuration/chainsInTransport``, an assignment with
    /// ``ClusterAssignment/after`` runs after that attempt, on its slot, only if it succeeds,
    /// with its output as the only input (otherwise it never runs and is not reported: the
    /// machine reports it not run); cancelling an attempt also drops what runs after it.
    case run(ClusterAssignment)
    /// Cancel these running attempts; report nothing for them.
    case cancel([ClusterTaskID])
    /// Fire `timer` once after `after`.
    case startTimer(Timer, after: Duration)
    /// Close the connection.
    case close(reason: ClusterCloseReason)
    /// The worker is done; the process may exit.
    case exit(Exit)
  }

  private enum Phase: Sendable { case idle, handshaking, active, draining, closed }

  /// The configuration.
  public let configuration: Configuration
  private var phase = Phase.idle
  /// Every accepted attempt: started, or waiting for a free slot.
  private var running: Set<ClusterTaskID> = []
  /// Accepted attempts not started yet, in arrival order (from `waitingHead`).
  private var waiting: [ClusterAssignment] = []
  private var waitingHead = 0
  /// How many accepted attempts are started.
  private var started = 0
  /// The latest flow runs' contexts, oldest first.
  private var contexts: [ClusterRunContext] = []
  /// How many run contexts a worker keeps (the oldest is forgotten).
  public static let keptRunContexts = 64
  private var heartbeat: Duration = .milliseconds(500)
  private var heard = false
  private var missed = 0
  /// The ID the scheduler gave this worker (0 before the handshake).
  public private(set) var workerID: UInt64 = 0
  /// Results held back to travel together, and whether their timer runs.
  private var held: [ClusterTaskResult] = []
  /// Conditional starts (``ClusterAssignment/after``) waiting for the attempt they run after,
  /// by that attempt's ID.
  private var conditional: [ClusterTaskID: ClusterAssignment] = [:]
  private var sendTimerArmed = false

  /// Creates a worker that has not connected yet.
  public init(configuration: Configuration) {
    self.configuration = configuration
  }

  /// Attempts accepted and not finished: running, or prefetched and waiting for a free slot.
  public var runningCount: Int { running.count }
  /// True once the handshake succeeded and until the worker stops.
  public var isConnected: Bool { phase == .active || phase == .draining }
  /// True once the worker stopped.
  public var isClosed: Bool { phase == .closed }

  /// The context of flow run `run`, as the scheduler sent it (nil for 0 or an unknown run).
  public func runContext(_ run: UInt64) -> ClusterRunContext? {
    guard run != 0 else { return nil }
    return contexts.last { $0.run == run }
  }

  /// Handles one event and returns what to do, in order.
  public mutating func handle(_ event: Event) -> [Action] {
    var actions: [Action] = []
    switch event {
    case .connected:
      guard phase == .idle else { break }
      phase = .handshaking
      actions.append(
        .send([
          .hello(
            ClusterHello(
              workerName: configuration.name, capacity: configuration.capacity,
              resources: configuration.resources, token: configuration.token,
              flows: configuration.flows))
        ]))
    case .messagesReceived(let messages):
      for message in messages where phase != .closed {
        received(message, &actions)
      }
    case .protocolViolation(let error):
      guard phase != .closed else { break }
      stop(
        reason: ClusterCloseReason(
          error.code == .timeout ? .timeout : .protocolViolation,
          "the scheduler sent a bad frame: \(error)"),
        failed: true, &actions)
    case .taskFinished(let result):
      guard running.remove(result.taskID) != nil, phase != .closed else { break }
      started -= 1
      held.append(result)
      releaseConditional(after: result)
      if running.isEmpty || phase != .active || held.count >= configuration.resultBatch {
        sendHeld(&actions)
      } else if !sendTimerArmed {
        sendTimerArmed = true
        actions.append(.startTimer(.sendResults, after: configuration.resultDelay))
      }
      if phase == .draining, running.isEmpty {
        leave("drained", &actions)
      } else {
        startWaiting(&actions)
      }
    case .timerFired(.sendResults):
      sendTimerArmed = false
      guard phase == .active || phase == .draining else { break }
      sendHeld(&actions)
    case .timerFired(.heartbeat):
      guard phase == .active || phase == .draining else { break }
      actions.append(.send([.heartbeat(running: running.count)]))
      actions.append(.startTimer(.heartbeat, after: heartbeat))
    case .timerFired(.schedulerCheck):
      guard phase == .active || phase == .draining else { break }
      if heard {
        heard = false
        missed = 0
      } else {
        missed += 1
        if missed >= configuration.missedHeartbeats {
          stop(
            reason: ClusterCloseReason(
              .timeout,
              "the scheduler was silent for \(missed) heartbeat intervals; it is presumed lost"),
            failed: true, lostConnection: true, &actions)
          break
        }
      }
      actions.append(.startTimer(.schedulerCheck, after: heartbeat))
    case .timerFired(.drainDeadline):
      guard phase == .draining else { break }
      sendHeld(&actions)
      let ids = running.sorted()
      if !ids.isEmpty {
        actions.append(.cancel(ids))
        actions.append(.send([.handBack(ids)]))
        running.removeAll()
        started = 0
      }
      leave("drain deadline: handed back \(ids.count) attempts", &actions)
    case .connectionLost:
      guard phase != .closed else { break }
      stop(
        reason: ClusterCloseReason(.connectionLost, "lost the connection to the scheduler"),
        failed: true, lostConnection: true, &actions)
    case .drainRequested:
      switch phase {
      case .idle, .handshaking:
        stop(
          reason: ClusterCloseReason(
            .stoppedBeforeHandshake, "stopped before the handshake finished"),
          failed: false, &actions)
      case .active:
        phase = .draining
        sendHeld(&actions)
        actions.append(.send([.draining] + handBackWaiting()))
        if running.isEmpty {
          leave("drained", &actions)
        } else {
          actions.append(.startTimer(.drainDeadline, after: configuration.drainTimeout))
        }
      case .draining, .closed:
        break
      }
    }
    return actions
  }

  private mutating func received(_ message: ClusterMessage, _ actions: inout [Action]) {
    heard = true
    if phase == .handshaking {
      switch message {
      case .welcome(let id, let milliseconds):
        workerID = id
        heartbeat = .milliseconds(max(10, milliseconds))
        phase = .active
        actions.append(.startTimer(.heartbeat, after: heartbeat))
        actions.append(.startTimer(.schedulerCheck, after: heartbeat))
      case .refused(let reason):
        stop(
          reason: ClusterCloseReason(.refused, "the scheduler refused this worker: \(reason)"),
          failed: true, &actions)
      default:
        let error = ClusterProtocolError(
          .outOfOrder,
          "expected welcome or refused, got \(message.kind)")
        stop(reason: ClusterCloseReason(error), failed: true, &actions)
      }
      return
    }
    switch message {
    case .assign(let assignments):
      if phase == .draining {
        actions.append(.send([.handBack(assignments.map(\.taskID))]))
        return
      }
      let heldBefore = held.count
      for assignment in assignments where running.insert(assignment.taskID).inserted {
        if let after = assignment.after {
          // It runs after an attempt this worker holds; otherwise it cannot run here.
          if running.contains(after), conditional[after] == nil {
            conditional[after] = assignment
            if configuration.chainsInTransport { actions.append(.run(assignment)) }
          } else {
            notRun(assignment.taskID, "the attempt it runs after (\(after)) is not on this worker")
          }
          continue
        }
        if started < startLimit {
          started += 1
          actions.append(.run(assignment))
        } else {
          waiting.append(assignment)
        }
      }
      if held.count > heldBefore { sendHeld(&actions) }
    case .cancel(let ids):
      let heldBefore = held.count
      var cancelled: [ClusterTaskID] = []
      for id in ids where running.remove(id) != nil {
        if let upstream = conditional.first(where: { $0.value.taskID == id })?.key {
          conditional[upstream] = nil  // never started: nothing to stop
          // Handed to the transport: it drops it (and what runs after it).
          if configuration.chainsInTransport { cancelled.append(id) }
        } else if let index = waiting[waitingHead...].firstIndex(where: { $0.taskID == id }) {
          waiting.remove(at: index)  // never started: nothing to stop
        } else {
          cancelled.append(id)
          started -= 1
        }
      }
      if !cancelled.isEmpty { actions.append(.cancel(cancelled)) }
      // What was to run after a cancelled attempt never runs.
      for id in ids {
        var upstream = id
        while let next = conditional.removeValue(forKey: upstream) {
          if running.contains(next.taskID) {
            notRun(next.taskID, "the attempt it runs after (\(upstream)) was cancelled")
          }
          upstream = next.taskID
        }
      }
      if running.isEmpty || held.count > heldBefore { sendHeld(&actions) }
      if phase == .active { startWaiting(&actions) }
      if phase == .draining, running.isEmpty { leave("drained", &actions) }
    case .heartbeat:
      break
    case .runContext(let context):
      contexts.append(context)
      if contexts.count > Self.keptRunContexts { contexts.removeFirst() }
    case .drain:
      if phase == .active {
        phase = .draining
        sendHeld(&actions)
        actions.append(.send([.draining] + handBackWaiting()))
        if running.isEmpty {
          leave("drained at the scheduler's request", &actions)
        } else {
          actions.append(.startTimer(.drainDeadline, after: configuration.drainTimeout))
        }
      }
    case .goodbye(let reason):
      let ids = startedIDs()
      if !ids.isEmpty { actions.append(.cancel(ids)) }
      clearAccepted()
      phase = .closed
      let closing = ClusterCloseReason(.goodbye, "the scheduler said goodbye: \(reason)")
      actions.append(.close(reason: closing))
      actions.append(.exit(Exit(reason: closing, failed: false)))
    case .hello, .welcome, .refused, .results, .outputPart, .draining, .handBack:
      let error = ClusterProtocolError(
        .outOfOrder,
        "the scheduler sent \(message.kind), which it never "
          + "sends after the handshake")
      stop(reason: ClusterCloseReason(error), failed: true, &actions)
    }
  }

  /// Sends the results held back, if any, in one message.
  /// Releases the conditional start waiting for `result`'s attempt: first in line when that
  /// attempt succeeded (its output as the only input), never run otherwise (nor the
  /// conditional starts after it).
  private mutating func releaseConditional(after result: ClusterTaskResult) {
    guard !conditional.isEmpty else { return }
    var upstream = result
    while var next = conditional.removeValue(forKey: upstream.taskID) {
      if case .success(let output) = upstream.outcome {
        if configuration.chainsInTransport {
          started += 1  // the transport started it on the slot its upstream ran on
          return
        }
        next.inputs = [output]
        waiting.insert(next, at: waitingHead)
        return
      }
      upstream = notRun(
        next.taskID, "the attempt it runs after (\(upstream.taskID)) did not succeed")
    }
  }

  /// Reports that a conditional start never ran (and never will here).
  @discardableResult
  private mutating func notRun(_ id: ClusterTaskID, _ why: String) -> ClusterTaskResult {
    running.remove(id)
    let result = ClusterTaskResult(
      taskID: id,
      outcome: .failure(code: ClusterTaskOutcome.notRunCode, message: "not run: \(why)"))
    held.append(result)
    return result
  }

  private mutating func sendHeld(_ actions: inout [Action]) {
    guard !held.isEmpty else { return }
    actions.append(.send([.results(held)]))
    held.removeAll(keepingCapacity: true)
  }

  /// How many accepted attempts may be started at once.
  private var startLimit: Int { configuration.capacity + configuration.startAhead }

  /// Starts waiting attempts while slots are free.
  private mutating func startWaiting(_ actions: inout [Action]) {
    while started < startLimit, waitingHead < waiting.count {
      let next = waiting[waitingHead]
      waitingHead += 1
      started += 1
      actions.append(.run(next))
    }
    ClusterQueueCompaction.dropTaken(&waiting, head: &waitingHead)
  }

  /// Gives up the attempts that have not started (a drain runs only what it started): the
  /// `handBack` message for them, if any.
  private mutating func handBackWaiting() -> [ClusterMessage] {
    // Conditional starts handed to the transport run (or end not run) like started attempts.
    let handedBack = configuration.chainsInTransport ? [] : conditional.values.map(\.taskID)
    let ids = waiting[waitingHead...].map(\.taskID) + handedBack.sorted()
    if !configuration.chainsInTransport { conditional.removeAll() }
    waiting.removeAll()
    waitingHead = 0
    for id in ids { running.remove(id) }
    return ids.isEmpty ? [] : [.handBack(ids)]
  }

  /// The started attempts, in ID order.
  private func startedIDs() -> [ClusterTaskID] {
    // Conditional starts handed to the transport are cancelled with the started attempts.
    let handed = configuration.chainsInTransport ? [] : conditional.values.map(\.taskID)
    let notStarted = Set(waiting[waitingHead...].map(\.taskID) + handed)
    return running.filter { !notStarted.contains($0) }.sorted()
  }

  private mutating func clearAccepted() {
    held.removeAll()
    conditional.removeAll()
    running.removeAll()
    waiting.removeAll()
    waitingHead = 0
    started = 0
  }

  /// Leaves cleanly after a drain.
  private mutating func leave(_ reason: String, _ actions: inout [Action]) {
    phase = .closed
    let closing = ClusterCloseReason(.drained, reason)
    actions.append(.send([.goodbye(reason: reason)]))
    actions.append(.close(reason: closing))
    actions.append(.exit(Exit(reason: closing, failed: false)))
  }

  private mutating func stop(
    reason: ClusterCloseReason, failed: Bool, lostConnection: Bool = false,
    _ actions: inout [Action]
  ) {
    let ids = startedIDs()
    if !ids.isEmpty { actions.append(.cancel(ids)) }
    clearAccepted()
    phase = .closed
    actions.append(.close(reason: reason))
    actions.append(.exit(Exit(reason: reason, failed: failed, lostConnection: lostConnection)))
  }
}

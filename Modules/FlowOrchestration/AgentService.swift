import FlowCore
import FlowExecutors
import FlowResults
import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// An agent: claims due runs of the flows its executable contains, runs them under leases with
/// fencing epochs, renews the leases, and honours cancellation at its next renewal. The
/// decisions are ``AgentMachine``'s; this service performs them against a ``DeploymentStore``.
///
/// ```swift
/// let agent = AgentService(store: store, flows: [flow], options: .init(agentID: "a1"))
/// let group = ServiceGroup(services: [agent], logger: logger)
/// try await group.run()
/// ```
public struct AgentService: Service {
  /// How runs are run and recorded.
  public struct Settings: Sendable {
    /// The agent's labels (it gets runs whose deployment labels are all among them).
    public var labels: [String]
    /// Where task bodies run.
    public var executor: FlowExecutor
    /// How often a run's recorder writes its heartbeat.
    public var recorderHeartbeat: Duration
    /// The logger for the agent and its runs.
    public var logger: Logger
    /// Durable execution: where runs persist every task output that can be persisted (unless
    /// the task opts out, ``TaskDefinition/noCheckpoint()``), so that a run taken over after
    /// its agent died does not run those tasks again (``Flow/persistingOutputs(in:)``). Agents
    /// that may take over each other's runs must share it. Nil: in the run database when
    /// ``persistsOutputsInDatabase``, else only what the flows persist.
    public var resultStore: (any ResultStore)?
    /// Durable execution in the run database (when ``resultStore`` is nil): each run persists
    /// those outputs in the database the agent claims from (``RunDatabaseResultStore``),
    /// written under its lease with its records, so that an agent on any machine that takes
    /// it over finds them; no directory needs to be shared.
    public var persistsOutputsInDatabase: Bool
    /// The host the agent registers with.
    public var host: String
    /// The process ID the agent registers with.
    public var processID: Int

    /// Settings; by default no labels, the sequential executor, a 5 s heartbeat, no durable
    /// outputs, and this host and process.
    public init(
      labels: [String] = [], executor: FlowExecutor = .sequential,
      recorderHeartbeat: Duration = .seconds(5),
      logger: Logger = Logger(label: "swift-flow.agent"), resultStore: (any ResultStore)? = nil,
      persistsOutputsInDatabase: Bool = false, host: String = SystemHost.name,
      processID: Int = SystemHost.processID
    ) {
      self.labels = labels
      self.executor = executor
      self.recorderHeartbeat = recorderHeartbeat
      self.logger = logger
      self.resultStore = resultStore
      self.persistsOutputsInDatabase = persistsOutputsInDatabase
      self.host = host
      self.processID = processID
    }
  }

  private let store: any DeploymentStore
  private let flows: [FlowKey: Flow]
  private let options: AgentMachine.Options
  private let settings: Settings
  private let clock: any WallClock
  private let wake: AgentWakeSignal?

  /// An agent running `flows` (looked up by name and graph version) from `store`. `wake`, when
  /// given, tells it that work arrived (PostgreSQL's LISTEN/NOTIFY); it polls regardless.
  public init(
    store: any DeploymentStore, flows: [Flow], options: AgentMachine.Options,
    settings: Settings = Settings(), clock: any WallClock = SystemWallClock(),
    wake: AgentWakeSignal? = nil
  ) {
    self.store = store
    var registry: [FlowKey: Flow] = [:]
    for flow in flows { registry[FlowKey(name: flow.name, version: flow.record.version)] = flow }
    self.flows = registry
    self.options = options
    self.settings = settings
    self.clock = clock
    self.wake = wake
  }

  /// The flows this agent can run.
  public var flowKeys: [FlowKey] { flows.keys.sorted { $0.description < $1.description } }

  /// Runs until stopped (graceful shutdown: no new claims, the held runs finish first) or
  /// cancelled.
  public func run() async throws {
    let (events, inbox) = AsyncStream.makeStream(of: AgentMachine.Event.self)
    let controls = RunControls()
    let claimed = ClaimedRecords()
    let writes = FencedWriteQueue(store: store, clock: clock)
    var machine = AgentMachine(options: options)
    let clock = clock
    let presence = AgentPresence(record: registration(now: clock.now()))
    await presence.register(on: store, logger: settings.logger)
    await withGracefulShutdownHandler {
      await withTaskGroup(of: Void.self) { group in
        if let wake {
          group.addTask {
            for await _ in wake.signals {
              guard let due = wake.takeEarliest() else { continue }
              let now = clock.now()
              if due > now {
                inbox.yield(.claimableIn(.seconds(due.timeIntervalSince(now)), now: now))
              } else {
                inbox.yield(.notified(now: now))
              }
            }
          }
        }
        inbox.yield(.start(now: clock.now()))
        for await event in events {
          for action in machine.handle(event) {
            if case .finished = action {
              inbox.finish()
              continue
            }
            perform(
              action, group: &group, inbox: inbox, controls: controls, claimed: claimed,
              writes: writes, presence: presence)
          }
        }
        group.cancelAll()
      }
    } onGracefulShutdown: {
      inbox.yield(.stop(now: clock.now()))
    }
    await presence.stop(on: store, now: clock.now(), logger: settings.logger)
  }

  /// What the agent registers: it heartbeats whenever it claims or renews, that is at least
  /// every poll while it has free slots and every lease heartbeat while it is full.
  private func registration(now: Date) -> AgentRecord {
    AgentRecord(
      agentID: options.agentID, host: settings.host, processID: settings.processID,
      labels: settings.labels.sorted(), limit: options.limit, flows: flowKeys,
      heartbeatInterval: max(options.poll, options.heartbeat), startedAt: now)
  }

  private func perform(
    _ action: AgentMachine.Action, group: inout TaskGroup<Void>,
    inbox: AsyncStream<AgentMachine.Event>.Continuation, controls: RunControls,
    claimed: ClaimedRecords, writes: FencedWriteQueue, presence: AgentPresence
  ) {
    let clock = clock
    switch action {
    case .claim(let count, let duration):
      heartbeat(presence, group: &group)
      let claim = LeaseClaim(
        agentID: options.agentID, labels: settings.labels, flows: flowKeys, limit: count,
        leaseDuration: duration, now: clock.now())
      group.addTask { [store, settings] in
        do {
          let runs = try await store.claim(claim)
          claimed.add(runs)
          inbox.yield(.claimed(runs.map(\.lease), sentAt: claim.now, now: clock.now()))
          // Nothing more is due now: ask when something will be (a fire time, another
          // agent's lease running out), so as to claim then rather than at the next poll.
          if runs.count < count {
            do {
              if let delay = try await store.nextClaimable(after: claim, now: clock.now()) {
                inbox.yield(.claimableIn(delay, now: clock.now()))
              }
            } catch {
              settings.logger.debug("asking for the next claimable run failed: \(error)")
            }
          }
        } catch {
          settings.logger.warning("claiming runs failed: \(error)")
          inbox.yield(.claimFailed(now: clock.now()))
        }
      }
    case .startRun(let lease):
      let control = controls.add(lease.runID)
      let record = claimed.take(lease)
      group.addTask {
        await runFlow(lease, record: record, control: control, writes: writes)
        controls.remove(lease.runID, control)
        inbox.yield(.runEnded(lease.runID, epoch: lease.epoch, now: clock.now()))
      }
    case .renew(let leases, let duration):
      heartbeat(presence, group: &group)
      let sentAt = clock.now()
      group.addTask { [store, settings] in
        do {
          let renewal = try await store.renewLeases(leases, leaseDuration: duration, now: sentAt)
          inbox.yield(
            .renewed(renewal.renewed, lost: renewal.lost, sentAt: sentAt, now: clock.now()))
          if !renewal.cancelRequested.isEmpty {
            inbox.yield(.cancelRequested(renewal.cancelRequested, now: clock.now()))
          }
        } catch {
          settings.logger.warning("renewing leases failed: \(error)")
          inbox.yield(.renewFailed(now: clock.now()))
        }
      }
    case .abandon(let id, let reason):
      settings.logger.warning(
        "abandoning run", metadata: ["flow.run_id": "\(id)", "reason": "\(reason)"])
      controls.signal(id, .abandon)
    case .giveBack(let lease, let reason):
      settings.logger.notice(
        "giving a claimed run back",
        metadata: ["flow.run_id": "\(lease.runID)", "reason": "\(reason)"])
      _ = claimed.take(lease)
      group.addTask { [store, settings] in
        do {
          try await store.releaseLease(lease, outcome: .returned, now: clock.now())
        } catch {
          // Its lease lapses instead; the run is then taken over as a crashed one.
          settings.logger.warning(
            "could not give a claimed run back: \(error)",
            metadata: ["flow.run_id": "\(lease.runID)"])
        }
      }
    case .cancelRun(let id):
      settings.logger.info("cancelling run", metadata: ["flow.run_id": "\(id)"])
      controls.signal(id, .cancel)
    case .armTimer(let date):
      group.addTask {
        do {
          try await clock.sleep(until: date)
          inbox.yield(.timer(now: clock.now()))
        } catch {}
      }
    case .finished:
      break
    }
  }

  /// Records the agent's heartbeat in the registry, at most twice per heartbeat interval.
  private func heartbeat(_ presence: AgentPresence, group: inout TaskGroup<Void>) {
    guard presence.due(now: clock.now()) else { return }
    group.addTask { [store, settings, clock] in
      await presence.beat(on: store, now: clock.now(), logger: settings.logger)
    }
  }

  /// Runs the flow of the run held under `lease` to its end (or until it is cancelled or
  /// abandoned), then gives the lease back with the final state.
  private func runFlow(
    _ lease: RunLease, record: DeploymentRunRecord?, control: RunControl,
    writes: FencedWriteQueue
  ) async {
    let logger = settings.logger
    let metadata: Logger.Metadata = [
      "flow.run_id": "\(lease.runID)", "agent.epoch": "\(lease.epoch)",
    ]
    let outcome: LeaseOutcome
    let ending = EndingRecords()
    var outputs: RunDatabaseResultStore?
    do {
      // The claim returned the run; it is read again only if that record went missing.
      let found: DeploymentRunRecord?
      if let record {
        found = record
      } else {
        found = try await store.deploymentRun(id: lease.runID)
      }
      guard let run = found else { return }
      guard let registered = flows[FlowKey(name: run.flowName, version: run.flowVersion)] else {
        if let error = await writes.submit(
          FencedWrite(
            lease: lease,
            release: .finished(
              state: "Failed",
              message:
                "this agent's executable has no flow \(run.flowName) version \(run.flowVersion)"
            )))
        {
          logger.warning("could not give the lease back: \(error)", metadata: metadata)
        }
        return
      }
      // A run claimed before (epoch > 1) finds the outputs it persisted in the database.
      if settings.resultStore == nil, settings.persistsOutputsInDatabase {
        var stored: [RunResultRecord] = []
        if lease.epoch > 1 { stored = try await store.results(flowRunID: lease.runID) }
        outputs = RunDatabaseResultStore(
          flowRunID: lease.runID, stored: stored, in: store.description)
      }
      let flow =
        (settings.resultStore ?? outputs).map { registered.persistingOutputs(in: $0) }
        ?? registered
      var decoded: [String: any Sendable] = [:]
      for spec in flow.parameters {
        guard let text = run.parameters[spec.name] else { continue }
        decoded[spec.name] = try spec.decode(json: Data(text.utf8))
      }
      let parameters = decoded
      let late = Int(max(clock.now().timeIntervalSince(run.scheduledAt), 0).rounded())
      let due = RunStoreReading.iso8601(run.scheduledAt)
      logger.info(
        "running \(run.flowName), run \(run.id.uuidString.lowercased()) (due \(due), started \(late) s after)",
        metadata: metadata)
      let fenced = FencedRunStore(
        base: store, lease: lease, writes: writes, ending: ending, results: outputs
      ) { _ in control.signal(.abandon) }
      // The claim proved the store reachable: a short run is written once, start and end.
      // An output persisted in the database is committed as soon as its task succeeds.
      let recorder = RunRecorder(
        store: fenced, heartbeatInterval: settings.recorderHeartbeat, writesStartAtOnce: false,
        writesSuccessesAtOnce: outputs != nil)
      // The run keeps the deployment run's ID. A run claimed before (epoch > 1) may have a
      // recorded history, which is resumed: tasks whose outputs were persisted are not run
      // again. A first claim has none, so it starts afresh under that ID without reading it.
      let fresh = lease.epoch == 1
      let environment = RunEnvironment(
        clock: clock,
        ids: FirstIDGenerator(first: fresh ? lease.runID : nil, then: SystemIDGenerator()),
        logger: logger)
      let executor = settings.executor
      let result = await withTaskGroup(of: FlowRunResult?.self) { group in
        group.addTask {
          try? await flow.run(
            parameters: parameters, executor: executor, environment: environment,
            resuming: fresh ? nil : lease.runID, scheduledStart: run.scheduledAt,
            recorder: recorder)
        }
        group.addTask {
          await control.wait()
          return nil
        }
        var result: FlowRunResult?
        var first = true
        while let next = await group.next() {
          if first {
            first = false
            group.cancelAll()
          }
          if let next { result = next }
        }
        return result
      }
      switch control.current {
      case .abandon?:
        logger.warning("stopped a run whose lease was lost", metadata: metadata)
        return
      case .cancel?:
        outcome = .finished(state: "Cancelled", message: "Cancelled on request")
      case nil:
        guard let result else {
          outcome = .finished(state: "Failed", message: "the run could not start")
          break
        }
        outcome = .finished(state: result.state.kind.name, message: result.state.message)
      }
    } catch {
      logger.error("the run failed to start: \(error)", metadata: metadata)
      outcome = .finished(state: "Failed", message: "the run could not start: \(error)")
    }
    await release(
      lease, outcome: outcome, records: ending.take(), outputs: outputs?.takePending() ?? [],
      writes: writes)
  }

  /// Writes the run's last records (and outputs) and gives its lease back with `outcome`, in
  /// one transaction; tried again a few times, a recorder's flush interval apart, while the
  /// store fails (then the lease lapses and the run is taken over as crashed), never once
  /// fenced.
  private func release(
    _ lease: RunLease, outcome: LeaseOutcome, records: RunStoreBatch,
    outputs: [RunResultRecord], writes: FencedWriteQueue
  ) async {
    let metadata: Logger.Metadata = [
      "flow.run_id": "\(lease.runID)", "agent.epoch": "\(lease.epoch)",
    ]
    let write = FencedWrite(lease: lease, batch: records, release: outcome, results: outputs)
    let recorder = RunRecorder(store: store)
    var attempts = 1
    while let error = await writes.submit(write) {
      attempts += 1
      guard error.code != .staleLease, attempts <= 5, !Task.isCancelled else {
        settings.logger.warning("could not give the lease back: \(error)", metadata: metadata)
        return
      }
      try? await clock.sleep(for: recorder.flushInterval)
    }
  }
}

/// Tells an agent that work may be waiting (PostgreSQL's NOTIFY, a local scheduler), and
/// from when: a run due later only sets the agent's timer (a scheduler creating a thousand
/// runs ahead of time must not make every agent claim a thousand times).
public final class AgentWakeSignal: Sendable {
  /// The notifications.
  public let signals: AsyncStream<Void>
  private let continuation: AsyncStream<Void>.Continuation
  /// The earliest due time raised since the agent last took it.
  private let earliest = Mutex<Date?>(nil)

  /// A signal nobody has raised yet.
  public init() {
    (signals, continuation) = AsyncStream.makeStream(
      of: Void.self, bufferingPolicy: .bufferingNewest(1))
  }

  /// Wakes the agent: a run may be claimable now.
  public func raise() { raise(dueAt: nil) }

  /// Wakes the agent: a run is claimable from `dueAt` (nil: now).
  public func raise(dueAt: Date?) {
    let due = dueAt ?? .distantPast
    earliest.withLock { $0 = min($0 ?? due, due) }
    continuation.yield()
  }

  /// The earliest due time raised since the last call (`.distantPast`: now), or nil.
  func takeEarliest() -> Date? {
    earliest.withLock { earliest in
      defer { earliest = nil }
      return earliest
    }
  }

  /// No more notifications.
  public func finish() { continuation.finish() }
}

/// Gives `first` once (a fresh deployment run's ID, for its flow run), then `then`'s IDs.
final class FirstIDGenerator: IDGenerator {
  private let first: Mutex<UUID?>
  private let then: any IDGenerator

  init(first: UUID?, then: any IDGenerator) {
    self.first = Mutex(first)
    self.then = then
  }

  func next() -> UUID {
    first.withLock { first in
      defer { first = nil }
      return first
    } ?? then.next()
  }
}

/// The runs as their claims returned them, until their runs start (or are given back).
final class ClaimedRecords: Sendable {
  private let records = Mutex<[UUID: DeploymentRunRecord]>([:])

  func add(_ runs: [ClaimedRun]) {
    records.withLock { records in
      for claimed in runs { records[claimed.lease.runID] = claimed.run }
    }
  }

  /// The run claimed under `lease`, once (nil when it was claimed under another epoch).
  func take(_ lease: RunLease) -> DeploymentRunRecord? {
    records.withLock { records in
      guard let run = records[lease.runID], run.leaseEpoch == lease.epoch else { return nil }
      records[lease.runID] = nil
      return run
    }
  }
}

/// Why a run is stopped early.
enum RunStop: Sendable {
  case cancel
  case abandon
}

/// One run's stop signal: set once, awaited by the run's watcher.
final class RunControl: Sendable {
  private struct State {
    var stop: RunStop?
    var waiter: CheckedContinuation<Void, Never>?
    var done = false
  }

  private let state = Mutex(State())

  /// The stop asked for, if any.
  var current: RunStop? { state.withLock { $0.stop } }

  /// Asks the run to stop (the first reason wins; abandoning overrides a cancellation).
  func signal(_ stop: RunStop) {
    let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
      if state.stop == nil || stop == .abandon { state.stop = stop }
      defer { state.waiter = nil }
      return state.waiter
    }
    waiter?.resume()
  }

  /// Returns once a stop is asked for, or when the calling task is cancelled.
  func wait() async {
    await withTaskCancellationHandler {
      await withCheckedContinuation { continuation in
        let now = state.withLock { state -> Bool in
          if state.stop != nil || state.done { return true }
          state.waiter = continuation
          return false
        }
        if now { continuation.resume() }
      }
    } onCancel: {
      let waiter = state.withLock { state -> CheckedContinuation<Void, Never>? in
        state.done = true
        defer { state.waiter = nil }
        return state.waiter
      }
      waiter?.resume()
    }
  }
}

/// The stop signals of the runs an agent holds.
final class RunControls: Sendable {
  private let controls = Mutex<[UUID: RunControl]>([:])

  func add(_ id: UUID) -> RunControl {
    let control = RunControl()
    controls.withLock { $0[id] = control }
    return control
  }

  func remove(_ id: UUID, _ control: RunControl) {
    controls.withLock { if $0[id] === control { $0[id] = nil } }
  }

  func signal(_ id: UUID, _ stop: RunStop) {
    controls.withLock { $0[id] }?.signal(stop)
  }
}

/// The agent's registration and when it last heartbeat: registers at start, heartbeats (and
/// registers again if its record was removed), marks itself stopped at a clean stop. A failed
/// write is logged and tried again at the next heartbeat: the registry never stops the agent.
final class AgentPresence: Sendable {
  private let record: AgentRecord
  /// The latest heartbeat sent (or the registration).
  private let lastBeat: Mutex<Date>

  init(record: AgentRecord) {
    self.record = record
    self.lastBeat = Mutex(record.startedAt)
  }

  /// Whether half a heartbeat interval passed since the last one; if so, counts one as sent.
  func due(now: Date) -> Bool {
    let half = (record.heartbeatInterval / 2).timeInterval
    return lastBeat.withLock { last in
      guard now.timeIntervalSince(last) >= half else { return false }
      last = now
      return true
    }
  }

  func register(on store: any DeploymentStore, logger: Logger) async {
    do {
      try await store.registerAgent(record)
    } catch {
      logger.warning("registering the agent failed (retried at its next heartbeat): \(error)")
    }
  }

  func beat(on store: any DeploymentStore, now: Date, logger: Logger) async {
    do {
      if try await !store.agentHeartbeat(agentID: record.agentID, now: now) {
        var record = record
        record.lastHeartbeatAt = now
        try await store.registerAgent(record)
      }
    } catch {
      logger.warning("recording the agent's heartbeat failed: \(error)")
    }
  }

  func stop(on store: any DeploymentStore, now: Date, logger: Logger) async {
    do {
      try await store.stopAgent(agentID: record.agentID, now: now)
    } catch {
      logger.warning("marking the agent stopped failed: \(error)")
    }
  }
}

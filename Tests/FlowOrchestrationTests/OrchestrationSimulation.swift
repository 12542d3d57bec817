import FlowCore
import FlowOrchestration
import FlowScheduling
import FlowTesting
import Foundation

/// The orchestration machines (two scheduler services, several agents) over a simulated store
/// and network, from one seed: agent crashes and restarts, pauses longer than the lease,
/// partitions between agents and the store, a store restart, slow commits, and clock skew.
///
/// The store is the lease ledger plus a run table with a unique key on (deployment, fire
/// time), as the SQL stores have; every request crosses the simulated network both ways.
/// Each run has checkpointed steps whose bodies count their executions.
final class OrchestrationSimulation {
  struct Options {
    var agents = 4
    var limit = 3
    var deployments = 5
    var interval: Duration = .seconds(10)
    var steps = 3
    /// Faults happen in the first `faultWindow`; schedulers create runs until `creationEnd`.
    var faultWindow: Duration = .seconds(150)
    var creationEnd: Duration = .seconds(180)
    /// How long everything may take to finish once creation stops.
    var convergence: Duration = .seconds(900)
    var faults = true
  }

  /// What one seed did, and what went wrong.
  struct Report {
    var seed: UInt64
    var runs = 0
    var succeeded = 0
    var crashed = 0
    var unfinished = 0
    var fenced = 0
    var staleWritesRefused = 0
    var bodyReruns = 0
    var faults = 0
    var traceHash: UInt64 = 0
    var violations: [String] = []
  }

  private struct Key: Hashable {
    let deployment: UUID
    let fireTime: Date
  }

  private struct StoredRun {
    let key: Key
    var outcome: String?
    /// Accepted checkpoints per step.
    var checkpoints: [Int: Int] = [:]
  }

  private let options: Options
  private let sim: Simulator
  private var random: SimulationRandom
  private var ledger = LeaseLedger(crashRetries: 3)
  private var runs: [UUID: StoredRun] = [:]
  private var runByKey: [Key: UUID] = [:]
  private var runIDs: SeededIDGenerator
  private var storeDownUntil: Duration = .zero
  private var slowUntil: Duration = .zero
  /// Body executions per (run, step).
  private var bodies: [UUID: [Int: Int]] = [:]
  private var report: Report
  private var creating = true

  private final class Agent {
    var machine: AgentMachine
    let index: Int
    var incarnation = 0
    var alive = true
    var pausedUntil: Duration = .zero
    var partitionedUntil: Duration = .zero
    /// The agent's clock runs this far from the simulator's.
    let skew: TimeInterval
    /// Runs it is executing: the lease and the next step.
    var executing: [UUID: (lease: RunLease, step: Int)] = [:]
    var timer: SimulationEventID?

    init(index: Int, skew: TimeInterval, options: AgentMachine.Options) {
      self.index = index
      self.skew = skew
      machine = AgentMachine(options: options)
    }
  }

  private var agents: [Agent] = []
  private var schedulers: [DeploymentSchedulerMachine] = []
  private var deploymentSpecs: [DeploymentSchedule] = []

  init(seed: UInt64, options: Options = Options()) {
    self.options = options
    sim = Simulator(seed: seed)
    random = sim.randomStream("orchestration")
    runIDs = sim.idGenerator("runs")
    report = Report(seed: seed)
  }

  // MARK: Running

  func run() -> Report {
    let ids = sim.idGenerator("deployments")
    let start = sim.date
    for _ in 0..<options.deployments {
      deploymentSpecs.append(
        DeploymentSchedule(
          deploymentID: ids.next(),
          schedule: IntervalSchedule(start: start, interval: options.interval),
          catchUpWindow: .seconds(3600)))
    }
    for index in 0..<2 {
      schedulers.append(
        DeploymentSchedulerMachine(options: .init(horizon: .seconds(20), tick: .seconds(5))))
      sim.schedule(after: .milliseconds(index)) { [self] in
        schedulerStep(index, .deployments(deploymentSpecs, now: sim.date))
      }
    }
    for index in 0..<options.agents {
      let skew = random.unit() * 20 - 10
      let agent = Agent(index: index, skew: skew, options: agentOptions(index, incarnation: 0))
      agents.append(agent)
      sim.schedule(after: .milliseconds(10 + index)) { [self] in
        deliver(agent, .start(now: local(agent)))
      }
    }
    if options.faults { planFaults() }
    sim.schedule(after: options.creationEnd) { [self] in
      creating = false
      if endedRuns == runs.count { sim.stop() }
    }
    _ = sim.runSynchronously(until: options.creationEnd + options.convergence)
    finishReport()
    return report
  }

  private func agentOptions(_ index: Int, incarnation: Int) -> AgentMachine.Options {
    AgentMachine.Options(
      agentID: "agent-\(index).\(incarnation)", limit: options.limit, leaseDuration: .seconds(30),
      poll: .seconds(2), safetyMargin: .seconds(4))
  }

  private func local(_ agent: Agent) -> Date { sim.date.addingTimeInterval(agent.skew) }

  // MARK: Network and store

  /// Sends a request from `agent` (nil: a scheduler) to the store and its answer back; either
  /// way may be lost to a partition, and a store that is down answers with a failure.
  private func request<Answer>(
    from agent: Agent?, _ perform: @escaping () -> Answer?, answer: @escaping (Answer?) -> Void
  ) {
    let there = latency()
    sim.schedule(after: there, .send, node: agent?.index ?? -1) { [self] in
      if let agent, isCut(agent) { return timeout(agent, answer) }
      let result = sim.now < storeDownUntil ? nil : perform()
      sim.schedule(after: latency(), .deliver, node: agent?.index ?? -1) { [self] in
        if let agent, isCut(agent) { return timeout(agent, answer) }
        answer(result)
      }
    }
  }

  /// A lost request: the caller's own timeout reports a failure after 3 s.
  private func timeout<Answer>(_ agent: Agent, _ answer: @escaping (Answer?) -> Void) {
    sim.schedule(after: .seconds(3), .timer, node: agent.index) { answer(nil) }
  }

  private func isCut(_ agent: Agent) -> Bool { sim.now < agent.partitionedUntil }

  private func latency() -> Duration {
    let slow = sim.now < slowUntil
    return .milliseconds(slow ? 300 + random.int(below: 2_700) : 1 + random.int(below: 30))
  }

  private func storeNow() -> Date { sim.date }

  private var endedRuns = 0

  /// Records a run's final state; once creation has stopped and every run has ended, the
  /// simulation is over.
  private func ended(_ id: UUID, _ outcome: String) {
    guard runs[id]?.outcome == nil else { return }
    runs[id]?.outcome = outcome
    endedRuns += 1
    if !creating, endedRuns == runs.count { sim.stop() }
  }

  private func expireLeases() {
    for (id, expiry) in ledger.expire(now: storeNow()) {
      if case .crashed = expiry { ended(id, "Crashed") }
    }
  }

  // MARK: Schedulers

  private func schedulerStep(_ index: Int, _ event: DeploymentSchedulerMachine.Event) {
    for action in schedulers[index].handle(event) {
      switch action {
      case .createRuns(let deployment, let fireTimes):
        guard creating else { continue }  // the end of the simulated period: no more runs
        request(from: nil) { [self] () -> Date? in
          for fire in fireTimes {
            let key = Key(deployment: deployment, fireTime: fire.date)
            guard runByKey[key] == nil else { continue }  // the unique key: one run per fire time
            let id = runIDs.next()
            runByKey[key] = id
            runs[id] = StoredRun(key: key)
            ledger.add(id, scheduledAt: fire.date)
          }
          return fireTimes.last?.date
        } answer: { [self] through in
          let event: DeploymentSchedulerMachine.Event =
            through.map { .created(deploymentID: deployment, through: $0, now: sim.date) }
            ?? .createFailed(deploymentID: deployment, now: sim.date)
          schedulerStep(index, event)
        }
      case .armTimer(let date):
        sim.schedule(after: .seconds(max(0, date.timeIntervalSince(sim.date)))) { [self] in
          schedulerStep(index, .timer(now: sim.date))
        }
      case .missed, .markLate:
        break
      }
    }
  }

  // MARK: Agents

  /// Feeds `event` to `agent`'s machine (unless it is dead; while paused, later) and performs
  /// the actions.
  private func deliver(_ agent: Agent, _ event: AgentMachine.Event, incarnation: Int? = nil) {
    guard agent.alive, incarnation ?? agent.incarnation == agent.incarnation else { return }
    if sim.now < agent.pausedUntil {
      let wait = agent.pausedUntil - sim.now
      let current = agent.incarnation
      sim.schedule(after: wait, .timer, node: agent.index) { [self] in
        deliver(agent, event.at(local(agent)), incarnation: current)
      }
      return
    }
    for action in agent.machine.handle(event) { perform(action, agent) }
  }

  private func perform(_ action: AgentMachine.Action, _ agent: Agent) {
    let incarnation = agent.incarnation
    switch action {
    case .claim(let count, let duration):
      let sentAt = local(agent)
      let name = agent.machine.options.agentID
      request(from: agent) { [self] () -> [RunLease]? in
        expireLeases()
        return ledger.claim(agent: name, limit: count, now: storeNow(), duration: duration)
      } answer: { [self] leases in
        deliver(
          agent,
          leases.map { .claimed($0, sentAt: sentAt, now: local(agent)) }
            ?? .claimFailed(now: local(agent)),
          incarnation: incarnation)
      }
    case .renew(let leases, let duration):
      let sentAt = local(agent)
      request(from: agent) { [self] () -> ([RunLease], [UUID])? in
        expireLeases()
        var kept: [RunLease] = []
        var lost: [UUID] = []
        for lease in leases {
          if let renewed = ledger.renew(lease, now: storeNow(), duration: duration) {
            kept.append(renewed)
          } else {
            lost.append(lease.runID)
          }
        }
        return (kept, lost)
      } answer: { [self] answer in
        deliver(
          agent,
          answer.map { .renewed($0.0, lost: $0.1, sentAt: sentAt, now: local(agent)) }
            ?? .renewFailed(now: local(agent)), incarnation: incarnation)
      }
    case .startRun(let lease):
      agent.executing[lease.runID] = (lease, 0)
      nextStep(lease.runID, epoch: lease.epoch, agent, incarnation)
    case .abandon(let id, _):
      agent.executing.removeValue(forKey: id)
    case .giveBack(let lease, _):
      request(from: agent) { [self] () -> Bool? in
        expireLeases()
        return ledger.giveBack(lease, now: storeNow())
      } answer: { _ in
      }
    case .cancelRun:
      break
    case .armTimer(let date):
      if let timer = agent.timer { sim.cancel(timer) }
      let delay = max(0, date.timeIntervalSince(local(agent)))
      agent.timer = sim.schedule(after: .seconds(delay), .timer, node: agent.index) { [self] in
        deliver(agent, .timer(now: local(agent)), incarnation: incarnation)
      }
    case .finished:
      break
    }
  }

  /// Runs the next step of `id` on `agent`: the machine first checks its lease (a paused agent
  /// fences itself before anything else), then the body runs, then its checkpoint is written
  /// under the lease; the last step writes the final state.
  private func nextStep(_ id: UUID, epoch: Int64, _ agent: Agent, _ incarnation: Int) {
    guard agent.alive, agent.incarnation == incarnation else { return }
    if sim.now < agent.pausedUntil {
      sim.schedule(after: agent.pausedUntil - sim.now) { [self] in
        nextStep(id, epoch: epoch, agent, incarnation)
      }
      return
    }
    deliver(agent, .timer(now: local(agent)), incarnation: incarnation)
    // Only this holding's chain goes on (the run may have been abandoned and claimed again).
    guard let (lease, step) = agent.executing[id], lease.epoch == epoch else { return }
    let current = ledger.entries[id]?.lease
    if current?.epoch != lease.epoch || current.map({ $0.expiresAt <= storeNow() }) ?? true {
      report.violations.append(
        "seed \(report.seed): agent \(agent.machine.options.agentID) acted on run \(id) under "
          + "epoch \(lease.epoch) while the store's lease is \(current.map { "epoch \($0.epoch)" } ?? "none")"
      )
    }
    if step == options.steps {
      request(from: agent) { [self] () -> Bool? in
        expireLeases()
        let accepted = ledger.finish(lease, now: storeNow())
        if accepted { ended(id, "Success") } else { report.staleWritesRefused += 1 }
        return accepted
      } answer: { [self] accepted in
        if accepted != true { report.fenced += 1 }
        endExecution(id, lease, agent, incarnation)
      }
      return
    }
    if runs[id]?.checkpoints[step] != nil {  // persisted by an earlier holder: not run again
      agent.executing[id] = (lease, step + 1)
      return nextStep(id, epoch: epoch, agent, incarnation)
    }
    bodies[id, default: [:]][step, default: 0] += 1
    sim.record(.taskStarted, node: agent.index, value: UInt64(step))
    let duration = Duration.milliseconds(500 + random.int(below: 3_000))
    sim.schedule(after: duration, .taskFinished, node: agent.index) { [self] in
      writeCheckpoint(id, step, lease, agent, incarnation)
    }
  }

  /// The body of `step` finished: its checkpoint goes to the store under the lease, without
  /// asking the agent's machine first (a process paused mid-body writes with a stale epoch
  /// when it wakes, and only the store's fencing stops it).
  private func writeCheckpoint(
    _ id: UUID, _ step: Int, _ lease: RunLease, _ agent: Agent, _ incarnation: Int
  ) {
    guard agent.alive, agent.incarnation == incarnation else { return }
    if sim.now < agent.pausedUntil {
      sim.schedule(after: agent.pausedUntil - sim.now) { [self] in
        writeCheckpoint(id, step, lease, agent, incarnation)
      }
      return
    }
    request(from: agent) { [self] () -> Bool? in
      expireLeases()
      guard ledger.isCurrent(lease, now: storeNow()) else {
        report.staleWritesRefused += 1
        return false
      }
      runs[id]?.checkpoints[step, default: 0] += 1
      return true
    } answer: { [self] accepted in
      guard accepted == true else {
        report.fenced += 1
        return endExecution(id, lease, agent, incarnation)
      }
      guard agent.executing[id]?.lease.epoch == lease.epoch else { return }
      agent.executing[id] = (lease, step + 1)
      nextStep(id, epoch: lease.epoch, agent, incarnation)
    }
  }

  /// This holding of the run is over on the agent (a newer holding, if any, goes on).
  private func endExecution(_ id: UUID, _ lease: RunLease, _ agent: Agent, _ incarnation: Int) {
    if agent.executing[id]?.lease.epoch == lease.epoch { agent.executing.removeValue(forKey: id) }
    deliver(agent, .runEnded(id, epoch: lease.epoch, now: local(agent)), incarnation: incarnation)
  }

  // MARK: Faults

  private func planFaults() {
    var at: Duration = .seconds(5)
    while at < options.faultWindow {
      at += .milliseconds(2_000 + random.int(below: 10_000))
      let agent = agents[random.int(below: agents.count)]
      let kind = random.int(below: 6)
      // 1–60 s: past the lease too.
      let length = Duration.milliseconds(1_000 + random.int(below: 59_000))
      sim.schedule(after: at, .fault, node: agent.index, value: UInt64(kind)) { [self] in
        report.faults += 1
        switch kind {
        case 0:  // crash, then a restart as a new incarnation
          agent.alive = false
          agent.executing = [:]
          if let timer = agent.timer { sim.cancel(timer) }
          sim.schedule(after: .milliseconds(1_000 + random.int(below: 9_000))) { [self] in
            agent.incarnation += 1
            agent.alive = true
            agent.machine = AgentMachine(
              options: agentOptions(agent.index, incarnation: agent.incarnation))
            deliver(agent, .start(now: local(agent)))
          }
        case 1: agent.pausedUntil = max(agent.pausedUntil, sim.now + length)
        case 2: agent.partitionedUntil = max(agent.partitionedUntil, sim.now + length)
        case 3: storeDownUntil = max(storeDownUntil, sim.now + length / 6)
        case 4: slowUntil = max(slowUntil, sim.now + length / 3)
        default: break  // a quiet gap
        }
      }
    }
  }

  // MARK: Invariants

  private func finishReport() {
    expireLeases()
    report.runs = runs.count
    report.traceHash = sim.trace.hash
    var perKey: [Key: Int] = [:]
    for (id, run) in runs {
      perKey[run.key, default: 0] += 1
      switch run.outcome {
      case "Success": report.succeeded += 1
      case "Crashed": report.crashed += 1
      default:
        report.unfinished += 1
        report.violations.append("seed \(report.seed): run \(id) never reached a final state")
      }
      for (step, count) in run.checkpoints where count > 1 {
        report.violations.append(
          "seed \(report.seed): run \(id) step \(step) was checkpointed \(count) times")
      }
      if run.outcome == "Success", run.checkpoints.count != options.steps {
        report.violations.append(
          "seed \(report.seed): run \(id) succeeded with \(run.checkpoints.count) of \(options.steps) checkpoints"
        )
      }
      for (step, count) in bodies[id, default: [:]] where count > 1 {
        report.bodyReruns += count - 1
        // A body runs again only when its earlier execution's checkpoint was not accepted.
        if (run.checkpoints[step] ?? 0) > 1 {
          report.violations.append("seed \(report.seed): run \(id) step \(step) committed twice")
        }
      }
    }
    for (key, count) in perKey where count != 1 {
      report.violations.append(
        "seed \(report.seed): fire time \(key.fireTime) of \(key.deployment) has \(count) runs")
    }
    let expected =
      options.deployments
      * (Int(options.creationEnd.timeInterval / options.interval.timeInterval) + 1)
    if report.runs < expected {
      report.violations.append(
        "seed \(report.seed): \(report.runs) runs, expected at least \(expected)")
    }
  }
}

extension AgentMachine.Event {
  /// The same event, delivered at `now` instead (after a pause).
  fileprivate func at(_ now: Date) -> AgentMachine.Event {
    switch self {
    case .start: .start(now: now)
    case .timer: .timer(now: now)
    case .notified: .notified(now: now)
    case .claimed(let leases, let sentAt, _): .claimed(leases, sentAt: sentAt, now: now)
    case .claimFailed: .claimFailed(now: now)
    case .claimableIn(let delay, _): .claimableIn(delay, now: now)
    case .renewed(let leases, let lost, let sentAt, _):
      .renewed(leases, lost: lost, sentAt: sentAt, now: now)
    case .renewFailed: .renewFailed(now: now)
    case .runEnded(let id, let epoch, _): .runEnded(id, epoch: epoch, now: now)
    case .cancelRequested(let ids, _): .cancelRequested(ids, now: now)
    case .stop: .stop(now: now)
    }
  }
}

extension TraceKind {
  fileprivate static let send = TraceKind("orchestration.send")
  fileprivate static let deliver = TraceKind("orchestration.deliver")
  fileprivate static let taskStarted = TraceKind("orchestration.body.started")
  fileprivate static let taskFinished = TraceKind("orchestration.body.finished")
  fileprivate static let fault = TraceKind("orchestration.fault")
}

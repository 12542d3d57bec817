import FlowClusterProtocol
import FlowCore
import FlowExecutors
import FlowScheduling
import Foundation

/// A schedule driving flow runs on a simulated cluster for days or months of simulated time:
/// FlowScheduling's schedule runner state machine (the logic behind ``ScheduleRunner``) starts
/// a run at each fire time, as its overlap policy allows, and every fire time is accounted for.
/// Each run is the real engine running the flow's graph with stand-in bodies
/// (``Flow/withStandInBodies(_:)``) on the simulated cluster.
///
/// ```swift
/// let report = await ScheduledClusterSimulation.run(
///   seed: 1, options: .init(schedule: try .cron("*/30 * * * *"), duration: .seconds(90 * 86_400)))
/// #expect(report.violations.isEmpty)
/// ```
public enum ScheduledClusterSimulation {
  /// What to simulate.
  public struct Options: Sendable {
    /// The schedule whose fire times start runs.
    public var schedule: any Schedule
    /// When the simulation starts.
    public var start: Date
    /// How long the schedule runs: fire times after `start + duration` are not taken.
    public var duration: Duration
    /// What happens to a fire time while a run is going (`cancelOther` is treated as
    /// `bufferOne`: the simulated engine does not cancel runs).
    public var overlap: OverlapPolicy
    /// The flow each fire time runs; its task bodies are replaced by stand-ins.
    public var flow: Flow
    /// How the stand-in bodies fail.
    public var standIns: StandInBodies
    /// How long each attempt takes on its worker (times the worker's slowdown).
    public var taskDuration: DurationDistribution
    /// The cluster's set-up.
    public var cluster: SimulatedCluster.Configuration
    /// Which faults to inject, during the whole duration.
    public var faults: FaultSet
    /// Mean simulated time between faults.
    public var meanFaultGap: Duration
    /// How long a crash, pause, slowdown or partition lasts.
    public var faultLength: DurationDistribution

    /// Options; by default a chain of 3 tasks (5-60 s each, 2 % of attempts fail, 2 retries
    /// 30 s apart), 4 workers with heartbeats every 5 minutes (long simulations need sparse
    /// heartbeats to stay fast) and crashes and pauses every 2 hours on average.
    public init(
      schedule: any Schedule, start: Date = Date(timeIntervalSince1970: 1_767_225_600),
      duration: Duration, overlap: OverlapPolicy = .skip,
      flow: Flow = .simulationChain(
        "scheduled", tasks: 3, retries: RetryPolicy(maxRetries: 2, delay: .seconds(30))),
      standIns: StandInBodies = .init(failureRate: 0.02),
      taskDuration: DurationDistribution = .uniform(.seconds(5) ... .seconds(60)),
      cluster: SimulatedCluster.Configuration = .init(
        workers: 4,
        scheduler: .init(heartbeatInterval: .seconds(300), heartbeatTTL: .seconds(900))),
      faults: FaultSet = FaultSet([.crash, .pause]), meanFaultGap: Duration = .seconds(7200),
      faultLength: DurationDistribution = .uniform(.seconds(1) ... .seconds(1800))
    ) {
      self.schedule = schedule
      self.start = start
      self.duration = duration
      self.overlap = overlap
      self.flow = flow
      self.standIns = standIns
      self.taskDuration = taskDuration
      self.cluster = cluster
      self.faults = faults
      self.meanFaultGap = meanFaultGap
      self.faultLength = faultLength
    }
  }

  /// What one seed did.
  public struct Report: Sendable {
    /// The seed.
    public let seed: UInt64
    /// The hash of every event.
    public let traceHash: UInt64
    /// Every invariant that did not hold (empty: all held).
    public let violations: [InvariantViolation]
    /// Events that fired.
    public let events: Int
    /// Simulated time at the end.
    public let simulatedSeconds: Double
    /// Fire times of the schedule within the duration.
    public let fireTimes: Int
    /// What the schedule runner did.
    public let summary: ScheduleRunnerSummary
    /// Fire times that were buffered before they ran (or were dropped at the end).
    public let buffered: Int
    /// Flow runs that ended in success.
    public let succeededRuns: Int
    /// What happened to the workers.
    public let counters: SimulatedCluster.Counters
  }

  /// Trace kind of a schedule runner event (value: its kind's position in the list of kinds).
  public static let traceKind = TraceKind("schedule.event")

  /// Runs one seed: the schedule for `options.duration`, then until every run has ended; checks
  /// that every fire time was started, skipped, buffered or missed as the overlap policy says,
  /// and the cluster's invariants.
  public static func run(seed: UInt64, options: Options) async -> Report {
    let sim = Simulator(seed: seed, startDate: options.start, traceRetention: 0)
    let cluster = SimulatedCluster(simulator: sim, configuration: options.cluster)
    let flow = options.flow.withStandInBodies(options.standIns)
    let engine = SimulatedEngine(
      cluster: cluster, flows: [flow], taskDuration: options.taskDuration)
    let end = options.start.addingTimeInterval(Double(options.duration.simulationNanoseconds) / 1e9)
    let bounded = BoundedSchedule(base: options.schedule, end: end)
    let policy = options.overlap == .cancelOther ? OverlapPolicy.bufferOne : options.overlap
    var machine = ScheduleRunnerStateMachine(
      schedule: bounded,
      options: ScheduleRunnerOptions(overlap: policy, catchUpWindow: .seconds(3600)))
    FaultInjector(
      simulator: sim, network: cluster.network,
      schedule: FaultSchedule(
        faults: options.faults, window: options.duration, meanGap: options.meanFaultGap,
        length: options.faultLength),
      targets: cluster.faultTargets
    ).start()

    var events: [ScheduleRunnerEvent] = []
    var violations: [InvariantViolation] = []
    var runningNow = 0
    var runsStarted = 0
    var succeededRuns = 0
    var finished: ScheduleRunnerSummary?
    var handle: (ScheduleRunnerStateMachine.Input) -> Void = { _ in }
    let kinds: [ScheduleRunnerEvent.Kind] = [
      .runStarted, .runFinished, .skipped, .buffered, .cancellingRun, .missed, .paused, .stopped,
    ]
    let executor = engine.executor
    handle = { [unowned sim] input in
      for action in machine.handle(input) {
        switch action {
        case .startRun(let id, _):
          runningNow += 1
          runsStarted += 1
          if policy != .allowAll && runningNow > 1 {
            violations.append(.overlappingStart(policy: policy, at: sim.date))
          }
          let environment = sim.environment("engine.run-\(runsStarted)")
          sim.spawn(node: 0) {
            try await flow.run(executor: executor, environment: environment)
          } completion: { [unowned sim] result in
            runningNow -= 1
            var outcome = ScheduledRunOutcome.failure("refused")
            switch result {
            case .success(let run):
              violations += engine.checkRun(run, flow: flow)
              if run.state.kind == .success {
                succeededRuns += 1
                outcome = .success
              } else {
                outcome = .failure("\(run.state.kind)")
              }
            case .failure(let error):
              violations.append(.scheduledRunRefused(fireTime: "\(id)", error: "\(error)"))
            }
            handle(.runFinished(id: id, outcome: outcome, now: sim.date))
          }
        case .cancelRun:
          break  // not reached: cancelOther is simulated as bufferOne
        case .armTimer(let deadline):
          let delay = Int64((deadline.timeIntervalSince(sim.date) * 1e9).rounded(.up))
          sim.schedule(afterNanoseconds: delay) {
            handle(.timerFired(deadline: deadline, now: sim.date))
          }
        case .emit(let event):
          events.append(event)
          sim.record(traceKind, value: UInt64(kinds.firstIndex(of: event.kind) ?? 99))
        case .finish(let summary):
          finished = summary
          sim.stop()
        }
      }
    }
    sim.schedule(afterNanoseconds: 0) { [unowned sim] in handle(.start(now: sim.date)) }
    await sim.run(until: options.duration + .seconds(86_400))

    // Every fire time must be accounted for, once.
    var fireTimes: [Date] = []
    var cursor = options.start
    while let next = bounded.nextEvent(after: cursor) {
      fireTimes.append(next.date)
      cursor = next.date
    }
    var started: [Date: Int] = [:]
    var dropped: [Date: Int] = [:]
    var buffered = Set<Date>()
    var missed = 0
    for event in events {
      switch event.kind {
      case .runStarted: started[event.scheduledDate!, default: 0] += 1
      case .skipped: dropped[event.scheduledDate!, default: 0] += 1
      case .buffered: buffered.insert(event.scheduledDate!)
      case .missed: missed += event.count
      default: break
      }
    }
    guard let summary = finished else {
      violations.append(.scheduleRunnerUnfinished(running: runningNow, at: sim.date))
      return report(
        seed, sim, cluster, violations, fireTimes.count, machine.summary, buffered, succeededRuns)
    }
    for date in fireTimes {
      let count = started[date, default: 0] + dropped[date, default: 0]
      if count != 1 {
        violations.append(
          .fireTimeMiscounted(
            fireTime: date, started: started[date, default: 0], skipped: dropped[date, default: 0],
            policy: policy))
      }
      if policy == .skip && buffered.contains(date) {
        violations.append(.bufferedUnderSkip(fireTime: date))
      }
      if policy == .allowAll && dropped[date] != nil {
        violations.append(.skippedUnderAllowAll(fireTime: date))
      }
    }
    if started.count + dropped.count + missed != fireTimes.count || missed != 0 {
      violations.append(
        .fireTimesUnaccounted(
          fireTimes: fireTimes.count, started: started.count, skipped: dropped.count,
          missed: missed))
    }
    if summary.runsStarted != summary.succeeded + summary.failed + summary.cancelled {
      violations.append(.runsUnaccounted(started: summary.runsStarted, summary: "\(summary)"))
    }
    violations += cluster.checkInvariants()
    return report(
      seed, sim, cluster, violations, fireTimes.count, summary, buffered, succeededRuns)
  }

  private static func report(
    _ seed: UInt64, _ sim: Simulator, _ cluster: SimulatedCluster,
    _ violations: [InvariantViolation],
    _ fireTimes: Int, _ summary: ScheduleRunnerSummary, _ buffered: Set<Date>,
    _ succeededRuns: Int
  ) -> Report {
    Report(
      seed: seed, traceHash: sim.trace.hash, violations: violations,
      events: sim.eventsProcessed, simulatedSeconds: Double(sim.nowNanoseconds) / 1e9,
      fireTimes: fireTimes, summary: summary, buffered: buffered.count,
      succeededRuns: succeededRuns, counters: cluster.counters)
  }
}

/// A schedule cut off after `end`.
private struct BoundedSchedule: Schedule {
  let base: any Schedule
  let end: Date

  func nextEvent(after instant: Date) -> ScheduleEvent? {
    guard let next = base.nextEvent(after: instant), next.date <= end else { return nil }
    return next
  }
}

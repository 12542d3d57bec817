import FlowCore
import Foundation

/// The scheduler service's decisions, as a value type without I/O: which runs to create ahead
/// of time for each deployment's schedule, which fire times were missed, when to mark runs
/// Late, and when to wake next. Its shell loads deployments, performs the creations against
/// the store (idempotent by deployment and fire time) and reports back.
public struct DeploymentSchedulerMachine: Sendable {
  /// How the service behaves.
  public struct Options: Sendable {
    /// How far ahead of now runs are created.
    public var horizon: Duration
    /// At most this many runs ahead per deployment.
    public var maxAhead: Int
    /// How often the service wakes when nothing is due sooner.
    public var tick: Duration
    /// A run not started this long after its scheduled time is Late.
    public var lateAfter: Duration

    /// Options; by default an hour ahead (at most 100 runs), a tick of 10 s, Late after 60 s.
    public init(
      horizon: Duration = .seconds(3600), maxAhead: Int = 100, tick: Duration = .seconds(10),
      lateAfter: Duration = .seconds(60)
    ) {
      self.horizon = horizon
      self.maxAhead = maxAhead
      self.tick = tick
      self.lateAfter = lateAfter
    }
  }

  /// Something that happened.
  public enum Event: Sendable {
    /// The deployments were (re)loaded at `now`.
    case deployments([DeploymentSchedule], now: Date)
    /// The timer fired at `now`.
    case timer(now: Date)
    /// The store created (or already had) the runs proposed for `deploymentID` up to `through`.
    case created(deploymentID: UUID, through: Date, now: Date)
    /// Creating the proposed runs failed; they are proposed again at the next tick.
    case createFailed(deploymentID: UUID, now: Date)
  }

  /// Something to do.
  public enum Action: Sendable {
    /// Create a run for each fire time (idempotently), then report `created`.
    case createRuns(deploymentID: UUID, [ScheduledFireTime])
    /// Fire times before the catch-up window were dropped: at least `count` of them (a long
    /// outage is skipped over without counting each one), from `first` on (log it).
    case missed(deploymentID: UUID, count: Int, first: Date)
    /// Mark every run still Scheduled whose time is before `cutoff` as Late.
    case markLate(scheduledBefore: Date)
    /// Wake at `date` and report `timer`.
    case armTimer(Date)
  }

  private struct Tracked: Sendable {
    var spec: DeploymentSchedule
    /// The latest fire time known to have a run.
    var cursor: Date?
    /// True while a creation is in flight.
    var creating = false
  }

  private let options: Options
  private var deployments: [UUID: Tracked] = [:]
  private var armed: Date?

  /// A machine with `options`.
  public init(options: Options = Options()) {
    self.options = options
  }

  /// Handles `event` and returns the actions to perform, in order.
  public mutating func handle(_ event: Event) -> [Action] {
    var actions: [Action] = []
    let now: Date
    switch event {
    case .deployments(let specs, let at):
      now = at
      var next: [UUID: Tracked] = [:]
      for spec in specs {
        var tracked = deployments[spec.deploymentID] ?? Tracked(spec: spec, cursor: nil)
        tracked.spec = spec
        tracked.cursor = [tracked.cursor, spec.lastScheduled].compactMap { $0 }.max()
        next[spec.deploymentID] = tracked
      }
      deployments = next
    case .timer(let at):
      now = at
      armed = nil
      actions.append(
        .markLate(scheduledBefore: at.addingTimeInterval(-options.lateAfter.timeInterval)))
    case .created(let id, let through, let at):
      now = at
      if var tracked = deployments[id] {
        tracked.creating = false
        tracked.cursor = max(tracked.cursor ?? through, through)
        deployments[id] = tracked
      }
    case .createFailed(let id, let at):
      now = at
      deployments[id]?.creating = false
    }
    // The nearest fire times first: with a thousand deployments, the run due in a second is
    // created before the ones due in a minute (the shell creates them in this order).
    var proposals: [(first: Date, order: Int, action: Action)] = []
    for id in deployments.keys.sorted(by: { $0.uuidString < $1.uuidString }) {
      for action in propose(id, now: now) {
        let first: Date
        switch action {
        case .createRuns(_, let fireTimes): first = fireTimes.first?.date ?? now
        default: first = .distantPast
        }
        proposals.append((first, proposals.count, action))
      }
    }
    actions += proposals.sorted { ($0.first, $0.order) < ($1.first, $1.order) }.map(\.action)
    let wake = now.addingTimeInterval(options.tick.timeInterval)
    if armed == nil || armed! > wake || armed! <= now {
      armed = wake
      actions.append(.armTimer(wake))
    }
    return actions
  }

  /// The fire times of deployment `id` from its cursor to the horizon.
  private mutating func propose(_ id: UUID, now: Date) -> [Action] {
    guard var tracked = deployments[id], !tracked.creating else { return [] }
    let oldest = now.addingTimeInterval(-tracked.spec.catchUpWindow.timeInterval)
    let horizon = now.addingTimeInterval(options.horizon.timeInterval)
    var actions: [Action] = []
    var cursor = tracked.cursor ?? oldest.addingTimeInterval(-1e-6)
    var missed: (count: Int, first: Date)?
    var fireTimes: [ScheduledFireTime] = []
    // One tick's worth of fire times per proposal (the due ones all at once): the next one
    // is proposed when these are created, behind the other deployments' nearer ones, so that
    // no deployment's next run waits for another's runs an hour ahead.
    var end = horizon
    while fireTimes.count < options.maxAhead,
      let event = tracked.spec.schedule.nextEvent(after: cursor), event.date > cursor,
      event.date <= end
    {
      cursor = event.date
      guard event.date >= oldest else {
        missed = (count: (missed?.count ?? 0) + 1, first: missed?.first ?? event.date)
        // Walking a long outage one fire time at a time could take long: jump to the window.
        if missed!.count >= options.maxAhead {
          cursor = max(cursor, oldest.addingTimeInterval(-1e-6))
        }
        continue
      }
      fireTimes.append(
        ScheduledFireTime(deploymentID: id, date: event.date, parameters: event.parameters))
      if fireTimes.count == 1 {
        end = min(horizon, max(now, event.date).addingTimeInterval(options.tick.timeInterval))
      }
    }
    if let missed {
      actions.append(.missed(deploymentID: id, count: missed.count, first: missed.first))
      if fireTimes.isEmpty { tracked.cursor = cursor }
    }
    if !fireTimes.isEmpty {
      tracked.creating = true
      actions.append(.createRuns(deploymentID: id, fireTimes))
    }
    deployments[id] = tracked
    return actions
  }
}

import FlowCore
import Foundation

/// The schedule runner's decisions, as a value type without I/O: it takes what happened (the
/// timer fired, a run ended, a stop was asked for) and returns what to do (start or cancel a
/// run, sleep until a fire time, report an event, finish). ``ScheduleRunner`` performs the
/// actions with a task group and the clock.
package struct ScheduleRunnerStateMachine {
  /// Something that happened.
  package enum Input {
    /// The runner started, at `now`.
    case start(now: Date)
    /// The timer armed for `deadline` fired.
    case timerFired(deadline: Date, now: Date)
    /// Run `id` ended with `outcome`.
    case runFinished(id: Int, outcome: ScheduledRunOutcome, now: Date)
    /// A graceful stop was requested, for `reason`.
    case stopRequested(now: Date, reason: String)
    /// The runner's task was cancelled.
    case cancelled(now: Date)
  }

  /// Something to do.
  package enum Action {
    /// Start run `id` for `request`.
    case startRun(id: Int, request: ScheduledRunRequest)
    /// Cancel run `id`.
    case cancelRun(id: Int)
    /// Sleep until `deadline`, then report `timerFired`.
    case armTimer(deadline: Date)
    /// Report `event`.
    case emit(ScheduleRunnerEvent)
    /// Stop: every run has ended.
    case finish(ScheduleRunnerSummary)
  }

  private let schedule: any Schedule
  private let options: ScheduleRunnerOptions
  private var cursor = Date.distantPast
  private var lookahead: ScheduleEvent?
  private var exhausted = false
  private var running: [Int: ScheduledRunRequest] = [:]
  private var cancelling: Set<Int> = []
  private var buffer: [ScheduleEvent] = []
  private var armed: Date?
  private var stopReason: ScheduleRunnerSummary.StopReason?
  private var nextID = 0
  private var consecutiveFailures = 0
  private var finished = false
  /// What happened so far.
  package private(set) var summary = ScheduleRunnerSummary()
  private var actions: [Action] = []

  /// A machine for `schedule` with `options`.
  package init(schedule: any Schedule, options: ScheduleRunnerOptions) {
    self.schedule = schedule
    self.options = options
  }

  /// True once the machine has returned `finish`.
  package var isFinished: Bool { finished }

  /// Handles `input` and returns the actions to perform, in order.
  package mutating func handle(_ input: Input) -> [Action] {
    guard !finished else { return [] }
    actions = []
    switch input {
    case .start(let now):
      cursor = options.resumeAfter ?? now
      processDue(now: now)
    case .timerFired(let deadline, let now):
      if armed == deadline { armed = nil }
      processDue(now: now)
    case .runFinished(let id, let outcome, let now):
      runFinished(id: id, outcome: outcome, now: now)
      startBufferedIfIdle(now: now)
      processDue(now: now)
    case .stopRequested(let now, let reason):
      if stopReason == nil {
        emit(
          .stopping, now: now, count: running.count,
          message: "stop requested (\(reason)): no new run starts"
            + (running.isEmpty ? "" : "; \(running.count) running run(s) finish first"))
      }
      stop(.stopRequested, now: now)
    case .cancelled(let now):
      stop(.cancelled, now: now)
      for id in running.keys.sorted() where !cancelling.contains(id) {
        cancelling.insert(id)
        actions.append(.cancelRun(id: id))
      }
    }
    armOrFinish(now: input.now)
    return actions
  }

  // MARK: Fire times

  private mutating func peek() -> ScheduleEvent? {
    if lookahead == nil && !exhausted {
      lookahead = schedule.nextEvent(after: cursor)
      // A schedule must move forward; one that does not (a broken custom schedule) ends here
      // rather than firing the same instant forever.
      if let event = lookahead, event.date <= cursor { lookahead = nil }
      if lookahead == nil { exhausted = true }
    }
    return lookahead
  }

  /// True while fire times should still be taken from the schedule.
  private var consuming: Bool {
    guard stopReason == nil else { return false }
    guard let maxRuns = options.maxRuns else { return true }
    return summary.runsStarted + buffer.count < maxRuns
  }

  /// Handles every fire time that has come by `now`, dropping those older than the catch-up
  /// window (reported first, with one `missed` event).
  private mutating func processDue(now: Date) {
    let oldest = now.addingTimeInterval(-options.catchUpWindow.timeInterval)
    var missed: [Date] = []
    while consuming, let event = peek(), event.date <= now {
      lookahead = nil
      cursor = event.date
      summary.lastFireDate = event.date
      if event.date < oldest {
        missed.append(event.date)
      } else {
        reportMissed(&missed, now: now)
        fire(event, now: now)
      }
    }
    reportMissed(&missed, now: now)
  }

  private mutating func reportMissed(_ missed: inout [Date], now: Date) {
    guard let first = missed.first, let last = missed.last else { return }
    summary.missed += missed.count
    emit(
      .missed, now: now, scheduledDate: first, count: missed.count,
      message: "missed \(missed.count) fire time(s) from \(first) to \(last): older than the "
        + "catch-up window of \(options.catchUpWindow), not run")
    missed = []
  }

  /// A fire time has come: start it, or apply the overlap policy.
  private mutating func fire(_ event: ScheduleEvent, now: Date) {
    if running.isEmpty && buffer.isEmpty {
      startRun(event, now: now)
      return
    }
    switch options.overlap {
    case .allowAll:
      startRun(event, now: now)
    case .bufferAll:
      bufferRun(event, now: now)
    case .bufferOne where buffer.isEmpty:
      bufferRun(event, now: now)
    case .cancelOther:
      for dropped in buffer { skip(dropped, now: now, why: "a newer fire time replaces it") }
      buffer = []
      for (id, request) in running.sorted(by: { $0.key < $1.key }) where !cancelling.contains(id) {
        cancelling.insert(id)
        actions.append(.cancelRun(id: id))
        emit(
          .cancellingRun, now: now, scheduledDate: event.date, request: request,
          message: "cancelling \(request) for the fire time \(event.date)")
      }
      bufferRun(event, now: now)
    default:
      skip(event, now: now, why: "a run is still going (overlap policy \(options.overlap))")
    }
  }

  private mutating func bufferRun(_ event: ScheduleEvent, now: Date) {
    buffer.append(event)
    emit(
      .buffered, now: now, scheduledDate: event.date,
      message: "buffered the fire time \(event.date): a run is still going")
  }

  private mutating func skip(_ event: ScheduleEvent, now: Date, why: String) {
    summary.skipped += 1
    emit(
      .skipped, now: now, scheduledDate: event.date,
      message: "skipped the fire time \(event.date): \(why)")
  }

  // MARK: Runs

  private mutating func startRun(_ event: ScheduleEvent, now: Date) {
    summary.runsStarted += 1
    nextID += 1
    let request = ScheduledRunRequest(
      runNumber: summary.runsStarted, scheduledDate: event.date, startDate: now,
      parameters: event.parameters)
    running[nextID] = request
    emit(
      .runStarted, now: now, scheduledDate: event.date, request: request,
      message: "started \(request)")
    actions.append(.startRun(id: nextID, request: request))
    if let maxRuns = options.maxRuns, summary.runsStarted >= maxRuns {
      stop(.maxRunsReached, now: now)
    }
  }

  private mutating func startBufferedIfIdle(now: Date) {
    guard stopReason == nil, running.isEmpty, !buffer.isEmpty else { return }
    startRun(buffer.removeFirst(), now: now)
  }

  private mutating func runFinished(id: Int, outcome: ScheduledRunOutcome, now: Date) {
    guard let request = running.removeValue(forKey: id) else { return }
    cancelling.remove(id)
    switch outcome.kind {
    case .success:
      summary.succeeded += 1
      consecutiveFailures = 0
    case .failure:
      summary.failed += 1
      consecutiveFailures += 1
    default:
      summary.cancelled += 1
    }
    emit(
      .runFinished, now: now, scheduledDate: request.scheduledDate, request: request,
      outcome: outcome, message: "\(request) ended: \(outcome)")
    if let limit = options.pauseAfterFailures, consecutiveFailures >= limit, stopReason == nil {
      emit(
        .paused, now: now, count: consecutiveFailures,
        message: "paused after \(consecutiveFailures) consecutive failed run(s)")
      stop(.pausedAfterFailures, now: now)
    }
  }

  // MARK: Stopping

  private mutating func stop(_ reason: ScheduleRunnerSummary.StopReason, now: Date) {
    guard stopReason == nil else { return }
    stopReason = reason
    for event in buffer { skip(event, now: now, why: "the runner is stopping (\(reason))") }
    buffer = []
  }

  /// Sleeps until the next fire time, or finishes once nothing is left to do.
  private mutating func armOrFinish(now: Date) {
    if consuming, let next = peek(), armed != next.date {
      armed = next.date
      actions.append(.armTimer(deadline: next.date))
    }
    if stopReason == nil && exhausted && buffer.isEmpty && running.isEmpty {
      stopReason = .scheduleEnded
    }
    guard let reason = stopReason, running.isEmpty, buffer.isEmpty else { return }
    finished = true
    summary.stopReason = reason
    emit(.stopped, now: now, message: "schedule runner stopped: \(reason)")
    actions.append(.finish(summary))
  }

  private mutating func emit(
    _ kind: ScheduleRunnerEvent.Kind, now: Date, scheduledDate: Date? = nil,
    request: ScheduledRunRequest? = nil, outcome: ScheduledRunOutcome? = nil, count: Int = 1,
    message: String
  ) {
    actions.append(
      .emit(
        ScheduleRunnerEvent(
          kind: kind, date: now, scheduledDate: scheduledDate, request: request, outcome: outcome,
          count: count, message: message)))
  }
}

extension ScheduleRunnerStateMachine.Input {
  fileprivate var now: Date {
    switch self {
    case .start(let now), .timerFired(_, let now), .runFinished(_, _, let now),
      .stopRequested(let now, _), .cancelled(let now):
      now
    }
  }
}

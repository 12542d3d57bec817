import FlowCore
import Foundation

/// Runs a closure at each fire time of a schedule, on an injected clock (Prefect 1's
/// `flow.run()` with a schedule, Temporal's schedules).
///
/// The runner sleeps on its ``WallClock`` until each fire time and calls the closure with a
/// ``ScheduledRunRequest``; it knows nothing of flows. A fire time that comes while a run is
/// going is handled by the ``OverlapPolicy``; fire times that passed while the runner could not
/// act are caught up within the catch-up window and the older ones reported as missed. It
/// stops when the schedule ends, after `maxRuns` runs, after `pauseAfterFailures` failures in a
/// row, when a ``ScheduleStopSignal`` asks (the running runs finish first, uncancelled: use it
/// for SIGINT and SIGTERM), or when its task is cancelled (the running runs are cancelled and
/// awaited). It uses structured concurrency only: every run is a child task of ``run(stop:_:)``.
/// ```swift
/// let runner = ScheduleRunner(schedule: try .cron("*/5 * * * *"), clock: SystemWallClock())
/// let summary = await runner.run { request in
///   await runFlow(parameters: request.parameters) ? .success : .failure("see the logs")
/// }
/// ```
public struct ScheduleRunner: Sendable {
  /// The schedule whose fire times start runs.
  public let schedule: any Schedule
  /// The clock the runner reads and sleeps on.
  public let clock: any WallClock
  /// Overlap, catch-up, failure and limit settings.
  public let options: ScheduleRunnerOptions

  /// A runner of `schedule` on `clock`.
  public init(
    schedule: any Schedule, clock: any WallClock, options: ScheduleRunnerOptions = .init()
  ) {
    self.schedule = schedule
    self.clock = clock
    self.options = options
  }

  private enum Wake: Sendable {
    case timer(Date)
    case finished(Int, ScheduledRunOutcome)
    case stop
    case ended
  }

  /// Runs `body` at each fire time until the runner stops, and returns what it did.
  public func run(
    stop: ScheduleStopSignal? = nil,
    _ body: @escaping @Sendable (ScheduledRunRequest) async -> ScheduledRunOutcome
  ) async -> ScheduleRunnerSummary {
    let clock = clock
    let onEvent = options.onEvent
    let cancelsRuns = options.overlap == .cancelOther
    var machine = ScheduleRunnerStateMachine(schedule: schedule, options: options)
    return await withTaskGroup(of: Wake.self) { group in
      var cancellations: [Int: OneShotSignal] = [:]
      var result: ScheduleRunnerSummary?
      func perform(_ actions: [ScheduleRunnerStateMachine.Action]) {
        for action in actions {
          switch action {
          case .startRun(let id, let request):
            guard cancelsRuns else {
              // Only `cancelOther` cancels one run on its own; cancelling the runner cancels
              // every child task anyway.
              group.addTask { .finished(id, await body(request)) }
              continue
            }
            let cancellation = OneShotSignal()
            cancellations[id] = cancellation
            group.addTask {
              .finished(id, await Self.perform(request, cancellation: cancellation, body: body))
            }
          case .cancelRun(let id):
            cancellations[id]?.fire()
          case .armTimer(let deadline):
            group.addTask {
              do {
                try await clock.sleep(until: deadline)
                return .timer(deadline)
              } catch {
                return .ended
              }
            }
          case .emit(let event):
            onEvent(event)
          case .finish(let summary):
            result = summary
          }
        }
      }
      if let stop {
        group.addTask { await stop.wait() ? .stop : .ended }
      }
      perform(machine.handle(.start(now: clock.now())))
      var sawCancellation = false
      while result == nil {
        if Task.isCancelled && !sawCancellation {
          sawCancellation = true
          perform(machine.handle(.cancelled(now: clock.now())))
          continue
        }
        guard let wake = await group.next() else { break }
        switch wake {
        case .timer(let deadline):
          perform(machine.handle(.timerFired(deadline: deadline, now: clock.now())))
        case .finished(let id, let outcome):
          cancellations[id] = nil
          perform(machine.handle(.runFinished(id: id, outcome: outcome, now: clock.now())))
        case .stop:
          let reason = stop?.reason ?? "requested"
          perform(machine.handle(.stopRequested(now: clock.now(), reason: reason)))
        case .ended:
          break
        }
      }
      group.cancelAll()
      return result ?? machine.summary
    }
  }

  /// Runs `body` for `request` in a child task that `cancellation` can cancel on its own.
  private static func perform(
    _ request: ScheduledRunRequest, cancellation: OneShotSignal,
    body: @escaping @Sendable (ScheduledRunRequest) async -> ScheduledRunOutcome
  ) async -> ScheduledRunOutcome {
    await withTaskGroup(of: ScheduledRunOutcome?.self) { group in
      group.addTask { await body(request) }
      group.addTask {
        _ = await cancellation.wait()
        return nil
      }
      var outcome = ScheduledRunOutcome.cancelled
      while let next = await group.next() {
        guard let finished = next else {
          group.cancelAll()  // asked to cancel (or the runner was): cancel the body, await it
          continue
        }
        outcome = finished
        break
      }
      group.cancelAll()
      return outcome
    }
  }
}

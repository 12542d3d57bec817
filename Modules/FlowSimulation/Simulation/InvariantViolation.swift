import FlowScheduling
import FlowState
import Foundation

/// An invariant a simulation found broken: what kind, with the data that shows it.
///
/// Reports list them in the order found; ``description`` is the readable message a failing
/// test prints (with the seed and how to rerun it, see ``SimulationSeeds``).
/// ```swift
/// for violation in report.violations {
///   if case .resultDeliveredTwice(let attempt, _) = violation { print("attempt \(attempt)") }
///   print(violation)  // attempt 7 of 'square[2]' finished twice: its result would be ...
/// }
/// ```
public enum InvariantViolation: Error, Sendable, Hashable, CustomStringConvertible,
  CustomDebugStringConvertible
{
  // MARK: The cluster's attempts

  /// An attempt's result reached the engine twice.
  case resultDeliveredTwice(attempt: UInt64, task: String)
  /// An attempt was lost with more workers than the scheduler's `allowedFailures`.
  case attemptLostTooOften(attempt: UInt64, task: String, lostWorkers: Int, allowedFailures: Int)
  /// An attempt's body ran more often than once plus the times its worker was lost.
  case bodyRanTwice(attempt: UInt64, task: String, bodies: Int, lostWorkers: Int)
  /// An attempt neither finished nor was withdrawn, and the cluster did not shut down.
  case resultLost(attempt: UInt64, task: String)

  // MARK: The engine's runs

  /// The flow run ended in a state that is not final.
  case flowRunUnfinished(flow: String, state: RunState.Kind)
  /// A task run ended in a state that is not final.
  case taskRunUnfinished(task: String, state: RunState.Kind)
  /// A task run's result was committed a number of times that does not fit its state (once
  /// for Success, never otherwise).
  case resultCommitCount(task: String, state: RunState.Kind, commits: Int)
  /// A task run made more attempts than its retry policy allows (per loop iteration).
  case tooManyAttempts(task: String, attempts: Int, iterations: Int, allowed: Int)
  /// A task run ended Failed by an illegal transition (the engine's own message).
  case illegalTaskTransition(task: String, message: String)
  /// The run's log shows a transition the table forbids.
  case illegalLoggedTransition(subject: String, from: RunState.Kind, to: RunState.Kind)
  /// The flow run still ran when the simulation's time limit passed.
  case runNeverFinished(limit: Duration, convergence: Duration)
  /// The flow run was refused before it started (a validation error).
  case runRefused(error: String)
  /// The flow run's task never returned.
  case runNeverReturned

  // MARK: Schedules

  /// An overlap policy other than allowAll started a run while another was going.
  case overlappingStart(policy: OverlapPolicy, at: Date)
  /// The run of a fire time was refused.
  case scheduledRunRefused(fireTime: String, error: String)
  /// The schedule runner never finished (runs still going at the end).
  case scheduleRunnerUnfinished(running: Int, at: Date)
  /// A fire time was not started or skipped exactly once.
  case fireTimeMiscounted(fireTime: Date, started: Int, skipped: Int, policy: OverlapPolicy)
  /// A fire time was buffered under the skip policy.
  case bufferedUnderSkip(fireTime: Date)
  /// A fire time was skipped under allowAll.
  case skippedUnderAllowAll(fireTime: Date)
  /// Fire times were missed, or do not add up to the ones started and skipped.
  case fireTimesUnaccounted(fireTimes: Int, started: Int, skipped: Int, missed: Int)
  /// The schedule runner's summary counts more runs started than ended.
  case runsUnaccounted(started: Int, summary: String)

  /// What was violated, in one sentence with its data.
  public var description: String {
    switch self {
    case .resultDeliveredTwice(let attempt, let task):
      return "attempt \(attempt) of '\(task)' finished twice: its result would be committed twice"
    case .attemptLostTooOften(let attempt, let task, let lost, let allowed):
      return "attempt \(attempt) of '\(task)' was lost with \(lost) workers; "
        + "allowedFailures is \(allowed)"
    case .bodyRanTwice(let attempt, let task, let bodies, let lost):
      return "attempt \(attempt) of '\(task)' ran its body \(bodies) times with "
        + "\(lost) lost workers: it ran twice somewhere"
    case .resultLost(let attempt, let task):
      return "attempt \(attempt) of '\(task)' never finished: its result was lost"
    case .flowRunUnfinished(let flow, let state):
      return "flow run of '\(flow)' ended \(state), not a final state"
    case .taskRunUnfinished(let task, let state):
      return "task run '\(task)' ended \(state), not a final state"
    case .resultCommitCount(let task, let state, let commits):
      if state == .success {
        return "task run '\(task)' succeeded with its result committed \(commits) times"
      }
      return "task run '\(task)' is \(state) but a result was committed \(commits) times"
    case .tooManyAttempts(let task, let attempts, let iterations, let allowed):
      if iterations > 1 {
        return "task run '\(task)' made \(attempts) attempts in \(iterations) loop iterations; "
          + "its retry policy allows \(allowed) per iteration"
      }
      return "task run '\(task)' made \(attempts) attempts; its retry policy allows \(allowed)"
    case .illegalTaskTransition(let task, let message):
      return "task run '\(task)': \(message)"
    case .illegalLoggedTransition(let subject, let from, let to):
      return "\(subject): illegal transition \(from) → \(to)"
    case .runNeverFinished(let limit, let convergence):
      return "the flow run never reached a final state: it was still running at "
        + "\(formatDuration(limit)), \(formatDuration(convergence)) after the faults stopped"
    case .runRefused(let error):
      return "the flow run was refused: \(error)"
    case .runNeverReturned:
      return "the flow run never returned"
    case .overlappingStart(let policy, let date):
      return "overlap policy \(policy) started a run while another was going at \(date)"
    case .scheduledRunRefused(let fireTime, let error):
      return "the flow run of fire time \(fireTime) was refused: \(error)"
    case .scheduleRunnerUnfinished(let running, let date):
      return "the schedule runner never finished: \(running) run(s) still going at \(date)"
    case .fireTimeMiscounted(let date, let started, let skipped, let policy):
      return "fire time \(date) was started \(started) and skipped \(skipped) times; the overlap "
        + "policy \(policy) must do exactly one of them"
    case .bufferedUnderSkip(let date):
      return "fire time \(date) was buffered under the skip policy"
    case .skippedUnderAllowAll(let date):
      return "fire time \(date) was skipped under allowAll"
    case .fireTimesUnaccounted(let fireTimes, let started, let skipped, let missed):
      return "\(fireTimes) fire times, but \(started) started, \(skipped) skipped "
        + "and \(missed) missed"
    case .runsUnaccounted(let started, let summary):
      return "\(started) runs started but \(summary) ended"
    }
  }

  /// The same readable message (so that a list of violations prints as sentences).
  public var debugDescription: String { description }
}

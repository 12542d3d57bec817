import FlowCore
import Foundation
import Synchronization

/// The race between one local attempt's body and its deadline, run as two child tasks of the
/// run's task group so that the run moves on at the deadline even when the body ignores
/// cancellation (a hard timeout): whichever ends first claims the attempt; the body is cancelled
/// at the deadline, and when it ends later its outcome is discarded.
final class AttemptDeadline: Sendable {
  /// Who ended the attempt.
  enum Claimant: Sendable {
    case body, deadline
  }

  private let winner = Mutex<Claimant?>(nil)
  /// Fired when the body ended first: the deadline stops sleeping.
  let bodyEnded = OneShotSignal()
  /// Fired when the deadline passed first: the body is cancelled.
  let deadlinePassed = OneShotSignal()

  /// Claims the attempt for `claimant`; false when the other one claimed it first.
  func claim(_ claimant: Claimant) -> Bool {
    let won = winner.withLock { winner -> Bool in
      guard winner == nil else { return false }
      winner = claimant
      return true
    }
    if won { (claimant == .body ? bodyEnded : deadlinePassed).fire() }
    return won
  }

  /// Sleeps on `clock` until `due` unless the body ends first; true when the deadline passed.
  func sleep(until due: Date, on clock: any WallClock) async -> Bool {
    await withTaskGroup(of: Bool.self) { group in
      group.addTask {
        do {
          try await clock.sleep(until: due)
          return true
        } catch {
          return false
        }
      }
      group.addTask { [bodyEnded] in
        await bodyEnded.wait()
        return false
      }
      defer { group.cancelAll() }
      return await group.next() ?? false
    }
  }

  /// Runs `body` until it ends or the deadline passes; at the deadline the body is cancelled
  /// and this waits for it (the caller, a child task, is what the run does not wait for).
  func run(_ body: @escaping @Sendable () async throws -> any Sendable) async throws
    -> any Sendable
  {
    try await withThrowingTaskGroup(of: (any Sendable)?.self) { group in
      group.addTask { try await body() }
      group.addTask { [deadlinePassed] in
        await deadlinePassed.wait()
        return nil
      }
      defer { group.cancelAll() }
      while let next = try await group.next() {
        if let value = next { return value }
        // The deadline passed: cancel the body (defer) and wait for it below.
        group.cancelAll()
      }
      throw CancellationError()
    }
  }
}

/// A signal fired at most once that any number of tasks can wait for; a waiter that is
/// cancelled stops waiting.
final class OneShotSignal: Sendable {
  private struct State {
    var fired = false
    var waiters: [Int: CheckedContinuation<Void, Never>] = [:]
    var nextID = 0
  }

  private let state = Mutex(State())

  /// Fires the signal: every waiter, present and future, returns.
  func fire() {
    let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
      guard !state.fired else { return [] }
      state.fired = true
      defer { state.waiters = [:] }
      return Array(state.waiters.values)
    }
    for waiter in waiters { waiter.resume() }
  }

  /// Returns when the signal fires or the calling task is cancelled.
  func wait() async {
    let id = state.withLock { state -> Int in
      state.nextID += 1
      return state.nextID
    }
    await withTaskCancellationHandler {
      await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
        let resumeNow = state.withLock { state -> Bool in
          if state.fired || Task.isCancelled { return true }
          state.waiters[id] = continuation
          return false
        }
        if resumeNow { continuation.resume() }
      }
    } onCancel: {
      let waiter = state.withLock { $0.waiters.removeValue(forKey: id) }
      waiter?.resume()
    }
  }
}

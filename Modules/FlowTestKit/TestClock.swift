import FlowCore
import Foundation
import HeapModule
import Synchronization

/// A ``WallClock`` in virtual time, for tests: time moves only when the test says so.
///
/// ```swift
/// let clock = TestClock(now: start)
/// async let result = flow.run(environment: RunEnvironment(clock: clock))
/// await clock.waitForSleepers(1)        // the engine is waiting for a retry
/// await clock.advance(by: .seconds(600)) // wakes it, exactly ten virtual minutes later
/// ```
/// Sleepers wake in deadline order (ties in the order they started sleeping), and `now()`
/// reads each sleeper's deadline as it wakes. With `autoAdvance: true`, a sleep moves the
/// clock to its deadline at once: right for code that does one thing at a time (the sequential
/// executor), where nothing else could run meanwhile.
public final class TestClock: WallClock {
  private struct Sleeper: Comparable {
    let deadline: Date
    let id: Int
    static func < (a: Sleeper, b: Sleeper) -> Bool { (a.deadline, a.id) < (b.deadline, b.id) }
  }

  private struct State {
    var now: Date
    var nextID = 0
    var queue = Heap<Sleeper>()
    var waiting: [Int: CheckedContinuation<Void, any Error>] = [:]
    var cancelledEarly: Set<Int> = []
    var countWaiters: [(id: Int, count: Int, continuation: CheckedContinuation<Void, Never>)] = []
  }

  private let state: Mutex<State>
  /// True when a sleep moves the clock to its deadline at once.
  public let autoAdvance: Bool

  /// A clock that reads `now` until it is advanced.
  public init(now: Date = Date(timeIntervalSince1970: 1_767_225_600), autoAdvance: Bool = false) {
    state = Mutex(State(now: now))
    self.autoAdvance = autoAdvance
  }

  /// The current virtual instant.
  public func now() -> Date { state.withLock { $0.now } }

  /// How many tasks are sleeping on this clock.
  public var sleeperCount: Int { state.withLock { $0.waiting.count } }

  /// The earliest deadline of a sleeping task, if any.
  public var nextDeadline: Date? {
    state.withLock { state in
      state.queue.unordered.filter { state.waiting[$0.id] != nil }.min()?.deadline
    }
  }

  /// Suspends until the clock reaches `deadline`; throws `CancellationError` on cancellation.
  public func sleep(until deadline: Date) async throws {
    if autoAdvance {
      state.withLock { $0.now = max($0.now, deadline) }
      return try Task.checkCancellation()
    }
    let id: Int? = state.withLock { state in
      guard deadline > state.now else { return nil }
      defer { state.nextID += 1 }
      return state.nextID
    }
    guard let id else { return try Task.checkCancellation() }
    try await withTaskCancellationHandler {
      try await withCheckedThrowingContinuation {
        (continuation: CheckedContinuation<Void, any Error>) in
        let resumeNow: Bool? = state.withLock { state in
          if state.cancelledEarly.remove(id) != nil { return true }
          // An advance may have passed the deadline since the check above: wake at once.
          if deadline <= state.now { return false }
          state.waiting[id] = continuation
          state.queue.insert(Sleeper(deadline: deadline, id: id))
          let count = state.waiting.count
          let ready = state.countWaiters.filter { $0.count <= count }
          state.countWaiters.removeAll { $0.count <= count }
          for waiter in ready { waiter.continuation.resume() }
          return nil
        }
        switch resumeNow {
        case true?: continuation.resume(throwing: CancellationError())
        case false?: continuation.resume()
        case nil: break  // registered: an advance or a cancellation resumes it
        }
      }
    } onCancel: {
      let continuation = state.withLock { state in
        guard let continuation = state.waiting.removeValue(forKey: id) else {
          state.cancelledEarly.insert(id)
          return nil as CheckedContinuation<Void, any Error>?
        }
        return continuation
      }
      continuation?.resume(throwing: CancellationError())
    }
  }

  /// Suspends until at least `count` tasks are sleeping on the clock: the handshake that lets
  /// a test advance time exactly when the code under test waits.
  /// Returns early when the waiting task is cancelled (a test's time limit, say), so a
  /// handshake that never comes cannot hang the test run.
  public func waitForSleepers(_ count: Int = 1) async {
    let id = state.withLock { state in
      defer { state.nextID += 1 }
      return state.nextID
    }
    await withTaskCancellationHandler {
      await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
        let ready = state.withLock { state in
          if state.waiting.count >= count || state.cancelledEarly.remove(id) != nil { return true }
          state.countWaiters.append((id, count, continuation))
          return false
        }
        if ready { continuation.resume() }
      }
    } onCancel: {
      let continuation = state.withLock { state -> CheckedContinuation<Void, Never>? in
        guard let index = state.countWaiters.firstIndex(where: { $0.id == id }) else {
          state.cancelledEarly.insert(id)
          return nil
        }
        return state.countWaiters.remove(at: index).continuation
      }
      continuation?.resume()
    }
  }

  /// Moves time forward by `duration`, waking every sleeper that falls due on the way.
  public func advance(by duration: Duration) async {
    await advance(to: now().adding(duration))
  }

  /// Moves time to `instant`, waking sleepers due at or before it in deadline order, until no
  /// sleeper is due. A woken task that sleeps again within the window wakes again in turn.
  public func advance(to instant: Date) async {
    while let continuation = wakeNext(dueBy: instant) {
      continuation.resume()
      await settle()
    }
  }

  /// Advances to the next sleeper's deadline and wakes it (and any due at the same instant);
  /// returns false when nobody sleeps.
  @discardableResult
  public func advanceToNextDeadline() async -> Bool {
    guard let deadline = nextDeadline else { return false }
    await advance(to: deadline)
    return true
  }

  /// Moves time to the earliest sleeper's deadline and wakes every sleeper due then, without
  /// yielding for them to run on: for a test that then waits for their effects itself (a
  /// month of schedule fire times, one handshake each). Returns false when nobody sleeps.
  @discardableResult
  public func wakeNextDeadline() -> Bool {
    guard let deadline = nextDeadline else { return false }
    while let continuation = wakeNext(dueBy: deadline) { continuation.resume() }
    return true
  }

  /// Takes the earliest sleeper due by `instant` off the queue, moving `now` to its deadline;
  /// with none due, moves `now` to `instant`.
  private func wakeNext(dueBy instant: Date) -> CheckedContinuation<Void, any Error>? {
    state.withLock { state in
      while let first = state.queue.min, first.deadline <= instant {
        state.queue.removeMin()
        guard let continuation = state.waiting.removeValue(forKey: first.id) else { continue }
        state.now = max(state.now, first.deadline)
        return continuation
      }
      state.now = max(state.now, instant)
      return nil
    }
  }

  /// Lets a woken task reach its next suspension before the next sleeper wakes.
  private func settle() async {
    for _ in 0..<16 { await Task.yield() }
  }
}

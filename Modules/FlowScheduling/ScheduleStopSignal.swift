import Synchronization

/// Asks a running ``ScheduleRunner`` to stop gracefully: no new run starts, the running ones
/// finish without being cancelled, then ``ScheduleRunner/run(stop:_:)`` returns.
///
/// FlowExecutors' `FlowScheduleService` requests it when its `ServiceGroup` shuts down gracefully
/// (on SIGTERM or SIGINT); cancelling the runner's task instead stops it at once, cancelling the
/// running runs.
public final class ScheduleStopSignal: Sendable {
  private let signal = OneShotSignal()
  private let firstReason = Mutex<String?>(nil)

  /// A signal not yet requested.
  public init() {}

  /// Asks the runner to stop, saying why (e.g. `SIGTERM`) for its log; safe from any thread,
  /// any number of times (the first reason is kept).
  public func requestStop(reason: String = "requested") {
    firstReason.withLock { $0 = $0 ?? reason }
    signal.fire()
  }

  /// Why the stop was requested, once it was.
  public var reason: String? { firstReason.withLock { $0 } }

  /// True once a stop was requested.
  public var isStopRequested: Bool { signal.isFired }

  /// Suspends until a stop is requested (true) or the waiting task is cancelled (false).
  func wait() async -> Bool { await signal.wait() }
}

/// A flag that can be set once and awaited: the runner's stop request and per-run
/// cancellation requests.
final class OneShotSignal: Sendable {
  private struct State {
    var fired = false
    var nextID = 0
    var waiters: [Int: CheckedContinuation<Bool, Never>] = [:]
    var cancelledEarly: Set<Int> = []
  }

  private let state = Mutex(State())

  var isFired: Bool { state.withLock { $0.fired } }

  /// Sets the flag and wakes every waiter.
  func fire() {
    let waiters = state.withLock { state -> [CheckedContinuation<Bool, Never>] in
      guard !state.fired else { return [] }
      state.fired = true
      defer { state.waiters = [:] }
      return Array(state.waiters.values)
    }
    for waiter in waiters { waiter.resume(returning: true) }
  }

  /// Returns true once the flag is set, or false as soon as the calling task is cancelled.
  func wait() async -> Bool {
    let id = state.withLock { state in
      defer { state.nextID += 1 }
      return state.nextID
    }
    return await withTaskCancellationHandler {
      await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
        let immediate: Bool? = state.withLock { state in
          if state.fired { return true }
          if state.cancelledEarly.remove(id) != nil { return false }
          state.waiters[id] = continuation
          return nil
        }
        if let immediate { continuation.resume(returning: immediate) }
      }
    } onCancel: {
      let waiter = state.withLock { state -> CheckedContinuation<Bool, Never>? in
        if let waiter = state.waiters.removeValue(forKey: id) { return waiter }
        if !state.fired { state.cancelledEarly.insert(id) }
        return nil
      }
      waiter?.resume(returning: false)
    }
  }
}

import FlowCore
import Foundation
import Synchronization

/// The ``WallClock`` of a simulation: it reads the simulator's virtual time, and a sleep wakes
/// when the simulator reaches its deadline, as one event among the others.
///
/// Hand it to the code under test (a task body, a `RunEnvironment`); it is only meaningful
/// inside ``Simulator/run(until:maxEvents:)``, where the simulator wakes its sleepers.
public final class SimulationClock: WallClock {
  /// When the simulation started, as a date.
  public let startDate: Date
  private let elapsed = Atomic<Int64>(0)
  private let state = Mutex(State())

  private struct State {
    var nextID = 0
    var waiting: [Int: CheckedContinuation<Void, any Error>] = [:]
    var registered: [(id: Int, deadline: Int64)] = []
    var cancelledEarly: Set<Int> = []
  }

  init(startDate: Date) { self.startDate = startDate }

  /// The current virtual instant.
  public func now() -> Date {
    startDate.addingTimeInterval(Double(elapsed.load(ordering: .relaxed)) / 1e9)
  }

  /// Simulated nanoseconds since the start.
  public var elapsedNanoseconds: Int64 { elapsed.load(ordering: .relaxed) }

  func set(elapsed nanoseconds: Int64) { elapsed.store(nanoseconds, ordering: .relaxed) }

  /// Suspends until the simulation reaches `deadline`; throws `CancellationError` when the
  /// calling task is cancelled (a crashed worker's task, the end of the simulation).
  public func sleep(until deadline: Date) async throws {
    let target = Int64((deadline.timeIntervalSince(startDate) * 1e9).rounded(.up))
    guard target > elapsedNanoseconds else { return try Task.checkCancellation() }
    let id = state.withLock { state in
      defer { state.nextID += 1 }
      return state.nextID
    }
    try await withTaskCancellationHandler {
      try await withCheckedThrowingContinuation {
        (continuation: CheckedContinuation<Void, any Error>) in
        let cancelled = state.withLock { state in
          if state.cancelledEarly.remove(id) != nil { return true }
          state.waiting[id] = continuation
          state.registered.append((id, target))
          return false
        }
        if cancelled { continuation.resume(throwing: CancellationError()) }
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

  /// The sleeps registered since the last call, for the simulator to schedule.
  func takeRegistered() -> [(id: Int, deadline: Int64)] {
    state.withLock { state in
      defer { state.registered.removeAll(keepingCapacity: true) }
      return state.registered
    }
  }

  /// Wakes sleep `id` if it still waits; returns whether it did.
  @discardableResult
  func wake(_ id: Int) -> Bool {
    let continuation = state.withLock { $0.waiting.removeValue(forKey: id) }
    continuation?.resume()
    return continuation != nil
  }

  /// How many tasks sleep on the clock.
  public var sleeperCount: Int { state.withLock { $0.waiting.count } }
}

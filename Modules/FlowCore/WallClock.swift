import Foundation

/// The time port: what "now" is, and sleeping until an instant.
///
/// Library code asks the run's clock instead of calling `Date()` or `Task.sleep`, so that a
/// virtual clock (`TestClock` in FlowTesting) can drive retries and schedules in tests.
public protocol WallClock: Sendable {
  /// The current instant.
  func now() -> Date
  /// Suspends until `deadline` (returns at once if it has passed); throws `CancellationError`
  /// when the calling task is cancelled.
  func sleep(until deadline: Date) async throws
}

extension WallClock {
  /// Suspends for `duration` from now.
  public func sleep(for duration: Duration) async throws {
    try await sleep(until: now().adding(duration))
  }
}

extension Duration {
  /// The duration in seconds, as a `TimeInterval`.
  package var timeInterval: TimeInterval {
    let (seconds, attoseconds) = components
    return TimeInterval(seconds) + TimeInterval(attoseconds) * 1e-18
  }
}

extension Date {
  /// This instant moved by `duration`.
  package func adding(_ duration: Duration) -> Date {
    addingTimeInterval(duration.timeInterval)
  }
}

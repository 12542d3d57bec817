import Foundation

/// The real clock: `Date()` for now, and `Task.sleep` on the continuous clock for waiting.
public struct SystemWallClock: WallClock {
  /// Creates the system clock.
  public init() {}

  /// The current instant.
  public func now() -> Date { Date() }

  /// Sleeps until `deadline` on the continuous clock.
  public func sleep(until deadline: Date) async throws {
    let interval = deadline.timeIntervalSinceNow
    guard interval > 0 else { return try Task.checkCancellation() }
    try await Task.sleep(for: .seconds(interval), clock: .continuous)
  }
}

import Logging

/// The side effects a run may use: its clock, random source, ID generator and logger.
///
/// Inject a `TestClock` and a `SeededRandomSource` (FlowTesting) to make a run deterministic.
public struct RunEnvironment: Sendable {
  /// The clock every timestamp, retry delay and timeout is measured on.
  public var clock: any WallClock
  /// The source of jitter and of any randomness a task asks its context for.
  public var random: any RandomSource
  /// The source of flow-run and task-run IDs.
  public var ids: any IDGenerator
  /// Where a run's log records go as they happen (every record is also kept with the run's
  /// result); by default nowhere.
  public var logger: Logger

  /// Creates an environment; unspecified parts are the system ones, and the logger discards.
  public init(
    clock: any WallClock = SystemWallClock(), random: any RandomSource = SystemRandomSource(),
    ids: any IDGenerator = SystemIDGenerator(),
    logger: Logger = Logger(label: "swift-flow", factory: { _ in SwiftLogNoOpLogHandler() })
  ) {
    self.clock = clock
    self.random = random
    self.ids = ids
    self.logger = logger
  }

  /// The real clock, random source and IDs.
  public static var system: RunEnvironment { RunEnvironment() }
}

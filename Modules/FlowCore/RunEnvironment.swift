/// The side effects a run may use: its clock, random source and ID generator.
///
/// Inject a `TestClock` and a `SeededRandomSource` (FlowTesting) to make a run deterministic.
public struct RunEnvironment: Sendable {
  /// The clock every timestamp, retry delay and timeout is measured on.
  public var clock: any WallClock
  /// The source of jitter and of any randomness a task asks its context for.
  public var random: any RandomSource
  /// The source of flow-run and task-run IDs.
  public var ids: any IDGenerator

  /// Creates an environment; unspecified parts are the system ones.
  public init(
    clock: any WallClock = SystemWallClock(), random: any RandomSource = SystemRandomSource(),
    ids: any IDGenerator = SystemIDGenerator()
  ) {
    self.clock = clock
    self.random = random
    self.ids = ids
  }

  /// The real clock, random source and IDs.
  public static var system: RunEnvironment { RunEnvironment() }
}

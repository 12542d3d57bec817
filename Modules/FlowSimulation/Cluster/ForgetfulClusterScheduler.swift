import FlowClusterProtocol

/// The real scheduler with a planted bug: it forgets the `nth` result it should report to the
/// engine. Use it to see the invariants catch a lost result (`flow simulate --plant-bug
/// forget-result`), or as a model for wrapping the scheduler with other bugs.
public struct ForgetfulClusterScheduler: SimulatedClusterScheduler {
  /// The real state machine.
  public var real: ClusterSchedulerStateMachine
  /// Which result to forget (1: the first).
  public let nth: Int
  private var seen = 0

  /// Wraps `real`, forgetting its `nth` result.
  public init(real: ClusterSchedulerStateMachine, nth: Int) {
    self.real = real
    self.nth = nth
  }

  /// Handles `event` with the real machine, dropping the `nth` finished-task action.
  public mutating func handle(
    _ event: ClusterSchedulerStateMachine.Event
  ) -> [ClusterSchedulerStateMachine.Action] {
    real.handle(event).filter { action in
      guard case .taskFinished = action else { return true }
      seen += 1
      return seen != nth
    }
  }
}

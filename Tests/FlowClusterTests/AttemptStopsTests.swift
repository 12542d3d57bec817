import FlowClusterProtocol
import Testing

@testable import FlowCluster

@Suite("AttemptStops: stopping one attempt's body; what counts as stuck")
struct AttemptStopsTests {
  @Test("a cancelled attempt's signal fires; it is stuck until its body returns")
  func cancelThenEnd() async {
    let stops = AttemptStops()
    let signal = stops.started(7)
    #expect(!stops.isStuck(7))
    #expect(stops.cancel(7))
    var fired = 0
    for await _ in signal { fired += 1 }
    #expect(fired == 1)
    #expect(stops.isStuck(7))
    stops.ended(7)
    #expect(!stops.isStuck(7))
  }

  @Test("an attempt that ended, or was never registered, is not cancelled or stuck")
  func endedOrUnknown() {
    let stops = AttemptStops()
    _ = stops.started(1)
    stops.ended(1)
    #expect(!stops.cancel(1))
    #expect(!stops.cancel(2))
    #expect(!stops.isStuck(1) && !stops.isStuck(2))
  }
}

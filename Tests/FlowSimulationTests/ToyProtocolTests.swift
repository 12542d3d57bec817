import FlowSimulation
import FlowTestKit
import Testing

/// A toy protocol to test the kernel with: stop-and-wait retransmission (ARQ) of numbered
/// messages over a lossy, duplicating, reordering datagram network, with partitions, pauses
/// and crashes of the receiver (which keeps what it delivered, as if on disk).
final class StopAndWait {
  enum Packet {
    case data(Int)
    case ack(Int)
  }

  let sim: Simulator
  let network: SimulatedNetwork<Packet>
  let count: Int
  var nextToSend = 1
  var retransmit: SimulationEventID?
  var delivered: [Int] = []
  var expected = 1
  /// A bug to plant: the receiver accepts any message, not only the next one.
  let acceptsAnything: Bool

  init(seed: UInt64, count: Int, faults: FaultSet, acceptsAnything: Bool = false) {
    sim = Simulator(seed: seed)
    self.count = count
    self.acceptsAnything = acceptsAnything
    network = SimulatedNetwork(
      simulator: sim, nodeCount: 2,
      conditions: NetworkConditions(latency: .uniform(.milliseconds(1) ... .milliseconds(30))))
    network.traceTag = {
      switch $0 {
      case .data(let n): UInt64(n) << 1
      case .ack(let n): UInt64(n) << 1 | 1
      }
    }
    network.onDeliver = { [unowned self] from, to, packet in receive(packet, at: to) }
    let injector = FaultInjector(
      simulator: sim, network: network,
      schedule: FaultSchedule(faults: faults, window: .seconds(20), meanGap: .milliseconds(500)),
      targets: FaultTargets(
        nodes: [1], networkNodes: [0, 1], crash: { [unowned self] in network.crash($0) },
        restart: { [unowned self] in network.restart($0) },
        pause: { [unowned self] in network.pause($0) },
        resume: { [unowned self] in network.resume($0) }))
    injector.start()
    sim.schedule(after: .zero) { [unowned self] in sendCurrent() }
  }

  func sendCurrent() {
    guard nextToSend <= count else { return }
    network.send(.data(nextToSend), from: 0, to: 1)
    retransmit = sim.schedule(after: .milliseconds(100)) { [unowned self] in sendCurrent() }
  }

  func receive(_ packet: Packet, at node: Int) {
    switch packet {
    case .data(let n):
      if n == expected || (acceptsAnything && n >= expected - 1) {
        delivered.append(n)
        expected = n + 1
      }
      network.send(.ack(expected - 1), from: 1, to: 0)
    case .ack(let n):
      guard n == nextToSend else { return }
      if let retransmit { sim.cancel(retransmit) }
      nextToSend += 1
      sendCurrent()
    }
  }

  /// Runs to the end and checks the invariants: every message delivered, once, in order.
  func run() throws -> UInt64 {
    sim.runSynchronously(until: .seconds(3_600))
    guard delivered == Array(1...count) else {
      throw SimulationError(
        .invariantViolated,
        "delivered \(delivered.count) messages, expected 1...\(count) once each in order; "
          + "last trace entries:\n"
          + sim.trace.entries.suffix(10).map(\.description).joined(separator: "\n"))
    }
    return sim.trace.hash
  }
}

extension HeavySimulations {
  @Suite("Kernel on a toy protocol")
  struct ToyProtocolTests {
    @Test("stop-and-wait delivers every message exactly once under every fault, 200 seeds")
    func arqUnderFaults() async throws {
      try await SimulationSeeds.run(0..<200) { seed in
        _ = try StopAndWait(seed: seed, count: 40, faults: .all).run()
      }
    }

    @Test("the same seed gives the same trace; another seed another")
    func determinism() async throws {
      let hash = try await SimulationSeeds.checkDeterminism(seed: 77) {
        try StopAndWait(seed: $0, count: 40, faults: .all).run()
      }
      #expect(hash != (try StopAndWait(seed: 78, count: 40, faults: .all).run()))
    }

    @Test("a planted bug is caught, and the failure names the seed and the rerun command")
    func plantedBug() async throws {
      var failure: SimulationError?
      do {
        try await SimulationSeeds.run(0..<200) { seed in
          _ = try StopAndWait(seed: seed, count: 40, faults: .all, acceptsAnything: true).run()
        }
      } catch let error as SimulationError {
        failure = error
      }
      let error = try #require(failure)
      #expect(error.code == .seedFailed)
      #expect(error.message.contains("simulation failed for seed "))
      #expect(error.message.contains("FLOW_SIM_SEED="))
      #expect(
        error.message.contains("swift test --filter 'FlowSimulationTests\\..*/plantedBug\\('"))
      #expect((error.cause as? SimulationError)?.code == .invariantViolated)
    }
  }
}

import FlowSimulation
import FlowTestKit
import Testing

@Suite("Simulated network")
struct SimulatedNetworkTests {
  /// A network of `nodes` nodes whose deliveries are collected as (from, to, message, time).
  final class Harness {
    let sim: Simulator
    let network: SimulatedNetwork<Int>
    var delivered: [(from: Int, to: Int, message: Int, at: Duration)] = []
    var lost: [(node: Int, peer: Int, at: Duration)] = []

    init(
      seed: UInt64, nodes: Int = 3, conditions: NetworkConditions, mode: NetworkMode = .datagrams
    ) {
      sim = Simulator(seed: seed)
      network = SimulatedNetwork(
        simulator: sim, nodeCount: nodes, conditions: conditions, mode: mode)
      network.traceTag = { UInt64($0) }
      network.onDeliver = { [unowned self] from, to, message in
        delivered.append((from, to, message, sim.now))
      }
      network.onConnectionLost = { [unowned self] node, peer, _ in
        lost.append((node, peer, sim.now))
      }
    }
  }

  @Test("latency comes from the distribution; a link without reordering stays in order")
  func latencyAndOrder() {
    let net = Harness(
      seed: 4,
      conditions: NetworkConditions(latency: .uniform(.milliseconds(1) ... .milliseconds(50))))
    for message in 0..<200 { net.network.send(message, from: 0, to: 1) }
    net.sim.runSynchronously()
    #expect(net.delivered.map(\.message) == Array(0..<200))
    #expect(net.delivered.allSatisfy { $0.at >= .milliseconds(1) && $0.at <= .milliseconds(51) })
  }

  @Test("with reordering on, messages overtake each other")
  func reorder() {
    let net = Harness(
      seed: 4,
      conditions: NetworkConditions(
        latency: .uniform(.milliseconds(1) ... .milliseconds(50)), reorder: true))
    for message in 0..<200 { net.network.send(message, from: 0, to: 1) }
    net.sim.runSynchronously()
    #expect(net.delivered.map(\.message).sorted() == Array(0..<200))
    #expect(net.delivered.map(\.message) != Array(0..<200))
  }

  @Test("drop and duplicate rates are close to what was asked")
  func dropAndDuplicate() {
    let net = Harness(
      seed: 8,
      conditions: NetworkConditions(
        latency: .fixed(.milliseconds(1)), dropRate: 0.1, duplicateRate: 0.1))
    for message in 0..<10_000 { net.network.send(message, from: 0, to: 1) }
    net.sim.runSynchronously()
    let distinct = Set(net.delivered.map(\.message)).count
    let duplicates = net.delivered.count - distinct
    #expect((8_700...9_300).contains(distinct))
    #expect((700...1_100).contains(duplicates))
  }

  @Test("a symmetric partition cuts both ways, a one-way partition one way; heal restores")
  func partitions() {
    let net = Harness(seed: 1, conditions: NetworkConditions(latency: .fixed(.milliseconds(1))))
    net.network.partition([0], from: [1, 2])
    net.network.send(1, from: 0, to: 1)
    net.network.send(2, from: 2, to: 0)
    net.network.send(3, from: 1, to: 2)
    net.network.heal()
    net.network.block(from: 0, to: 1)
    net.network.send(4, from: 0, to: 1)
    net.network.send(5, from: 1, to: 0)
    net.network.heal()
    net.network.send(6, from: 0, to: 1)
    net.sim.runSynchronously()
    #expect(net.delivered.map(\.message) == [3, 5, 6])
  }

  @Test("a crashed node receives nothing; a paused node receives when it resumes, in order")
  func crashAndPause() {
    let net = Harness(seed: 1, conditions: NetworkConditions(latency: .fixed(.milliseconds(1))))
    net.network.crash(1)
    net.network.send(1, from: 0, to: 1)
    net.network.pause(2)
    net.network.send(2, from: 0, to: 2)
    net.network.send(3, from: 0, to: 2)
    net.sim.schedule(after: .seconds(1)) {
      net.network.restart(1)
      net.network.send(4, from: 0, to: 1)
      net.network.resume(2)
    }
    net.sim.runSynchronously()
    #expect(net.delivered.map(\.message) == [2, 3, 4])
    #expect(net.delivered.first?.at == .seconds(1))
  }

  @Test("with connections, a partition breaks the connection and both ends are told")
  func connectionLoss() {
    let net = Harness(
      seed: 6, conditions: NetworkConditions(latency: .fixed(.milliseconds(1))),
      mode: .connections(detection: .fixed(.milliseconds(300))))
    #expect(net.network.connect(0, 1) == 1)
    net.network.send(1, from: 0, to: 1)
    net.sim.schedule(after: .microseconds(500)) {
      net.network.block(from: 1, to: 0)  // one way is enough to break a connection
      net.network.send(2, from: 1, to: 0)  // not connected any more: lost
    }
    net.sim.runSynchronously()
    #expect(net.delivered.isEmpty)  // message 1 was in flight on the broken connection
    #expect(net.lost.map { [$0.node, $0.peer] }.sorted { $0[0] < $1[0] } == [[0, 1], [1, 0]])
    #expect(net.lost.allSatisfy { $0.at == .microseconds(300_500) })
    #expect(net.network.connect(0, 1) == nil)  // still cut
    net.network.heal()
    #expect(net.network.connect(0, 1) == 2)
  }

  @Test("with connections, a crash tells the peers but not the crashed node")
  func crashTellsPeers() {
    let net = Harness(
      seed: 6, conditions: NetworkConditions(latency: .fixed(.milliseconds(1))),
      mode: .connections(detection: .fixed(.milliseconds(10))))
    net.network.connect(0, 1)
    net.network.connect(0, 2)
    net.network.crash(0)
    net.sim.runSynchronously()
    #expect(net.lost.map(\.node).sorted() == [1, 2])
    #expect(!net.network.isConnected(0, 1))
  }

  @Test("fault sets parse from the command-line syntax")
  func faultSets() throws {
    #expect(try FaultSet(parsing: "all") == .all)
    #expect(try FaultSet(parsing: "none") == .none)
    let some = try FaultSet(parsing: "crash, drop")
    #expect(some.contains(.crash) && some.contains(.drop) && !some.contains(.pause))
    #expect(some.description == "drop,crash")
    #expect(throws: SimulationError.self) { try FaultSet(parsing: "meteor") }
  }
}

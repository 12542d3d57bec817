/// How a simulated link behaves: latency, loss, duplication and ordering.
public struct NetworkConditions: Sendable {
  /// One-way delay of each message.
  public var latency: DurationDistribution
  /// Probability that a message is lost (with connections: that the connection breaks).
  public var dropRate: Double
  /// Probability that a message is delivered twice.
  public var duplicateRate: Double
  /// Whether messages on one link may overtake each other (false: first in, first out).
  public var reorder: Bool

  /// Conditions with the given latency, loss, duplication and ordering.
  public init(
    latency: DurationDistribution, dropRate: Double = 0, duplicateRate: Double = 0,
    reorder: Bool = false
  ) {
    self.latency = latency
    self.dropRate = dropRate
    self.duplicateRate = duplicateRate
    self.reorder = reorder
  }

  /// A fast, reliable, ordered network: 50–500 µs.
  public static let lan = NetworkConditions(
    latency: .uniform(.microseconds(50) ... .microseconds(500)))
  /// A lossy, duplicating, reordering network with a long latency tail.
  public static let hostile = NetworkConditions(
    latency: .mixture(
      .uniform(.microseconds(100) ... .milliseconds(5)), .exponential(mean: .milliseconds(200)),
      p: 0.05),
    dropRate: 0.02, duplicateRate: 0.02, reorder: true)
}

/// How the simulated network carries messages.
public struct NetworkMode: Sendable {
  enum Kind: Sendable {
    case datagrams
    case connections(detection: DurationDistribution)
  }
  let kind: Kind

  /// Independent messages: a lost message is simply gone (UDP).
  public static let datagrams = NetworkMode(kind: .datagrams)
  /// Connections between pairs of nodes, as TCP gives them: messages arrive in order and at
  /// most once (duplication and reordering do not apply); a lost message, a partition or a
  /// crashed peer breaks the connection, and both ends (the crashed one excepted) are told
  /// after `detection` (a reset, a keepalive timeout); messages in flight on a broken
  /// connection are lost.
  public static func connections(
    detection: DurationDistribution = .uniform(.milliseconds(1) ... .seconds(2))
  ) -> NetworkMode {
    NetworkMode(kind: .connections(detection: detection))
  }
}

/// A simulated network between nodes `0 ..< nodeCount` of a ``Simulator``: per-link latency
/// from a distribution, loss, duplication, reordering, symmetric and one-way partitions,
/// crashed and paused nodes, and (in ``NetworkMode/connections(detection:)`` mode) connection
/// loss reported to both ends.
///
/// Every send, delivery, drop and connection loss is an event in the simulator's trace.
public final class SimulatedNetwork<Message> {
  /// The simulator whose queue carries the messages.
  public unowned let simulator: Simulator
  /// How many nodes the network connects.
  public let nodeCount: Int
  /// Conditions on every link without its own.
  public var conditions: NetworkConditions
  /// How messages are carried.
  public let mode: NetworkMode
  /// Called when `message` from `from` arrives at `to`.
  public var onDeliver: (_ from: Int, _ to: Int, _ message: Message) -> Void = { _, _, _ in }
  /// Called when `node` learns that its connection number `connection` to `peer` is gone
  /// (connections mode; `connection` is what ``connect(_:_:)`` returned, or -1 when a connect
  /// attempt failed).
  public var onConnectionLost: (_ node: Int, _ peer: Int, _ connection: Int) -> Void = {
    _, _, _ in
  }
  /// A number identifying a message in the trace (e.g. its kind and task index).
  public var traceTag: (Message) -> UInt64 = { _ in 0 }

  private var random: SimulationRandom
  private var linkConditions: [Int: NetworkConditions] = [:]
  private var blocked: [Bool]
  private var blockedCount = 0
  private var lastDelivery: [Int64]
  private var epoch: [Int]
  private var connected: [Bool]
  private var down: [Bool]
  private var paused: [Bool]
  private var incarnations: [Int]
  private var held: [[() -> Void]]

  /// A network of `nodeCount` nodes on `simulator`'s queue.
  public init(
    simulator: Simulator, nodeCount: Int, conditions: NetworkConditions = .lan,
    mode: NetworkMode = .datagrams, name: String = "net"
  ) {
    self.simulator = simulator
    self.nodeCount = nodeCount
    self.conditions = conditions
    self.mode = mode
    random = simulator.randomStream(name)
    let links = nodeCount * nodeCount
    blocked = Array(repeating: false, count: links)
    lastDelivery = Array(repeating: 0, count: links)
    epoch = Array(repeating: 0, count: links)
    connected = Array(repeating: false, count: links)
    down = Array(repeating: false, count: nodeCount)
    paused = Array(repeating: false, count: nodeCount)
    incarnations = Array(repeating: 0, count: nodeCount)
    held = Array(repeating: [], count: nodeCount)
  }

  @inline(__always) private func link(_ from: Int, _ to: Int) -> Int { from * nodeCount + to }
  @inline(__always) private func pair(_ a: Int, _ b: Int) -> Int {
    a < b ? link(a, b) : link(b, a)
  }

  private var usesConnections: Bool {
    if case .connections = mode.kind { return true }
    return false
  }

  // MARK: Links

  /// Sets the conditions of the link `from → to` (nil: back to ``conditions``).
  public func setConditions(_ conditions: NetworkConditions?, from: Int, to: Int) {
    linkConditions[link(from, to)] = conditions
  }

  /// Cuts every link between `side` and `other`, both ways.
  public func partition(_ side: [Int], from other: [Int]) {
    for a in side {
      for b in other where a != b {
        block(from: a, to: b)
        block(from: b, to: a)
      }
    }
  }

  /// Cuts the link `from → to` only (a one-way partition); `to → from` still carries.
  public func block(from: Int, to: Int) {
    guard !blocked[link(from, to)] else { return }
    blocked[link(from, to)] = true
    blockedCount += 1
    simulator.record(NetworkTrace.partition, node: from, peer: to, value: 1)
    if connected[pair(from, to)] { breakConnection(from, to) }
  }

  /// Whether `from → to` is cut.
  public func isBlocked(from: Int, to: Int) -> Bool { blocked[link(from, to)] }

  /// Restores every cut link.
  public func heal() {
    guard blockedCount > 0 else { return }
    for index in blocked.indices { blocked[index] = false }
    blockedCount = 0
    simulator.record(NetworkTrace.partition, value: 0)
  }

  // MARK: Nodes

  /// Whether `node` is crashed.
  public func isDown(_ node: Int) -> Bool { down[node] }
  /// Whether `node` is paused.
  public func isPaused(_ node: Int) -> Bool { paused[node] }

  /// Crashes `node`: it sends and receives nothing until ``restart(_:)``; its connections
  /// break and its peers are told; messages held for it are lost.
  public func crash(_ node: Int) {
    guard !down[node] else { return }
    down[node] = true
    incarnations[node] += 1
    paused[node] = false
    held[node] = []
    simulator.record(NetworkTrace.node, node: node, value: 0)
    for peer in 0..<nodeCount where peer != node && connected[pair(node, peer)] {
      breakConnection(node, peer)
    }
  }

  /// Brings a crashed `node` back, with no connections.
  public func restart(_ node: Int) {
    guard down[node] else { return }
    down[node] = false
    simulator.record(NetworkTrace.node, node: node, value: 1)
  }

  /// Pauses `node` (a stopped process, a GC pause): messages for it wait until ``resume(_:)``;
  /// its connections stay open.
  public func pause(_ node: Int) {
    guard !down[node], !paused[node] else { return }
    paused[node] = true
    simulator.record(NetworkTrace.node, node: node, value: 2)
  }

  /// Resumes a paused `node`: the messages that waited arrive, in order.
  public func resume(_ node: Int) {
    guard paused[node] else { return }
    paused[node] = false
    simulator.record(NetworkTrace.node, node: node, value: 3)
    let waiting = held[node]
    held[node] = []
    for delivery in waiting { delivery() }
  }

  // MARK: Connections

  /// Whether `a` and `b` are connected (connections mode).
  public func isConnected(_ a: Int, _ b: Int) -> Bool { connected[pair(a, b)] }

  /// The number of the open connection between `a` and `b`, if there is one.
  public func connection(_ a: Int, _ b: Int) -> Int? {
    connected[pair(a, b)] ? epoch[pair(a, b)] : nil
  }

  /// Opens a connection between `a` and `b` and returns its number (a new one each time);
  /// returns nil, and tells `a` after the detection delay that it failed, when either is down
  /// or a link between them is cut. An open connection is returned as it is.
  @discardableResult
  public func connect(_ a: Int, _ b: Int) -> Int? {
    let key = pair(a, b)
    if connected[key] { return epoch[key] }
    guard !down[a], !down[b], !blocked[link(a, b)], !blocked[link(b, a)] else {
      simulator.record(NetworkTrace.connect, node: a, peer: b, value: 0)
      notifyLost(a, peer: b, connection: -1)
      return nil
    }
    connected[key] = true
    epoch[key] += 1
    simulator.record(NetworkTrace.connect, node: a, peer: b, value: UInt64(epoch[key]))
    return epoch[key]
  }

  /// Closes the connection between `a` and `b`; both ends are told (as a reset would).
  public func disconnect(_ a: Int, _ b: Int) {
    if connected[pair(a, b)] { breakConnection(a, b) }
  }

  private func breakConnection(_ a: Int, _ b: Int) {
    let key = pair(a, b)
    let lost = epoch[key]
    connected[key] = false
    simulator.record(NetworkTrace.disconnect, node: a, peer: b, value: UInt64(lost))
    notifyLost(a, peer: b, connection: lost)
    notifyLost(b, peer: a, connection: lost)
  }

  private func notifyLost(_ node: Int, peer: Int, connection: Int) {
    guard !down[node], case .connections(let detection) = mode.kind else { return }
    let delay = detection.sampleNanoseconds(&random)
    let incarnation = incarnations[node]
    simulator.schedule(
      afterNanoseconds: delay, NetworkTrace.connectionLost, node: node, peer: peer,
      value: UInt64(bitPattern: Int64(connection))
    ) { [self] in
      // A node that crashed meanwhile (even if restarted since) hears nothing.
      guard !down[node], incarnations[node] == incarnation else { return }
      onConnectionLost(node, peer, connection)
    }
  }

  // MARK: Messages

  /// Sends `message` from `from` to `to`, subject to the link's conditions.
  public func send(_ message: Message, from: Int, to: Int) {
    let simulator = self.simulator  // one strong reference for the whole send
    let tag = traceTag(message)
    simulator.record(NetworkTrace.send, node: from, peer: to, value: tag)
    guard !down[from] else { return }
    let key = link(from, to)
    var currentEpoch = 0
    if usesConnections {
      let pairKey = pair(from, to)
      guard connected[pairKey] else {
        simulator.record(NetworkTrace.drop, node: from, peer: to, value: tag)
        return
      }
      currentEpoch = epoch[pairKey]
    }
    let conditions = linkConditions.isEmpty ? conditions : linkConditions[key] ?? conditions
    if blocked[key] || down[to] || random.chance(conditions.dropRate) {
      simulator.record(NetworkTrace.drop, node: from, peer: to, value: tag)
      if usesConnections { breakConnection(from, to) }
      return
    }
    // A connection (TCP) never duplicates nor reorders: those faults apply to datagrams only.
    let copies = !usesConnections && random.chance(conditions.duplicateRate) ? 2 : 1
    if copies == 2 { simulator.record(NetworkTrace.duplicate, node: from, peer: to, value: tag) }
    for _ in 0..<copies {
      var time = simulator.nowNanoseconds + conditions.latency.sampleNanoseconds(&random)
      if usesConnections || !conditions.reorder {
        time = max(time, lastDelivery[key] + 1)
        lastDelivery[key] = time
      }
      simulator.schedule(
        afterNanoseconds: time - simulator.nowNanoseconds, NetworkTrace.deliver, node: to,
        peer: from,
        value: tag
      ) { [self] in
        arrive(message, from: from, to: to, epoch: currentEpoch)
      }
    }
  }

  private func arrive(_ message: Message, from: Int, to: Int, epoch sentEpoch: Int) {
    guard !down[to] else { return }
    if usesConnections, epoch[pair(from, to)] != sentEpoch || !connected[pair(from, to)] {
      return  // the connection it travelled on is gone
    }
    if paused[to] {
      held[to].append { [self] in arrive(message, from: from, to: to, epoch: sentEpoch) }
      return
    }
    onDeliver(from, to, message)
  }
}

/// Trace kinds of ``SimulatedNetwork``.
public enum NetworkTrace {
  /// A message was sent (node: sender, peer: receiver).
  public static let send = TraceKind("net.send")
  /// A message arrived (node: receiver, peer: sender).
  public static let deliver = TraceKind("net.deliver")
  /// A message was lost.
  public static let drop = TraceKind("net.drop")
  /// A message was duplicated.
  public static let duplicate = TraceKind("net.duplicate")
  /// A connection broke (node, peer).
  public static let disconnect = TraceKind("net.disconnect")
  /// A node was told that its connection broke (node, peer).
  public static let connectionLost = TraceKind("net.connection-lost")
  /// A connection was opened.
  public static let connect = TraceKind("net.connect")
  /// A partition or block was applied, or healed.
  public static let partition = TraceKind("net.partition")
  /// A node crashed, restarted, paused or resumed (value 0, 1, 2, 3).
  public static let node = TraceKind("net.node")
}

import Foundation

/// A kind of fault the simulator can inject; a struct with static members so that it can grow.
public struct FaultKind: Hashable, Sendable, Comparable, CustomStringConvertible {
  /// A short stable name, as `--faults` takes it.
  public let name: String
  private init(_ name: String) { self.name = name }

  /// Messages are lost (with connections: the connection breaks).
  public static let drop = FaultKind("drop")
  /// Messages are delivered twice.
  public static let duplicate = FaultKind("duplicate")
  /// Messages on one link overtake each other.
  public static let reorder = FaultKind("reorder")
  /// Latency spikes: a link becomes slow for a while.
  public static let delay = FaultKind("delay")
  /// Two groups of nodes cannot reach each other, both ways.
  public static let partition = FaultKind("partition")
  /// One node cannot send to another, while the other way works.
  public static let oneWayPartition = FaultKind("one-way-partition")
  /// A node crashes, losing its memory, and restarts later.
  public static let crash = FaultKind("crash")
  /// A node stops (a stopped process, a long GC pause) and continues later.
  public static let pause = FaultKind("pause")
  /// A node runs its work slower for a while.
  public static let slow = FaultKind("slow")

  /// Every kind, in a stable order.
  public static let all: [FaultKind] = [
    .drop, .duplicate, .reorder, .delay, .partition, .oneWayPartition, .crash, .pause, .slow,
  ]

  /// The name.
  public var description: String { name }
  /// Orders by name.
  public static func < (a: FaultKind, b: FaultKind) -> Bool { a.name < b.name }
}

/// A set of fault kinds: `none`, `all`, or a list such as `crash,partition,drop`.
public struct FaultSet: Hashable, Sendable, CustomStringConvertible {
  /// The kinds in the set.
  public var kinds: Set<FaultKind>

  /// A set of `kinds`.
  public init(_ kinds: some Sequence<FaultKind>) { self.kinds = Set(kinds) }

  /// No faults.
  public static let none = FaultSet([])
  /// Every fault kind.
  public static let all = FaultSet(FaultKind.all)

  /// Whether `kind` is in the set.
  public func contains(_ kind: FaultKind) -> Bool { kinds.contains(kind) }

  /// Parses `none`, `all` or a comma-separated list of kind names.
  public init(parsing text: String) throws(SimulationError) {
    switch text {
    case "none", "": self = .none
    case "all": self = .all
    default:
      var kinds: [FaultKind] = []
      for name in text.split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) {
        guard let kind = FaultKind.all.first(where: { $0.name == name }) else {
          throw SimulationError(
            .badArgument,
            "unknown fault '\(name)': use none, all, or a comma-separated list of "
              + FaultKind.all.map(\.name).joined(separator: ", "))
        }
        kinds.append(kind)
      }
      self.init(kinds)
    }
  }

  /// `none`, `all`, or the names in order, comma-separated.
  public var description: String {
    if kinds.isEmpty { return "none" }
    if kinds.count == FaultKind.all.count { return "all" }
    return FaultKind.all.filter(kinds.contains).map(\.name).joined(separator: ",")
  }
}

/// When and how faults are injected: at random times during ``window``, then all healed so
/// that liveness can be checked.
public struct FaultSchedule: Sendable {
  /// The kinds to inject.
  public var faults: FaultSet
  /// Faults happen in `0 ..< window` of simulated time; afterwards everything is healed.
  public var window: Duration
  /// Mean simulated time between two injected faults.
  public var meanGap: Duration
  /// How long a partition, pause, slowdown or crash lasts.
  public var length: DurationDistribution
  /// Message loss during the window, when ``FaultKind/drop`` is on.
  public var dropRate: Double
  /// Message duplication during the window, when ``FaultKind/duplicate`` is on.
  public var duplicateRate: Double
  /// How much slower a slowed node works.
  public var slowFactor: Double

  /// A schedule; by default a fault every 2 s on average during the first 60 s.
  public init(
    faults: FaultSet, window: Duration = .seconds(60), meanGap: Duration = .seconds(2),
    length: DurationDistribution = .uniform(.milliseconds(100) ... .seconds(5)),
    dropRate: Double = 0.01, duplicateRate: Double = 0.01, slowFactor: Double = 10
  ) {
    self.faults = faults
    self.window = window
    self.meanGap = meanGap
    self.length = length
    self.dropRate = dropRate
    self.duplicateRate = duplicateRate
    self.slowFactor = slowFactor
  }
}

/// What faults act on: the nodes that may crash, pause or slow down, and how.
public struct FaultTargets {
  /// Nodes that may crash, pause or slow down (e.g. the workers).
  public var nodes: [Int]
  /// Nodes that partitions may separate (e.g. every node).
  public var networkNodes: [Int]
  /// Crashes a node (lose its memory); the injector restarts it later.
  public var crash: (Int) -> Void
  /// Restarts a crashed node.
  public var restart: (Int) -> Void
  /// Pauses a node.
  public var pause: (Int) -> Void
  /// Resumes a paused node.
  public var resume: (Int) -> Void
  /// Sets a node's slowdown factor (1: normal speed).
  public var slow: (Int, Double) -> Void

  /// Targets with the given actions (each defaults to doing nothing).
  public init(
    nodes: [Int], networkNodes: [Int], crash: @escaping (Int) -> Void = { _ in },
    restart: @escaping (Int) -> Void = { _ in }, pause: @escaping (Int) -> Void = { _ in },
    resume: @escaping (Int) -> Void = { _ in }, slow: @escaping (Int, Double) -> Void = { _, _ in }
  ) {
    self.nodes = nodes
    self.networkNodes = networkNodes
    self.crash = crash
    self.restart = restart
    self.pause = pause
    self.resume = resume
    self.slow = slow
  }
}

/// Injects the faults of a ``FaultSchedule`` into a simulation, from its own random stream,
/// and heals everything when the window ends.
public final class FaultInjector<Message> {
  private unowned let simulator: Simulator
  private let network: SimulatedNetwork<Message>?
  private let schedule: FaultSchedule
  private let targets: FaultTargets
  private var random: SimulationRandom
  private let baseConditions: NetworkConditions?
  private var crashed: Set<Int> = []
  private var paused: Set<Int> = []
  private var slowed: Set<Int> = []
  private var delayedLinks: Set<[Int]> = []
  /// How many faults were injected, by kind.
  public private(set) var injected: [FaultKind: Int] = [:]
  /// True once the window has ended and everything was healed.
  public private(set) var healed = false

  /// An injector for `schedule` on `targets`, over `network` when there is one.
  public init(
    simulator: Simulator, network: SimulatedNetwork<Message>?, schedule: FaultSchedule,
    targets: FaultTargets
  ) {
    self.simulator = simulator
    self.network = network
    self.schedule = schedule
    self.targets = targets
    random = simulator.randomStream("faults")
    baseConditions = network?.conditions
  }

  /// Starts injecting: sets the window's network conditions and schedules the first fault
  /// and the final healing.
  public func start() {
    if let network, var conditions = baseConditions {
      if schedule.faults.contains(.drop) { conditions.dropRate = schedule.dropRate }
      if schedule.faults.contains(.duplicate) { conditions.duplicateRate = schedule.duplicateRate }
      if schedule.faults.contains(.reorder) { conditions.reorder = true }
      network.conditions = conditions
    }
    simulator.schedule(after: schedule.window, TraceKind.healAll) { [self] in healAll() }
    scheduleNext()
  }

  private var activeKinds: [FaultKind] {
    FaultKind.all.filter {
      schedule.faults.contains($0) && $0 != .drop && $0 != .duplicate && $0 != .reorder
    }
  }

  private func scheduleNext() {
    guard !activeKinds.isEmpty else { return }
    let gap = DurationDistribution.exponential(mean: schedule.meanGap).sampleNanoseconds(&random)
    guard simulator.nowNanoseconds + gap < schedule.window.simulationNanoseconds else { return }
    simulator.schedule(afterNanoseconds: gap, .timer) { [self] in
      guard !healed else { return }
      injectOne()
      scheduleNext()
    }
  }

  private func injectOne() {
    guard let kind = random.element(of: activeKinds) else { return }
    let length = schedule.length.sampleNanoseconds(&random)
    let kindIndex = UInt64(FaultKind.all.firstIndex(of: kind) ?? 0)
    func after(_ action: @escaping () -> Void) {
      simulator.schedule(afterNanoseconds: length, .timer) { [self] in
        if !healed { action() }
      }
    }
    switch kind {
    case .crash, .pause, .slow:
      let candidates = targets.nodes.filter {
        !crashed.contains($0) && !paused.contains($0) && !slowed.contains($0)
      }
      guard let node = random.element(of: candidates) else { return }
      simulator.record(TraceKind.fault, node: node, value: kindIndex)
      if kind == .crash {
        crashed.insert(node)
        targets.crash(node)
        after { [self] in
          crashed.remove(node)
          targets.restart(node)
        }
      } else if kind == .pause {
        paused.insert(node)
        targets.pause(node)
        after { [self] in
          paused.remove(node)
          targets.resume(node)
        }
      } else {
        slowed.insert(node)
        targets.slow(node, schedule.slowFactor)
        after { [self] in
          slowed.remove(node)
          targets.slow(node, 1)
        }
      }
    case .partition:
      guard let network, targets.networkNodes.count >= 2 else { return }
      let shuffled = targets.networkNodes.shuffled(using: &random)
      let cut = 1 + random.int(below: shuffled.count - 1)
      simulator.record(TraceKind.fault, node: shuffled[0], value: kindIndex)
      network.partition(Array(shuffled[..<cut]), from: Array(shuffled[cut...]))
      after { network.heal() }
    case .oneWayPartition:
      guard let network, targets.networkNodes.count >= 2 else { return }
      let shuffled = targets.networkNodes.shuffled(using: &random)
      simulator.record(TraceKind.fault, node: shuffled[0], peer: shuffled[1], value: kindIndex)
      network.block(from: shuffled[0], to: shuffled[1])
      after { network.heal() }
    case .delay:
      guard let network, targets.networkNodes.count >= 2 else { return }
      let shuffled = targets.networkNodes.shuffled(using: &random)
      let (from, to) = (shuffled[0], shuffled[1])
      var slow = network.conditions
      slow.latency = .exponential(mean: .milliseconds(500), floor: .milliseconds(50))
      simulator.record(TraceKind.fault, node: from, peer: to, value: kindIndex)
      network.setConditions(slow, from: from, to: to)
      delayedLinks.insert([from, to])
      after { [self] in
        delayedLinks.remove([from, to])
        network.setConditions(nil, from: from, to: to)
      }
    default:
      return
    }
    injected[kind, default: 0] += 1
  }

  /// Ends the window: the network is reliable again, partitions heal, crashed nodes restart,
  /// paused nodes resume and slowed nodes run at full speed.
  public func healAll() {
    guard !healed else { return }
    healed = true
    if let network, let baseConditions {
      network.conditions = baseConditions
      network.heal()
      for link in delayedLinks { network.setConditions(nil, from: link[0], to: link[1]) }
    }
    delayedLinks = []
    for node in crashed.sorted() { targets.restart(node) }
    for node in paused.sorted() { targets.resume(node) }
    for node in slowed.sorted() { targets.slow(node, 1) }
    crashed = []
    paused = []
    slowed = []
  }
}

extension SimulationRandom: RandomNumberGenerator {}

extension TraceKind {
  /// A fault was injected (value: the index of its kind in ``FaultKind/all``).
  public static let fault = TraceKind("fault")
  /// The fault window ended: everything was healed.
  public static let healAll = TraceKind("fault.heal-all")
}

/// An error of the simulation kit: a bad argument, a violated invariant, a failing seed.
public struct SimulationError: Error, Sendable, CustomStringConvertible {
  /// What went wrong; a struct with static members so that it can grow.
  public struct Code: Hashable, Sendable, CustomStringConvertible {
    /// A short stable name.
    public let name: String
    private init(_ name: String) { self.name = name }
    /// An argument was out of range or malformed.
    public static let badArgument = Code("badArgument")
    /// An invariant did not hold after a simulation.
    public static let invariantViolated = Code("invariantViolated")
    /// A seed failed a test body (see the message for the command that reruns it).
    public static let seedFailed = Code("seedFailed")
    /// The same seed gave two different traces.
    public static let nondeterministic = Code("nondeterministic")
    /// The name.
    public var description: String { name }
  }

  /// What went wrong.
  public let code: Code
  /// What happened and what to do.
  public let message: String
  /// The error that caused this one, if any.
  public let cause: (any Error)?

  /// Creates an error.
  public init(_ code: Code, _ message: String, cause: (any Error)? = nil) {
    self.code = code
    self.message = message
    self.cause = cause
  }

  /// The message (and the cause's, when there is one).
  public var description: String {
    guard let cause else { return message }
    return "\(message)\ncaused by: \(cause)"
  }
}

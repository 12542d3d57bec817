import FlowCore
import FlowTestKit
import Foundation
import HeapModule
import Synchronization

/// A discrete-event simulator: one seed decides every event's order, every random choice and
/// every interleaving of the async code it runs (FoundationDB's simulator, TigerBeetle's VOPR).
///
/// Events wait in a queue ordered by virtual time and then by a tie-break drawn from the seed;
/// time jumps to the next event when nothing is runnable, so a simulated month takes
/// milliseconds. Every event is recorded in ``trace``: two runs with one seed give one
/// ``SimulationTrace/hash``.
/// ```swift
/// let sim = Simulator(seed: 42)
/// var network = SimulatedNetwork<Ping>(simulator: sim, conditions: .lan)
/// sim.schedule(after: .seconds(1)) { network.send(Ping(), from: a, to: b) }
/// await sim.run(until: .seconds(60))
/// print(sim.trace.hashHex)
/// ```
/// A simulator is confined to the task that runs it: it is not `Sendable`.
public final class Simulator {
  /// The seed everything is derived from.
  public let seed: UInt64
  /// The virtual clock: hand it to code under test; it reads ``now`` and its sleeps are events.
  public let clock: SimulationClock
  /// The serial executor on which spawned async bodies run.
  public let executor = SimulationExecutor()
  /// Every event so far: a stable hash and the most recent entries.
  public var trace: SimulationTrace { core.trace }
  /// How many events have fired.
  public var eventsProcessed: Int { core.eventsProcessed }
  /// Simulated nanoseconds since the start.
  public var nowNanoseconds: Int64 { core.now }

  /// What the queue orders: plain values, so that moving them in the heap costs no reference
  /// counting; the action and the trace fields wait in `slots`.
  private struct Key: Comparable {
    let time: Int64
    let tie: UInt64
    let id: UInt64
    let slot: Int
    static func == (a: Key, b: Key) -> Bool { a.id == b.id }
    static func < (a: Key, b: Key) -> Bool {
      a.time != b.time ? a.time < b.time : a.tie != b.tie ? a.tie < b.tie : a.id < b.id
    }
  }

  private struct Slot {
    var id: UInt64 = 0
    var kind: UInt64 = 0
    var node: Int32 = -1
    var peer: Int32 = -1
    var value: UInt64 = 0
    var action: (() -> Void)?
  }

  /// The state every event touches, in one struct so that an event costs one or two
  /// exclusive accesses of the class's storage rather than ten.
  private struct Core {
    var queue = Heap<Key>()
    var slots: [Slot] = []
    var freeSlots: [Int] = []
    var nextEventID: UInt64 = 0
    var order: SimulationRandom
    var trace: SimulationTrace
    var eventsProcessed = 0
    var now: Int64 = 0

    mutating func insert(
      delay: Int64, kind: UInt64, node: Int32, peer: Int32, value: UInt64,
      action: @escaping () -> Void
    ) -> SimulationEventID {
      let (time, overflow) = now.addingReportingOverflow(max(0, delay))
      nextEventID += 1
      let slot: Int
      if let free = freeSlots.popLast() {
        slot = free
      } else {
        slot = slots.count
        slots.append(Slot())
      }
      slots[slot] = Slot(
        id: nextEventID, kind: kind, node: node, peer: peer, value: value, action: action)
      queue.insert(
        Key(time: overflow ? .max : time, tie: order.next(), id: nextEventID, slot: slot))
      return SimulationEventID(rawValue: nextEventID, slot: slot)
    }

    mutating func cancel(_ event: SimulationEventID) {
      guard event.slot < slots.count, slots[event.slot].id == event.rawValue else { return }
      slots[event.slot].action = nil
    }

    /// Takes the next live event due by `limit`, moves time to it and records it; with none
    /// due, moves time to `limit` and returns nil.
    mutating func next(limit: Int64) -> (() -> Void)? {
      while let first = queue.min {
        if first.time > limit {
          now = max(now, limit)
          return nil
        }
        queue.removeMin()
        let slot = slots[first.slot]
        slots[first.slot].action = nil
        slots[first.slot].id = 0
        freeSlots.append(first.slot)
        guard let action = slot.action else { continue }  // cancelled
        now = max(now, first.time)
        eventsProcessed += 1
        trace.record(
          time: first.time, kindCode: slot.kind, node: slot.node, peer: slot.peer,
          value: slot.value)
        return action
      }
      return nil
    }
  }

  private var core: Core
  private var interleaving: SimulationRandom
  private var stopRequested = false
  private var asyncRunning = false

  private struct PendingSpawn {
    let id: Int
    let start: @Sendable (SpawnMailbox, CancelSignal) async -> Void
    let signal: CancelSignal
  }
  private var pendingSpawns: [PendingSpawn] = []
  private var liveSpawns:
    [Int: (signal: CancelSignal, finish: (Result<any Sendable, any Error>) -> Void)] =
      [:]
  private var nextSpawnID = 0
  private let mailbox = SpawnMailbox()
  /// Called while the simulation settles, each returning true when it did something (the
  /// simulated engine's bridge takes the engine's requests this way).
  private var pollers: [() -> Bool] = []

  /// A simulator for `seed`, starting at `startDate`, keeping the last `traceRetention` trace
  /// entries for failure reports.
  public init(
    seed: UInt64, startDate: Date = Date(timeIntervalSince1970: 1_767_225_600),
    traceRetention: Int = 256
  ) {
    self.seed = seed
    clock = SimulationClock(startDate: startDate)
    let root = SimulationRandom(seed: seed)
    core = Core(order: root.derive("sim.order"), trace: SimulationTrace(retention: traceRetention))
    interleaving = root.derive("sim.interleaving")
  }

  // MARK: Time and randomness

  /// Simulated time since the start.
  public var now: Duration { .nanoseconds(nowNanoseconds) }
  /// The current simulated instant as a date.
  public var date: Date { clock.startDate.addingTimeInterval(Double(nowNanoseconds) / 1e9) }
  /// How many events wait in the queue (cancelled ones included until they come up).
  public var pendingEvents: Int { core.queue.count }

  /// The random stream of the subsystem `name`, derived from the seed (the same name always
  /// gives the same stream).
  public func randomStream(_ name: String) -> SimulationRandom {
    SimulationRandom(seed: SimulationRandom.derivedSeed(seed, name))
  }

  /// A ``RandomSource`` for the subsystem `name`, e.g. for a task's context or retry jitter.
  public func randomSource(_ name: String) -> SeededRandomSource {
    SeededRandomSource(seed: SimulationRandom.derivedSeed(seed, name))
  }

  /// A deterministic ID generator for the subsystem `name`.
  public func idGenerator(_ name: String) -> SeededIDGenerator {
    SeededIDGenerator(seed: SimulationRandom.derivedSeed(seed, name))
  }

  /// A ``RunEnvironment`` on the simulation's clock, with sources derived from the seed.
  public func environment(_ name: String = "run") -> RunEnvironment {
    RunEnvironment(
      clock: clock, random: randomSource(name + ".random"), ids: idGenerator(name + ".ids"))
  }

  // MARK: Events

  /// Schedules `action` to run `delay` from now, recorded in the trace as `kind` on `node`
  /// with `value`; returns an ID that ``cancel(_:)`` takes.
  @discardableResult
  public func schedule(
    after delay: Duration, _ kind: TraceKind = .timer, node: Int = -1, peer: Int = -1,
    value: UInt64 = 0, _ action: @escaping () -> Void
  ) -> SimulationEventID {
    schedule(
      afterNanoseconds: delay.simulationNanoseconds, kind, node: node, peer: peer, value: value,
      action)
  }

  /// Schedules `action` `delay` nanoseconds from now (the fast path of
  /// ``schedule(after:_:node:peer:value:_:)``).
  @discardableResult
  public func schedule(
    afterNanoseconds delay: Int64, _ kind: TraceKind = .timer, node: Int = -1, peer: Int = -1,
    value: UInt64 = 0, _ action: @escaping () -> Void
  ) -> SimulationEventID {
    core.insert(
      delay: delay, kind: kind.code, node: Int32(truncatingIfNeeded: node),
      peer: Int32(truncatingIfNeeded: peer), value: value, action: action)
  }

  /// Cancels a scheduled event; nothing happens if it already fired.
  public func cancel(_ event: SimulationEventID) { core.cancel(event) }

  /// Records an event in the trace (the network and the cluster record theirs here).
  @inline(__always)
  public func record(_ kind: TraceKind, node: Int = -1, peer: Int = -1, value: UInt64 = 0) {
    core.trace.record(
      time: core.now, kind: kind, node: Int32(truncatingIfNeeded: node),
      peer: Int32(truncatingIfNeeded: peer), value: value)
  }

  /// Adds `poll` to what the simulation calls while it settles (after the async bodies ran,
  /// before time moves); it returns true when it did something.
  func addPoller(_ poll: @escaping () -> Bool) { pollers.append(poll) }

  /// Asks a running ``run(until:maxEvents:)`` to return after the current event.
  public func stop() { stopRequested = true }

  /// Fires the next event; returns false when the queue is empty or the next event is after
  /// `limit` (then time moves to `limit`).
  private func fireNext(limit: Int64) -> Bool {
    guard let action = core.next(limit: limit) else {
      clock.set(elapsed: core.now)
      return false
    }
    clock.set(elapsed: core.now)
    action()
    return true
  }

  // MARK: Running

  /// Runs events until none is left, simulated time would pass `limit`, `maxEvents` events
  /// have fired, or ``stop()`` is called; for simulations without async bodies (state
  /// machines driven by events). Use ``run(until:maxEvents:)`` when bodies are spawned.
  @discardableResult
  public func runSynchronously(until limit: Duration? = nil, maxEvents: Int = .max)
    -> SimulationStop
  {
    precondition(
      pendingSpawns.isEmpty && liveSpawns.isEmpty,
      "spawned async bodies need `await simulator.run(...)`, not runSynchronously")
    let limitNanoseconds = limit?.simulationNanoseconds ?? .max
    stopRequested = false
    let budget = eventsProcessed.addingReportingOverflow(maxEvents)
    let lastEvent = budget.overflow ? Int.max : budget.partialValue
    while true {
      if stopRequested { return .stopped }
      if eventsProcessed >= lastEvent { return .eventLimit }
      precondition(
        pendingSpawns.isEmpty, "spawned async bodies need `await simulator.run(...)`")
      if !fireNext(limit: limitNanoseconds) {
        return core.queue.isEmpty ? .idle : .timeLimit
      }
    }
  }

  /// Runs events and spawned async bodies until nothing is left to do, simulated time would
  /// pass `limit`, `maxEvents` events have fired, or ``stop()`` is called. Spawned bodies run
  /// on ``executor``, one job at a time, in an order drawn from the seed; time advances only
  /// when none is runnable. Bodies still running when it returns are cancelled and awaited.
  @discardableResult
  public func run(until limit: Duration? = nil, maxEvents: Int = .max) async -> SimulationStop {
    let limitNanoseconds = limit?.simulationNanoseconds ?? .max
    stopRequested = false
    asyncRunning = true
    defer { asyncRunning = false }
    let budget = eventsProcessed.addingReportingOverflow(maxEvents)
    let lastEvent = budget.overflow ? Int.max : budget.partialValue
    return await withTaskGroup(of: Void.self) { group in
      var reason = SimulationStop.idle
      while true {
        settle(&group)
        if stopRequested {
          reason = .stopped
          break
        }
        if eventsProcessed >= lastEvent {
          reason = .eventLimit
          break
        }
        if !fireNext(limit: limitNanoseconds) {
          reason = core.queue.isEmpty ? .idle : .timeLimit
          break
        }
      }
      await shutDownSpawns(&group)
      return reason
    }
  }

  // MARK: Async bodies

  /// Starts `body` as an async task on the simulation's executor (inside
  /// ``run(until:maxEvents:)`` only); `completion` runs as part of the simulation when it
  /// returns or throws. ``cancelSpawn(_:)`` cancels it (a crashed worker's task).
  @discardableResult
  public func spawn<T: Sendable>(
    node: Int = -1, value: UInt64 = 0, _ body: @escaping @Sendable () async throws -> T,
    completion: @escaping (Result<T, any Error>) -> Void
  ) -> SimulationSpawnID {
    precondition(asyncRunning, "spawn needs `await simulator.run(...)`, not runSynchronously")
    nextSpawnID += 1
    let id = nextSpawnID
    let signal = CancelSignal()
    record(.spawn, node: node, value: value)
    pendingSpawns.append(
      PendingSpawn(
        id: id,
        start: { mailbox, signal in
          let result: Result<any Sendable, any Error> = await Self.race(body, signal)
          mailbox.post(id, result)
        }, signal: signal))
    liveSpawns[id] = (
      signal,
      { [unowned self] result in
        self.record(.spawnFinished, node: node, value: value)
        completion(result.map { $0 as! T })
      }
    )
    return SimulationSpawnID(rawValue: id)
  }

  /// Cancels a spawned body: its sleeps on ``clock`` throw `CancellationError`, and its
  /// completion still runs with the outcome.
  public func cancelSpawn(_ spawn: SimulationSpawnID) {
    liveSpawns[spawn.rawValue]?.signal.fire()
  }

  /// How many spawned bodies have not finished.
  public var runningSpawns: Int { liveSpawns.count }

  /// Runs `body`, cancelling it when `signal` fires.
  private static func race(
    _ body: @escaping @Sendable () async throws -> some Sendable, _ signal: CancelSignal
  ) async -> Result<any Sendable, any Error> {
    await withTaskGroup(of: Result<any Sendable, any Error>?.self) { group in
      group.addTask {
        do { return .success(try await body()) } catch { return .failure(error) }
      }
      group.addTask {
        await signal.wait()
        return nil
      }
      var outcome: Result<any Sendable, any Error> = .failure(CancellationError())
      while let next = await group.next() {
        guard let finished = next else {
          group.cancelAll()
          continue
        }
        outcome = finished
        break
      }
      group.cancelAll()
      signal.fire()
      return outcome
    }
  }

  /// Starts pending spawns, runs every runnable job, delivers completions and schedules new
  /// sleeps, until nothing changes.
  private func settle(_ group: inout TaskGroup<Void>) {
    while true {
      var progressed = false
      if !pendingSpawns.isEmpty {
        let starting = pendingSpawns
        pendingSpawns.removeAll()
        for spawn in starting {
          let (mailbox, start, signal) = (mailbox, spawn.start, spawn.signal)
          mailbox.childStarted()
          group.addTask(executorPreference: executor) {
            defer { mailbox.childEnded() }
            await start(mailbox, signal)
          }
        }
        progressed = true
      }
      if executor.drain(&interleaving) > 0 { progressed = true }
      for (id, result) in mailbox.take() {
        progressed = true
        liveSpawns.removeValue(forKey: id)?.finish(result)
      }
      for poll in pollers where poll() { progressed = true }
      for sleep in clock.takeRegistered() {
        let clock = clock
        schedule(afterNanoseconds: sleep.deadline - nowNanoseconds, .wake, value: UInt64(sleep.id))
        {
          clock.wake(sleep.id)
        }
      }
      if !progressed { return }
    }
  }

  /// Cancels the spawned bodies still running and waits for them to end.
  private func shutDownSpawns(_ group: inout TaskGroup<Void>) async {
    for spawn in liveSpawns.values { spawn.signal.fire() }
    var idleRounds = 0
    while !liveSpawns.isEmpty || !pendingSpawns.isEmpty {
      settle(&group)
      if liveSpawns.isEmpty { break }
      // A body waits on something outside the simulation: give other executors a chance.
      idleRounds += 1
      precondition(
        idleRounds < 100_000,
        "a simulated async body never ended: it waits on something outside the simulation "
          + "(real I/O, a sleep on the system clock); use the simulator's clock")
      await Task.yield()
    }
    settle(&group)
    // A child can still have a job to run on the executor after posting its result (its end,
    // resumed from another thread): keep draining until every child has ended, then wait.
    idleRounds = 0
    while mailbox.runningChildren > 0 {
      settle(&group)
      if mailbox.runningChildren == 0 { break }
      idleRounds += 1
      precondition(
        idleRounds < 100_000,
        "a simulated async body never ended: it waits on something outside the simulation "
          + "(real I/O, a sleep on the system clock); use the simulator's clock")
      await Task.yield()
    }
    await group.waitForAll()
  }
}

/// Why ``Simulator/run(until:maxEvents:)`` returned.
public struct SimulationStop: Hashable, Sendable, CustomStringConvertible {
  /// A short stable name.
  public let name: String
  private init(_ name: String) { self.name = name }

  /// No event was left.
  public static let idle = SimulationStop("idle")
  /// The next event was after the time limit.
  public static let timeLimit = SimulationStop("timeLimit")
  /// The event budget was used up.
  public static let eventLimit = SimulationStop("eventLimit")
  /// ``Simulator/stop()`` was called.
  public static let stopped = SimulationStop("stopped")

  /// The name.
  public var description: String { name }
}

/// A scheduled event, for ``Simulator/cancel(_:)``.
public struct SimulationEventID: Hashable, Sendable {
  /// The event's sequence number.
  public let rawValue: UInt64
  let slot: Int
}

/// A spawned async body, for ``Simulator/cancelSpawn(_:)``.
public struct SimulationSpawnID: Hashable, Sendable {
  /// The spawn's sequence number.
  public let rawValue: Int
}

/// Where spawned bodies post their results (they run in child tasks, hence the lock).
final class SpawnMailbox: Sendable {
  private let results = Mutex<[(Int, Result<any Sendable, any Error>)]>([])
  private let children = Atomic<Int>(0)

  /// A child task that runs a spawned body was added to the group.
  func childStarted() { children.add(1, ordering: .sequentiallyConsistent) }

  /// A child task ended (its last statement).
  func childEnded() { children.subtract(1, ordering: .sequentiallyConsistent) }

  /// Child tasks added and not ended yet.
  var runningChildren: Int { children.load(ordering: .sequentiallyConsistent) }

  func post(_ id: Int, _ result: Result<any Sendable, any Error>) {
    results.withLock { $0.append((id, result)) }
  }

  func take() -> [(Int, Result<any Sendable, any Error>)] {
    results.withLock { results in
      guard !results.isEmpty else { return [] }
      defer { results.removeAll() }
      return results
    }
  }
}

/// A one-shot signal that cancels a spawned body.
final class CancelSignal: Sendable {
  private let state = Mutex<(fired: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

  func fire() {
    let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
      guard !state.fired else { return [] }
      state.fired = true
      defer { state.waiters = [] }
      return state.waiters
    }
    for waiter in waiters { waiter.resume() }
  }

  func wait() async {
    await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
      let fired = state.withLock { state in
        if !state.fired { state.waiters.append(continuation) }
        return state.fired
      }
      if fired { continuation.resume() }
    }
  }
}

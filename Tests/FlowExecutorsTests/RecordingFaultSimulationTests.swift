import FlowCore
import FlowExecutors
import FlowTesting
import Foundation
import Synchronization
import Testing

/// The run recorder against a store with seeded faults: slow commits, failed commits and
/// outages (issue 15's simulation). Each seed decides the faults of every write, the flow's
/// width and where a permanent outage begins; a failing seed prints the one command that reruns
/// it (`FLOW_SIM_SEED=N swift test --filter ...`).
///
/// Invariants: no transition of a run is lost or reordered; after recovery the recorded state
/// of every task run and of the flow run equals what the engine decided, and the recorded
/// history replays through the machine; a run whose store stays down past the recorder's
/// timeout ends Crashed naming the store's error, with nothing half-written, and readers report
/// it Crashed once its heartbeat is older than the TTL (it never stays Running); a run whose
/// start cannot be written in that time is refused before any of its tasks runs.
@Suite("Recording simulation: seeded store faults", .timeLimit(.minutes(3)))
struct RecordingFaultSimulationTests {
  /// A mapped task whose every fifth child fails its first attempt (and is retried), then a
  /// task that sums the children's outputs.
  static func flow(size: Int, onTask: @escaping @Sendable (Int) -> Void = { _ in }) -> Flow {
    let items = task("items") { () -> [Int] in Array(0..<size) }
    let flaky = task("flaky", retries: .init(maxRetries: 1, delay: .zero)) {
      (x: Int) throws -> Int in
      onTask(x)
      if x % 5 == 3, TaskRunContext.current?.attempt == 1 {
        throw CocoaError(.featureUnsupported)
      }
      return x * 2
    }
    let total = task("total") { (xs: [Int]) -> Int in xs.reduce(0, +) }
    return Flow("recorder-sim") { _ = total(flaky.map(items())) }
  }

  /// A broken invariant of a seed's run.
  struct Violation: Error, CustomStringConvertible {
    let description: String
  }

  /// What every recorded run must satisfy, whatever the faults: contiguous ordered
  /// transitions and events, each task run's transitions chained and ending in its recorded
  /// state. Returns the recorded task runs.
  static func checkConsistent(_ store: MemoryRunStore, _ runID: UUID, _ context: String)
    async throws -> [TaskRunRecord]
  {
    let transitions = try await store.transitions(flowRunID: runID)
    guard transitions.map(\.sequence) == (0..<transitions.count).map({ Int64($0 + 1) }) else {
      throw Violation(description: "\(context): transitions lost or reordered")
    }
    let events = try await store.events(flowRunID: runID, after: 0)
    guard events.map(\.sequence) == (0..<events.count).map({ Int64($0 + 1) }) else {
      throw Violation(description: "\(context): engine events lost or reordered")
    }
    let recorded = try await store.taskRuns(flowRunID: runID)
    for run in recorded {
      let own = transitions.filter { $0.slug == run.slug && $0.mapIndex == run.mapIndex }
      guard own.last?.to == run.state else {
        throw Violation(
          description: "\(context): \(run.label) recorded \(run.state), its last transition "
            + "went to \(own.last?.to ?? "nothing") (half-written)")
      }
      for (before, after) in zip(own, own.dropFirst()) where before.to != after.from {
        throw Violation(
          description: "\(context): \(run.label) went to \(before.to), then from \(after.from)")
      }
    }
    return recorded
  }

  @Test("slow and failed commits and outages: nothing lost; recorded states equal the engine's")
  func recovers() async throws {
    let injected = Mutex(MemoryRunStore.FaultCounts())
    try await SimulationSeeds.run(1...12) { seed in
      let random = SeededRandomSource(seed: seed)
      let store = MemoryRunStore(
        faults: .init(
          failedCommit: 0.25, slowCommit: 0.3, commitDelay: .milliseconds(3), outage: 0.08,
          outageLength: .milliseconds(40), random: random))
      try await store.migrate()
      let width = Int(seed % 3) + 1
      let flow = Self.flow(size: 30)
      let result = try await flow.run(
        executor: width == 1 ? .sequential : .concurrent(width: width),
        recorder: RunRecorder(
          store: store, flushInterval: .milliseconds(2), batchSize: 12,
          unavailableTimeout: .seconds(60), bufferLimit: 64))
      let context = "seed \(seed), width \(width), faults: \(store.faultCounts)"
      guard result.state.isSuccessful else {
        throw Violation(description: "\(context): the run ended \(result.state)")
      }
      let recorded = try await Self.checkConsistent(store, result.flowRunID, context)
      guard recorded.count == result.taskRuns.count else {
        throw Violation(
          description: "\(context): \(recorded.count) task runs recorded of "
            + "\(result.taskRuns.count)")
      }
      for run in result.taskRuns {
        let match = recorded.first { $0.slug == run.slug && $0.mapIndex == (run.mapIndex ?? -1) }
        guard let match, match.state == run.state.kind.name, match.attempts == run.attempts,
          match.taskRunID == run.id, match.endedAt == run.finishedAt
        else {
          throw Violation(
            description: "\(context): \(run.label) recorded as \(String(describing: match)); "
              + "the engine decided \(run.state.kind.name) after \(run.attempts) attempt(s)")
        }
      }
      let flowRun = try await store.flowRun(id: result.flowRunID)
      guard flowRun?.state == result.state.kind.name else {
        throw Violation(
          description: "\(context): flow run recorded \(flowRun?.state ?? "nothing")")
      }
      // The stored history replays through the machine to the same run.
      let steps = try await store.events(flowRunID: result.flowRunID, after: 0).map {
        try FlowRunStepCoding.decode($0.payload)
      }
      _ = try FlowRunReplayer.replay(FlowRunHistory(flowName: flow.name, steps: steps), flow: flow)
      let counts = store.faultCounts
      injected.withLock {
        $0.failedCommits += counts.failedCommits
        $0.slowCommits += counts.slowCommits
        $0.outages += counts.outages
      }
    }
    // Seeds run one at a time unless FLOW_SIM_SEED picks one: across all of them every kind of
    // fault happened, so the invariants above were checked under faults, not on a calm store.
    let counts = injected.withLock { $0 }
    if ProcessInfo.processInfo.environment[SimulationSeeds.environmentVariable] == nil {
      #expect(
        counts.failedCommits > 0 && counts.slowCommits > 0 && counts.outages > 0, "\(counts)")
    }
  }

  @Test("a store down past the timeout: the run ends Crashed, nothing half-written, never Running")
  func staysDown() async throws {
    try await SimulationSeeds.run(1...8) { seed in
      let random = SeededRandomSource(seed: seed)
      // The store goes down for good when task `downAt` runs (chosen by the seed).
      let downAt = Int(random.nextUInt64() % 20)
      let store = MemoryRunStore(
        faults: .init(
          failedCommit: 0.2, slowCommit: 0.3, commitDelay: .milliseconds(2), random: random))
      try await store.migrate()
      let width = Int(seed % 3) + 1
      let wentDown = Mutex(false)
      let tasksRun = Mutex(0)
      let flow = Self.flow(size: 24) { x in
        tasksRun.withLock { $0 += 1 }
        if x == downAt {
          wentDown.withLock { $0 = true }
          store.setUnavailable(true)
        }
      }
      let context = "seed \(seed), width \(width), down at task \(downAt)"
      let result: FlowRunResult
      do {
        result = try await flow.run(
          executor: width == 1 ? .sequential : .concurrent(width: width),
          recorder: RunRecorder(
            store: store, heartbeatInterval: .milliseconds(20), flushInterval: .milliseconds(2),
            batchSize: 8, unavailableTimeout: .milliseconds(250), bufferLimit: 32))
      } catch let error as FlowValidationError where error.code == .unrecordable {
        // On a starved machine the run's first write (retried every 2 ms) can fail past the
        // 250 ms timeout on a seeded failed commit: the run is refused before it starts. No task
        // ran and nothing of it was written.
        let written = try await store.flowRuns(FlowRunQuery(staleBefore: .distantPast))
        guard error.message.contains("the commit failed (simulated fault)"),
          tasksRun.withLock({ $0 }) == 0, written.isEmpty
        else {
          throw Violation(
            description: "\(context): refused as \(error) after \(tasksRun.withLock { $0 }) "
              + "task(s), with \(written.count) run(s) written")
        }
        return
      }
      guard result.state.kind == .crashed,
        result.state.message?.hasPrefix("The run store failed: ") == true
      else {
        throw Violation(description: "\(context): the run ended \(result.state)")
      }
      // Readable again (as after the database comes back): what was written is consistent.
      store.setUnavailable(false)
      _ = try await Self.checkConsistent(store, result.flowRunID, context)
      guard let stored = try await store.flowRun(id: result.flowRunID) else {
        throw Violation(description: "\(context): the flow run was not recorded")
      }
      if stored.state == "Crashed" {
        // On a loaded machine the writer can wait past the timeout between two of the seeded
        // failed commits: the run is stopped by them before the outage, and its end, written
        // while the store is up, is Crashed with the store's error.
        guard !wentDown.withLock({ $0 }),
          result.state.message?.contains("the commit failed (simulated fault)") == true,
          stored.message == result.state.message
        else {
          throw Violation(
            description: "\(context): ended \(result.state), recorded Crashed: "
              + "\(stored.message ?? "no message")")
        }
        return
      }
      // Its end could not be written (the store went down, or its last commits failed past the
      // timeout): it reads Running until the heartbeat TTL, then Crashed.
      let fresh = try await store.flowRuns(
        FlowRunQuery(state: "Running", staleBefore: stored.heartbeatAt.addingTimeInterval(-1)))
      let later = stored.heartbeatAt.addingTimeInterval(
        RunStoreReading.defaultHeartbeatTTL.timeInterval)
      let crashed = try await store.flowRuns(FlowRunQuery(state: "Crashed", staleBefore: later))
      let running = try await store.flowRuns(FlowRunQuery(state: "Running", staleBefore: later))
      guard stored.state == "Running", fresh.map(\.id) == [result.flowRunID],
        crashed.map(\.id) == [result.flowRunID], running.isEmpty
      else {
        throw Violation(
          description: "\(context): recorded \(stored.state); Running before the TTL: "
            + "\(fresh.count), Crashed after: \(crashed.count), Running after: \(running.count)")
      }
    }
  }
}

import FlowCore
import FlowExecutors
import FlowTesting
import Foundation
import Testing

/// Recording into a store whose commits fail at random (seeded): nothing is lost or reordered,
/// and the recorded states equal what the engine decided.
@Suite("Recording through a faulty store", .timeLimit(.minutes(1)))
struct RecordingFaultTests {
  static let seeds: [UInt64] = Array(1...8)

  @Test(
    "failed commits are retried: every transition, in order; final states match", arguments: seeds)
  func failedCommits(seed: UInt64) async throws {
    let store = MemoryRunStore(
      faults: .init(failedCommit: 0.4, random: SeededRandomSource(seed: seed)))
    try await store.migrate()
    let count = 40
    let flaky = task("flaky", retries: .init(maxRetries: 1, delay: .zero)) {
      (x: Int) throws -> Int in
      if x % 7 == 0 { throw CocoaError(.featureUnsupported) }
      return x
    }
    let items = task("items") { () -> [Int] in Array(0..<count) }
    let flow = Flow("faulty") { _ = flaky.map(items()) }
    let result = try await flow.run(
      executor: .concurrent(width: 4),
      recorder: RunRecorder(
        store: store, flushInterval: .milliseconds(2), batchSize: 16,
        unavailableTimeout: .seconds(20)))
    let rerun = "rerun: swift test --filter RecordingFaultTests (seed \(seed))"
    let transitions = try await store.transitions(flowRunID: result.flowRunID)
    #expect(transitions.map(\.sequence) == Array(1...Int64(transitions.count)), "\(rerun)")
    // items and the mapped parent, 40 children; each started once or twice (a retry).
    let started = transitions.filter { $0.to == "Running" && $0.slug != nil }.count
    let attempts = result.taskRuns.reduce(0) { $0 + $1.attempts }
    #expect(started == attempts, "\(rerun)")
    let recorded = try await store.taskRuns(flowRunID: result.flowRunID)
    #expect(recorded.count == result.taskRuns.count, "\(rerun)")
    for run in result.taskRuns {
      let match = recorded.first { $0.slug == run.slug && $0.mapIndex == (run.mapIndex ?? -1) }
      #expect(match?.state == run.state.kind.name, "\(run.label): \(rerun)")
      #expect(match?.attempts == run.attempts, "\(run.label): \(rerun)")
    }
    // Per task run, the recorded transitions replay to its final state.
    for run in result.taskRuns {
      let own = transitions.filter { $0.slug == run.slug && $0.mapIndex == (run.mapIndex ?? -1) }
      #expect(own.last?.to == run.state.kind.name, "\(run.label): \(rerun)")
      for (before, after) in zip(own, own.dropFirst()) {
        #expect(before.to == after.from, "\(run.label): \(rerun)")
      }
    }
    let flowRun = try #require(try await store.flowRun(id: result.flowRunID))
    #expect(flowRun.state == result.state.kind.name, "\(rerun)")
    #expect(store.writeCount > 0)
  }
}

/// Back pressure: when the recorder's buffer is full the engine waits for the writer; it never
/// drops a record and never buffers without bound.
@Suite("Recording back pressure", .timeLimit(.minutes(1)))
struct RecordingBackPressureTests {
  @Test("a full buffer holds the run while the store is down; every record lands after")
  func fullBufferWaits() async throws {
    let store = MemoryRunStore()
    try await store.migrate()
    let ran = Counter()
    let count = 200
    let body = task("body") { () -> Int in
      // The store goes down once the run is under way.
      if ran.increment() == 5 { store.setUnavailable(true) }
      return 1
    }
    let flow = Flow("held") { for _ in 0..<count { _ = body() } }
    async let finished = flow.run(
      recorder: RunRecorder(
        store: store, flushInterval: .milliseconds(5), unavailableTimeout: .seconds(30),
        bufferLimit: 20))
    let clock = SystemWallClock()
    // Wait (on a loaded machine, as long as it takes) for the store to go down.
    while ran.count < 5 { try await clock.sleep(for: .milliseconds(10)) }
    try await clock.sleep(for: .milliseconds(300))
    let held = ran.count
    try await clock.sleep(for: .milliseconds(300))
    // The engine is waiting for the writer: no body ran meanwhile, and far fewer than all
    // (about 7 records a task: a few tasks past the outage fill a buffer of 20).
    #expect(ran.count == held)
    #expect(held < 5 + 20)
    store.setUnavailable(false)
    let result = try await finished
    #expect(result.state.isSuccessful)
    #expect(ran.count == count)
    #expect(try await store.taskRuns(flowRunID: result.flowRunID).count == count)
    #expect(
      try await store.transitions(flowRunID: result.flowRunID).count == 2 * count + 2)
  }
}

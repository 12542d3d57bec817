import FlowCore
import FlowExecutors
import FlowTesting
import Foundation
import Synchronization
import Testing

/// A store that counts the task-run records of every batch before handing it on.
private final class CountingStore: RunStore {
  let base = MemoryRunStore()
  let taskRunWrites = Mutex<[String: Int]>([:])
  /// The task-run records of the batch that recorded the flow run's end.
  let lastBatchTaskRuns = Mutex<Int?>(nil)
  /// The batches written.
  let batches = Mutex(0)
  var description: String { base.description }

  func migrate() async throws(RunStoreError) { try await base.migrate() }
  func schemaStatus() async throws(RunStoreError) -> RunStoreSchemaStatus {
    try await base.schemaStatus()
  }
  func write(_ batch: RunStoreBatch) async throws(RunStoreError) {
    batches.withLock { $0 += 1 }
    taskRunWrites.withLock { counts in
      for run in batch.taskRuns { counts[run.label, default: 0] += 1 }
    }
    if batch.flowRuns.contains(where: { $0.endedAt != nil }) {
      lastBatchTaskRuns.withLock { $0 = batch.taskRuns.count }
    }
    try await base.write(batch)
  }
  func appendEvents(_ events: [RunEventRecord]) async throws(RunStoreError) {
    try await base.appendEvents(events)
  }
  func events(flowRunID: UUID, after sequence: Int64) async throws(RunStoreError)
    -> [RunEventRecord]
  {
    try await base.events(flowRunID: flowRunID, after: sequence)
  }
  func flowRuns(_ query: FlowRunQuery) async throws(RunStoreError) -> [FlowRunRecord] {
    try await base.flowRuns(query)
  }
  func flowRun(id: UUID) async throws(RunStoreError) -> FlowRunRecord? {
    try await base.flowRun(id: id)
  }
  func flow(name: String, version: String) async throws(RunStoreError) -> FlowRecord? {
    try await base.flow(name: name, version: version)
  }
  func taskRuns(flowRunID: UUID) async throws(RunStoreError) -> [TaskRunRecord] {
    try await base.taskRuns(flowRunID: flowRunID)
  }
  func transitions(flowRunID: UUID) async throws(RunStoreError) -> [TransitionRecord] {
    try await base.transitions(flowRunID: flowRunID)
  }
  func logs(flowRunID: UUID, after sequence: Int64, minimumLevel: StoredLogLevel)
    async throws(RunStoreError) -> [StoredLogRecord]
  {
    try await base.logs(flowRunID: flowRunID, after: sequence, minimumLevel: minimumLevel)
  }
  func prune(endedBefore cutoff: Date, limit: Int) async throws(RunStoreError) -> Int {
    try await base.prune(endedBefore: cutoff, limit: limit)
  }
  func close() async {}
}

/// What the recorder writes, beside what it must write.
@Suite("Recording writes", .timeLimit(.minutes(1)))
struct RecordingWritesTests {
  @Test(
    "the run's end rewrites no task run: each has the engine's ID, times and attempts already",
    arguments: [FlowExecutor.sequential, .concurrent(width: 3)])
  func endRewritesNothing(executor: FlowExecutor) async throws {
    let store = CountingStore()
    try await store.migrate()
    let count = 60
    let body = task("body") { () -> Int in 1 }
    let flow = Flow("once") { for _ in 0..<count { _ = body() } }
    // Small batches and a small buffer: the writer keeps up with the run, and the last batch
    // holds only the last few task runs (it used to rewrite all of them with their IDs).
    let result = try await flow.run(
      executor: executor,
      recorder: RunRecorder(
        store: store, flushInterval: .milliseconds(1), batchSize: 10, bufferLimit: 20))
    #expect(result.state.isSuccessful)
    let last = try #require(store.lastBatchTaskRuns.withLock { $0 })
    #expect(last < 10, "the run's last batch wrote \(last) task runs")
    let writes = store.taskRunWrites.withLock { $0 }
    #expect(writes.count == count)
    let recorded = try await store.taskRuns(flowRunID: result.flowRunID)
    for run in result.taskRuns {
      let match = recorded.first { $0.slug == run.slug }
      #expect(match?.taskRunID == run.id)
      #expect(match?.startedAt == run.startedAt)
      #expect(match?.endedAt == run.finishedAt)
      #expect(match?.attempts == run.attempts)
    }
  }

  @Test("a run that ends before the first flush is written once: start, tasks and end together")
  func shortRunWrittenOnce() async throws {
    let store = CountingStore()
    try await store.migrate()
    let body = task("body") { () -> Int in 1 }
    let flow = Flow("short") { for _ in 0..<5 { _ = body() } }
    let result = try await flow.run(
      recorder: RunRecorder(
        store: store, flushInterval: .seconds(30), writesStartAtOnce: false))
    #expect(result.state.isSuccessful)
    #expect(store.batches.withLock { $0 } == 1)
    let run = try #require(try await store.flowRun(id: result.flowRunID))
    #expect(run.state == "Success")
    #expect(try await store.taskRuns(flowRunID: result.flowRunID).count == 5)
    #expect(try await store.transitions(flowRunID: result.flowRunID).count == 2 * 5 + 2)
    // Written at once (the default), the start is a write of its own.
    let atOnce = CountingStore()
    try await atOnce.migrate()
    _ = try await flow.run(recorder: RunRecorder(store: atOnce, flushInterval: .seconds(30)))
    #expect(atOnce.batches.withLock { $0 } == 2)
  }

  @Test("a long run whose start goes with the first batch shows Running with a heartbeat")
  func longRunShowsRunning() async throws {
    let store = CountingStore()
    try await store.migrate()
    let seen = Mutex<FlowRunRecord?>(nil)
    let wait = task("wait") { () async throws -> Int in
      // Polls until the run's first batch is in the store (the run is still going).
      for _ in 0..<500 {
        let runs = try await store.flowRuns(FlowRunQuery(limit: 1, staleBefore: .distantPast))
        if let run = runs.first {
          seen.withLock { $0 = run }
          return 1
        }
        try await SystemWallClock().sleep(for: .milliseconds(10))
      }
      return 0
    }
    let flow = Flow("long") { _ = wait() }
    let result = try await flow.run(
      recorder: RunRecorder(
        store: store, flushInterval: .milliseconds(20), writesStartAtOnce: false))
    #expect(result.state.isSuccessful)
    let running = try #require(seen.withLock { $0 })
    #expect(running.state == "Running")
    #expect(running.endedAt == nil)
    #expect(running.heartbeatAt >= running.startedAt)
    #expect(try await store.flowRun(id: result.flowRunID)?.state == "Success")
  }

  @Test("writesSuccessesAtOnce: a task's success is in the store while the next task runs")
  func successWrittenAtOnce() async throws {
    for atOnce in [true, false] {
      let store = CountingStore()
      try await store.migrate()
      let seen = Mutex<String?>(nil)
      let first = task("first") { () -> Int in 1 }
      let check = task("check") { (_: Int) async throws -> Int in
        // Polls for up to a second for `first`'s success (the flush interval is 30 s).
        for _ in 0..<100 {
          let runs = try await store.flowRuns(FlowRunQuery(limit: 1, staleBefore: .distantPast))
          if let run = runs.first,
            let state = try await store.taskRuns(flowRunID: run.id).first(where: {
              $0.slug == "first"
            })?.state
          {
            seen.withLock { $0 = state }
            if state == "Success" { return 1 }
          }
          try await SystemWallClock().sleep(for: .milliseconds(10))
        }
        return 0
      }
      let flow = Flow("checkpoint") { _ = check(first()) }
      let result = try await flow.run(
        recorder: RunRecorder(
          store: store, flushInterval: .seconds(30), writesStartAtOnce: false,
          writesSuccessesAtOnce: atOnce))
      #expect(result.state.isSuccessful)
      if atOnce {
        #expect(seen.withLock { $0 } == "Success")
      } else {
        // Batched: nothing is written before the run ends.
        #expect(seen.withLock { $0 } == nil)
        #expect(store.batches.withLock { $0 } == 1)
      }
    }
  }
}

import FlowCore
import FlowExecutors
import FlowStorePostgres
import FlowStoreSQLite
import Foundation

// Recording into the run history (issue 15): what a recorded run costs per task beside the
// same run unrecorded, and how many task-run records per second PostgreSQL takes.

/// A new database file in a temporary directory, and what removes it.
func temporarySQLitePath() -> (path: String, remove: @Sendable () -> Void) {
  let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
    "flow-bench-\(UUID().uuidString)")
  return (
    directory.appendingPathComponent("flow.sqlite").path,
    { try? FileManager.default.removeItem(at: directory) }
  )
}

/// µs per task of a sequential run of independent no-op tasks recorded into a new SQLite
/// database (every task run, transition and log record written before the run returns),
/// beside the same run unrecorded. Each recorded run is counted back from the database.
func recordedWorkload(_ sizes: Sizes) async throws -> Figure {
  try await recorded(tasks: sizes.independent, repetitions: sizes.repetitions)
}

/// `recorded_us_per_task` once over ten times as many tasks (1M), every task run and
/// transition counted back; the process's peak RSS goes to standard error (run it alone with
/// `--only` for a figure of its own).
func recordedMillionWorkload(_ sizes: Sizes) async throws -> Figure {
  let figure = try await recorded(tasks: sizes.independent * 10, repetitions: 1)
  let line =
    "recorded_1m_us_per_task: \(sizes.independent * 10) tasks recorded, every task run and "
    + "transition counted; peak RSS \(peakResidentBytes() / 1_048_576) MB\n"
  FileHandle.standardError.write(Data(line.utf8))
  return figure
}

func recorded(tasks count: Int, repetitions: Int) async throws -> Figure {
  let flow = independentFlow(count)
  let baseline = try await median(repetitions) {
    let result = try await flow.run(executor: .sequential)
    precondition(result.state.isSuccessful && result.taskRuns.count == count)
  }
  var times: [Double] = []
  for repetition in 0...repetitions {
    let (path, remove) = temporarySQLitePath()
    defer { remove() }
    let store = try await SQLiteRunStore.open(path: path)
    let clock = ContinuousClock()
    let start = clock.now
    let result = try await flow.run(executor: .sequential, recorder: RunRecorder(store: store))
    let elapsed = seconds(clock.now - start)
    precondition(result.state.isSuccessful)
    // Every task run and transition is there (a task: Pending → Running → Success).
    let tasks = try await store.taskRuns(flowRunID: result.flowRunID)
    let transitions = try await store.transitions(flowRunID: result.flowRunID)
    guard tasks.count == count, transitions.count == 2 * count + 2 else {
      throw BenchError(
        message: "recorded \(tasks.count) task runs and \(transitions.count) transitions of "
          + "\(count) tasks; expected \(count) and \(2 * count + 2)")
    }
    await store.close()
    if repetition > 0 { times.append(elapsed) }  // the first is the warm-up
  }
  return Figure(
    value: middle(times) / Double(count) * 1e6, baseline: baseline / Double(count) * 1e6)
}

/// µs per task of the same recorded run into a store that discards its records
/// (``DiscardingRunStore``): the engine's side of recording alone, beside the run unrecorded.
func recordedDiscardingWorkload(_ sizes: Sizes) async throws -> Figure {
  let count = sizes.independent
  let flow = independentFlow(count)
  let baseline = try await median(sizes.repetitions) {
    let result = try await flow.run(executor: .sequential)
    precondition(result.state.isSuccessful && result.taskRuns.count == count)
  }
  let recorded = try await median(sizes.repetitions) {
    let store = DiscardingRunStore()
    let result = try await flow.run(executor: .sequential, recorder: RunRecorder(store: store))
    precondition(result.state.isSuccessful && store.counts.taskRuns >= count)
  }
  return Figure(value: recorded / Double(count) * 1e6, baseline: baseline / Double(count) * 1e6)
}

/// The task-run records of `runs` flow runs of `perRun` tasks, in batches of `batchSize`.
func taskRunBatches(runs: Int, perRun: Int, batchSize: Int) -> [RunStoreBatch] {
  var batches: [RunStoreBatch] = []
  var batch = RunStoreBatch()
  let start = Date(timeIntervalSince1970: 1_772_719_629)
  for run in 0..<runs {
    let id = UUID()
    batch.flowRuns.append(
      FlowRunRecord(
        id: id, flowName: "bench", flowVersion: "v1", parameters: [:], executor: "sequential",
        host: "bench", processID: 1, command: [], scheduledAt: start, startedAt: start,
        endedAt: start, state: "Success", message: nil, heartbeatAt: start))
    for index in 0..<perRun {
      batch.taskRuns.append(
        TaskRunRecord(
          flowRunID: id, slug: "noop", mapIndex: index, taskRunID: nil, state: "Success",
          message: "Task run succeeded.", attempts: 1, crashedAttempts: 0, startedAt: start,
          endedAt: start, resultLocation: nil, position: 0))
      if batch.taskRuns.count == batchSize {
        batches.append(batch)
        batch = RunStoreBatch()
      }
    }
    _ = run
  }
  if !batch.isEmpty { batches.append(batch) }
  return batches
}

/// Task-run records per second into PostgreSQL on loopback (batches of 5,000, one transaction
/// each), beside the same records into SQLite.
func postgresRecordsWorkload(_ sizes: Sizes) async throws -> Figure {
  guard let url = benchPostgresURL else { throw BenchError(message: "no PostgreSQL URL") }
  let count = sizes.independent
  let batches = taskRunBatches(runs: 1, perRun: count, batchSize: 5_000)
  let postgres = try await PostgresRunStore.withStore(url: url) { store in
    var times: [Double] = []
    for _ in 0..<sizes.repetitions {
      // New run IDs each time: inserts, not updates.
      let fresh = taskRunBatches(runs: 1, perRun: count, batchSize: 5_000)
      let clock = ContinuousClock()
      let start = clock.now
      for batch in fresh { try await store.write(batch) }
      times.append(seconds(clock.now - start))
    }
    return middle(times)
  }
  let (path, remove) = temporarySQLitePath()
  defer { remove() }
  let sqlite = try await SQLiteRunStore.open(path: path)
  let clock = ContinuousClock()
  let start = clock.now
  for batch in batches { try await sqlite.write(batch) }
  let sqliteTime = seconds(clock.now - start)
  await sqlite.close()
  return Figure(value: Double(count) / postgres, baseline: Double(count) / sqliteTime)
}

/// The server `postgres_records_per_s` writes to (FLOW_BENCH_POSTGRES_URL, or the tests' URL;
/// `.ci/run` starts one); without it the row is left out.
let benchPostgresURL =
  ProcessInfo.processInfo.environment["FLOW_BENCH_POSTGRES_URL"]
  ?? ProcessInfo.processInfo.environment["FLOW_TEST_POSTGRES_URL"]

let recordingWorkloads: [Workload] =
  [
    Workload(
      key: "recorded_us_per_task", unit: "µs", target: .atMostOverBaseline(2),
      baseline: "the same sequential run, unrecorded", measure: recordedWorkload),
    Workload(
      key: "recorded_discarding_us_per_task", unit: "µs", target: .atMostOverBaseline(2),
      baseline: "the same sequential run, unrecorded", measure: recordedDiscardingWorkload),
    Workload(
      key: "recorded_1m_us_per_task", unit: "µs", target: .atMostOverBaseline(2),
      baseline: "the same 1M-task run, unrecorded", measure: recordedMillionWorkload),
    Workload(
      key: "runs_list_first_page_ms", unit: "ms", target: .atMost(20),
      baseline: "the same page over 1,000 runs", measure: runsListWorkload),
    Workload(
      key: "prune_longest_write_wait_ms", unit: "ms", target: .atMost(50),
      baseline: "the longest write of the same writer without prune",
      measure: pruneWorkload),
  ]
  + (benchPostgresURL == nil
    ? []
    : [
      Workload(
        key: "postgres_records_per_s", unit: "/s", target: .atLeast(50_000),
        baseline: "the same records into SQLite", measure: postgresRecordsWorkload)
    ])

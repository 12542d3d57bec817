import FlowCore
import FlowStoreSQLite
import Foundation
import Synchronization

// A large run history in SQLite (issue 15): `runs list`'s first page over many flow runs, and
// how long `runs prune` holds up a concurrent run's writes.

/// `count` finished flow runs, one second apart (the newest ended before `now` − 1 day), written
/// in batches of 5,000 (one transaction each), each with one task run.
func fillHistory(_ store: SQLiteRunStore, runs count: Int) async throws {
  let start = Date(timeIntervalSince1970: 1_700_000_000)
  var batch = RunStoreBatch()
  for index in 0..<count {
    let id = UUID()
    let at = start.addingTimeInterval(Double(index))
    batch.flowRuns.append(
      FlowRunRecord(
        id: id, flowName: index % 10 == 0 ? "nightly" : "hourly", flowVersion: "v1",
        parameters: [:], executor: "sequential", host: "bench", processID: 1, command: [],
        scheduledAt: at, startedAt: at, endedAt: at.addingTimeInterval(0.5),
        state: index % 50 == 0 ? "Failed" : "Success", message: nil,
        heartbeatAt: at.addingTimeInterval(0.5)))
    batch.taskRuns.append(
      TaskRunRecord(
        flowRunID: id, slug: "noop", mapIndex: -1, taskRunID: nil, state: "Success",
        message: nil, attempts: 1, crashedAttempts: 0, startedAt: at, endedAt: at,
        resultLocation: nil, position: 0))
    if batch.flowRuns.count == 5_000 {
      try await store.write(batch)
      batch = RunStoreBatch()
    }
  }
  if !batch.isEmpty { try await store.write(batch) }
}

/// The number of flow runs of the history workloads: ten times the independent tasks (1M).
func historyRuns(_ sizes: Sizes) -> Int { sizes.independent * 10 }

/// ms to read the first page (50 runs, newest first) of `runs list` over a database of 1M flow
/// runs, beside the same page over 1,000 runs (keyset pagination: the page costs the same).
func runsListWorkload(_ sizes: Sizes) async throws -> Figure {
  func firstPage(runs: Int) async throws -> Double {
    let (path, remove) = temporarySQLitePath()
    defer { remove() }
    let store = try await SQLiteRunStore.open(path: path)
    try await fillHistory(store, runs: runs)
    let query = FlowRunQuery(limit: 50, staleBefore: Date(timeIntervalSince1970: 1_800_000_000))
    var times: [Double] = []
    for repetition in 0...sizes.repetitions * 4 {
      let clock = ContinuousClock()
      let started = clock.now
      let page = try await store.flowRuns(query)
      let elapsed = seconds(clock.now - started)
      guard page.count == 50 else {
        throw BenchError(message: "runs list returned \(page.count) runs; expected 50")
      }
      if repetition > 0 { times.append(elapsed) }
    }
    await store.close()
    return middle(times) * 1e3
  }
  let baseline = try await firstPage(runs: 1_000)
  return Figure(value: try await firstPage(runs: historyRuns(sizes)), baseline: baseline)
}

/// The longest a concurrent run's write (one transition and a heartbeat, one transaction)
/// waited while `prune` deleted 1M finished runs in batches of 500 (as `flow runs prune`
/// does), in ms, beside the longest such write over the same span with no prune.
func pruneWorkload(_ sizes: Sizes) async throws -> Figure {
  let (path, remove) = temporarySQLitePath()
  defer { remove() }
  let store = try await SQLiteRunStore.open(path: path)
  let count = historyRuns(sizes)
  try await fillHistory(store, runs: count)
  let live = UUID()
  let now = Date(timeIntervalSince1970: 1_800_000_000)
  var run = RunStoreBatch()
  run.flowRuns.append(
    FlowRunRecord(
      id: live, flowName: "live", flowVersion: "v1", parameters: [:], executor: "sequential",
      host: "bench", processID: 1, command: [], scheduledAt: now, startedAt: now, endedAt: nil,
      state: "Running", message: nil, heartbeatAt: now))
  try await store.write(run)
  /// Writes one transition at a time until `done`; returns the longest write and how many.
  @Sendable func writeUntil(_ done: @escaping @Sendable () -> Bool, from sequence: Int64)
    async throws -> (longest: Double, p99: Double, writes: Int64)
  {
    var times: [Double] = []
    var next = sequence
    let clock = ContinuousClock()
    while !done() {
      next += 1
      var batch = RunStoreBatch()
      batch.transitions.append(
        TransitionRecord(
          flowRunID: live, sequence: next, slug: "noop", mapIndex: -1, from: "Pending",
          to: "Running", time: now, message: nil))
      batch.heartbeats.append(RunHeartbeat(flowRunID: live, time: now.addingTimeInterval(1)))
      let started = clock.now
      try await store.write(batch)
      times.append(seconds(clock.now - started))
      try await Task.sleep(for: .milliseconds(1))
    }
    times.sort()
    let p99 = times.isEmpty ? 0 : times[min(times.count - 1, times.count * 99 / 100)]
    return (times.last ?? 0, p99, next - sequence)
  }
  let finished = PruneFlag()
  let clock = ContinuousClock()
  let pruneStart = clock.now
  async let concurrent = writeUntil({ finished.isSet }, from: 0)
  var deleted = 0
  while true {
    let batch = try await store.prune(endedBefore: now, limit: 500)
    if batch == 0 { break }
    deleted += batch
  }
  finished.set()
  let during = try await concurrent
  let span = clock.now - pruneStart
  guard deleted == count else {
    throw BenchError(message: "prune deleted \(deleted) runs; expected \(count)")
  }
  // The same writer for the same span, with nothing else writing.
  let quietStart = clock.now
  let quiet = try await writeUntil({ clock.now - quietStart >= span }, from: during.writes)
  await store.close()
  let line =
    "prune_longest_write_wait_ms: \(deleted) runs pruned in \(format(seconds(span))) s; "
    + "\(during.writes) concurrent writes, p99 \(format(during.p99 * 1e3)) ms (without prune: "
    + "\(quiet.writes) writes, p99 \(format(quiet.p99 * 1e3)) ms)\n"
  FileHandle.standardError.write(Data(line.utf8))
  return Figure(value: during.longest * 1e3, baseline: quiet.longest * 1e3)
}

/// Set once, read from any task.
final class PruneFlag: Sendable {
  private let value = Mutex(false)
  func set() { value.withLock { $0 = true } }
  var isSet: Bool { value.withLock { $0 } }
}

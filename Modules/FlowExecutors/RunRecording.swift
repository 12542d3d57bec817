import FlowCore
import FlowLogging
import FlowState
import Foundation
import Logging
import Synchronization

/// One flow run's recording: collects its records as the engine produces them (synchronously,
/// under a lock, off the store's path) and writes them in batches.
final class RunRecording: Sendable {
  /// A task run: its node in the graph and, for a mapped child, its index (-1 otherwise).
  private struct TaskKey: Hashable {
    let node: Int
    let mapIndex: Int
  }

  /// The task runs' latest records and which of them the next batch writes. An unmapped
  /// task's record sits at its node's index (no hashing on the engine's path); mapped children
  /// are kept by node and index.
  private struct TaskRuns {
    var byNode: [TaskRunRecord?]
    var dirtyNode: [Bool]
    var children: [TaskKey: TaskRunRecord] = [:]
    var dirtyChildren: Set<TaskKey> = []
    /// The keys to write, in the order they first changed since the last batch.
    var dirty: [TaskKey] = []

    init(nodes: Int) {
      byNode = Array(repeating: nil, count: nodes)
      dirtyNode = Array(repeating: false, count: nodes)
    }

    subscript(key: TaskKey) -> TaskRunRecord? {
      key.mapIndex < 0 && key.node < byNode.count ? byNode[key.node] : children[key]
    }

    /// Stores `record` as the task run's latest and marks it for the next batch.
    mutating func set(_ key: TaskKey, _ record: TaskRunRecord) {
      if key.mapIndex < 0 && key.node < byNode.count {
        byNode[key.node] = record
      } else {
        children[key] = record
      }
      markDirty(key)
    }

    mutating func markDirty(_ key: TaskKey) {
      if key.mapIndex < 0 && key.node < byNode.count {
        if dirtyNode[key.node] { return }
        dirtyNode[key.node] = true
      } else if !dirtyChildren.insert(key).inserted {
        return
      }
      dirty.append(key)
    }

    /// The records marked since the last batch, no longer marked (a later change marks its
    /// task run again; a failed batch marks them again with ``markDirty(_:)``).
    mutating func takeDirty() -> (keys: [TaskKey], records: [TaskRunRecord]) {
      var keys: [TaskKey] = []
      swap(&keys, &dirty)
      var records: [TaskRunRecord] = []
      records.reserveCapacity(keys.count)
      for key in keys {
        if key.mapIndex < 0 && key.node < byNode.count {
          dirtyNode[key.node] = false
        } else {
          dirtyChildren.remove(key)
        }
        if let record = self[key] { records.append(record) }
      }
      return (keys, records)
    }
  }

  private struct Buffer {
    var flowRun: FlowRunRecord?
    var flowRunDirty = false
    var flow: FlowRecord?
    var transitions: [TransitionRecord] = []
    var logs: [StoredLogRecord] = []
    var taskRuns: TaskRuns
    var transitionSequence: Int64 = 0
    var logSequence: Int64 = 0
    var lastHeartbeat: Date?
    var heartbeatDue = false
    var failingSince: Date?
    var lastError: RunStoreError?
    /// The engine's steps not written yet, encoded, with their sequence numbers.
    var events: [RunEventRecord] = []
    var eventSequence: Int64 = 0
    /// Attempts waiting for room in the buffer (back pressure).
    var waiters: [CheckedContinuation<Void, Never>] = []
    /// The writer has stopped: nobody waits for it any more.
    var released = false

    /// Records taken by the batch being written (counted until it is written).
    var inFlight = 0

    init(nodes: Int) { taskRuns = TaskRuns(nodes: nodes) }

    var pendingCount: Int {
      inFlight + transitions.count + logs.count + taskRuns.dirty.count + events.count
    }
  }

  let recorder: RunRecorder
  let clock: any WallClock
  /// Each node's position among the flow's tasks (for ordering), by node index.
  private let positions: [Int]
  /// The graph's slugs by node index (the engine's steps name nodes by index).
  private let slugs: [String]
  /// The node of each slug (for callers that name a task run by its slug).
  private let nodes: [String: Int]
  private let buffer: Mutex<Buffer>
  /// Encodes the engine's steps as they are taken (on the engine's path: a recorded run waits
  /// for the writer, whose batches then only bind and insert, not for the engine).
  private let stepWriter = Mutex(FlowRunStepWriter())
  private let wake: AsyncStream<Void>.Continuation
  private let wakes: AsyncStream<Void>

  init(recorder: RunRecorder, flow: Flow, clock: any WallClock) {
    self.recorder = recorder
    self.clock = clock
    let graph = flow.graph
    var positions = [Int](repeating: Int.max / 2, count: graph.nodes.count)
    var nodes: [String: Int] = [:]
    nodes.reserveCapacity(graph.nodes.count)
    var slugs: [String] = []
    slugs.reserveCapacity(graph.nodes.count)
    var position = 0
    for (index, node) in graph.nodes.enumerated() {
      slugs.append(node.slug)
      nodes[node.slug] = index
      if node.isTask {
        positions[index] = position
        position += 1
      }
    }
    self.positions = positions
    self.slugs = slugs
    self.nodes = nodes
    // A slot per node up front: the engine's path finds a task run's record by index.
    self.buffer = Mutex(Buffer(nodes: graph.nodes.count))
    (wakes, wake) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
  }

  /// The key of the task run `slug`, `mapIndex` (nil for a slug that names no node).
  private func key(slug: String, mapIndex: Int?) -> TaskKey? {
    nodes[slug].map { TaskKey(node: $0, mapIndex: mapIndex ?? -1) }
  }

  /// Reads where an earlier recording of this run stopped (for a resumed run), and buffers the
  /// flow and the run's start.
  func start(
    flow: Flow, flowRunID: UUID, parameters: [String: any Sendable], executor: String,
    scheduledAt: Date, startedAt: Date, resuming: Bool
  ) async throws(RunStoreError) {
    var transitionSequence: Int64 = 0
    var logSequence: Int64 = 0
    var eventSequence: Int64 = 0
    if resuming {
      eventSequence =
        try await recorder.store.events(flowRunID: flowRunID, after: 0).last?.sequence ?? 0
      transitionSequence =
        try await recorder.store.transitions(flowRunID: flowRunID).last?.sequence ?? 0
      logSequence =
        try await recorder.store.logs(flowRunID: flowRunID, after: 0, minimumLevel: .trace)
        .last?.sequence ?? 0
    }
    var json: [String: String] = [:]
    for spec in flow.parameters {
      if let value = parameters[spec.name], let text = spec.json(value) { json[spec.name] = text }
    }
    let flowRecord = flow.record
    let run = FlowRunRecord(
      id: flowRunID, flowName: flow.name, flowVersion: flowRecord.version, parameters: json,
      executor: executor, host: recorder.host, processID: recorder.processID,
      command: recorder.command, scheduledAt: scheduledAt, startedAt: startedAt, endedAt: nil,
      state: RunState.Kind.running.name, message: "Running flow.", heartbeatAt: startedAt)
    buffer.withLock {
      $0.flow = flowRecord
      $0.flowRun = run
      $0.flowRunDirty = true
      $0.transitionSequence = transitionSequence
      $0.logSequence = logSequence
      $0.eventSequence = eventSequence
      $0.lastHeartbeat = startedAt
    }
    // The run is in the store before its first task starts (retried while the store fails,
    // up to the recorder's timeout), unless it goes with the first batch: a run that ends
    // before the first flush is then written once, start, tasks and end together.
    if recorder.writesStartAtOnce { try await flushRetrying() }
  }

  /// Flushes, retrying every flush interval while the store fails, until the recorder's
  /// timeout; then throws the store's last error.
  private func flushRetrying() async throws(RunStoreError) {
    let deadline = clock.now().addingTimeInterval(recorder.unavailableTimeout.timeInterval)
    while true {
      do {
        return try await flush()
      } catch {
        if clock.now() >= deadline || Task.isCancelled { throw error }
        try? await clock.sleep(for: recorder.flushInterval)
      }
    }
  }

  /// Buffers a transition of the flow run (`slug` nil) or of a task run (its node given, or
  /// found by its slug).
  func transition(
    slug: String?, node: Int? = nil, mapIndex: Int?, from old: RunState, to new: RunState
  ) {
    let now = clock.now()
    let taskKey = slug.flatMap { slug in
      node.map { TaskKey(node: $0, mapIndex: mapIndex ?? -1) }
        ?? key(slug: slug, mapIndex: mapIndex)
    }
    let wakeNow = buffer.withLock { buffer -> Bool in
      guard let flowRunID = buffer.flowRun?.id else { return false }
      buffer.transitionSequence += 1
      buffer.transitions.append(
        TransitionRecord(
          flowRunID: flowRunID, sequence: buffer.transitionSequence, slug: slug,
          mapIndex: mapIndex ?? -1, from: old.kind.name, to: new.kind.name, time: now,
          message: new.message))
      guard let slug else {
        buffer.flowRun?.state = new.kind.name
        buffer.flowRun?.message = new.message
        if new.isFinished { buffer.flowRun?.endedAt = now }
        buffer.flowRunDirty = true
        // A state readers should see at once (Paused, waiting for approval) is written now;
        // Running goes with the next batch (the start already says Running), and the final
        // state with the run's end (``finish(taskRuns:state:endedAt:)`` writes it).
        return new.kind != .running && !new.isFinished
      }
      // Every task run is a node of the graph (the shell names its node).
      guard let taskKey else { return buffer.pendingCount >= recorder.batchSize }
      var record =
        buffer.taskRuns[taskKey]
        ?? TaskRunRecord(
          flowRunID: flowRunID, slug: slug, mapIndex: mapIndex ?? -1, taskRunID: nil,
          state: old.kind.name, message: nil, attempts: 0, crashedAttempts: 0, startedAt: nil,
          endedAt: nil, resultLocation: nil, position: positions[taskKey.node])
      record.state = new.kind.name
      record.message = new.message
      if new.kind == .running {
        record.attempts += 1
        if record.startedAt == nil { record.startedAt = now }
      }
      if new.kind == .crashed { record.crashedAttempts += 1 }
      if new.isFinished { record.endedAt = now }
      buffer.taskRuns.set(taskKey, record)
      return buffer.pendingCount >= recorder.batchSize
        || (recorder.writesSuccessesAtOnce && new.kind == .success)
    }
    if wakeNow { wake.yield() }
  }

  /// Buffers one step of the engine (its event and actions), numbered after the run's earlier
  /// steps (a resumed run continues the numbering). The step's task-run log entries give the
  /// task runs their IDs and the engine's times and attempts, as the finished run reports
  /// them: a task run is written once, not again when the run ends.
  func engineStep(_ step: FlowRunStep) {
    // In the compact binary form (``FlowRunStepCoding``), outside the buffer's lock.
    let payload = stepWriter.withLock { $0.encode(step) }
    let wakeNow = buffer.withLock { buffer -> Bool in
      guard let flowRunID = buffer.flowRun?.id else { return false }
      buffer.eventSequence += 1
      buffer.events.append(
        RunEventRecord(
          flowRunID: flowRunID, sequence: buffer.eventSequence, payload: payload,
          version: step.version))
      for action in step.actions {
        guard case .log(let entry) = action else { continue }
        switch entry {
        case .taskStarted(let key, let taskRunID, let attempt, let at):
          update(&buffer, key) { record in
            record.taskRunID = taskRunID
            if attempt == 1 || record.startedAt == nil { record.startedAt = at }
          }
        case .taskFinished(let key, let taskRunID, let attempts, _, _, let at):
          update(&buffer, key) { record in
            record.taskRunID = taskRunID
            record.attempts = attempts
            record.endedAt = at
          }
        default: continue
        }
      }
      return buffer.pendingCount >= recorder.batchSize
    }
    if wakeNow { wake.yield() }
  }

  /// Changes the buffered record of the task run `key` (one a transition buffered), marking
  /// it for writing when it changed.
  private func update(
    _ buffer: inout Buffer, _ key: TaskRunKey, _ change: (inout TaskRunRecord) -> Void
  ) {
    guard key.node < slugs.count else { return }
    let taskKey = TaskKey(node: key.node, mapIndex: key.mapIndex ?? -1)
    guard var record = buffer.taskRuns[taskKey] else { return }
    let old = record
    change(&record)
    guard record != old else { return }
    buffer.taskRuns.set(taskKey, record)
  }

  /// Buffers a log record of the run (the run log's, numbered here).
  func log(_ record: StoredLogRecord) {
    let wakeNow = buffer.withLock { buffer -> Bool in
      guard let flowRunID = buffer.flowRun?.id else { return false }
      buffer.logSequence += 1
      var record = record
      record.flowRunID = flowRunID
      record.sequence = buffer.logSequence
      buffer.logs.append(record)
      return buffer.pendingCount >= recorder.batchSize
    }
    if wakeNow { wake.yield() }
  }

  /// Ends the writer once it has written what it is writing (the run has finished). The
  /// writer is stopped this way, not by cancellation, so that no transaction is cut short.
  func stopWriting() {
    wake.finish()
    release(stopping: true)
  }

  /// Back pressure: returns at once while fewer than the recorder's ``RunRecorder/bufferLimit``
  /// records wait; otherwise wakes the writer and waits until it has written enough (or the
  /// writer stopped, or the calling task is cancelled). Records are never dropped.
  func waitForRoom() async {
    let limit = recorder.bufferLimit
    while buffer.withLock({ $0.pendingCount >= limit && !$0.released }) {
      if Task.isCancelled { return }
      wake.yield()
      await withTaskCancellationHandler {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
          let now = buffer.withLock { buffer -> Bool in
            if buffer.pendingCount < limit || buffer.released || Task.isCancelled { return true }
            buffer.waiters.append(continuation)
            return false
          }
          if now { continuation.resume() }
        }
      } onCancel: {
        release(stopping: false)
      }
    }
  }

  /// Resumes every waiting attempt (for good when the writer stops).
  private func release(stopping: Bool) {
    let waiters = buffer.withLock { buffer in
      if stopping { buffer.released = true }
      defer { buffer.waiters.removeAll() }
      return buffer.waiters
    }
    for waiter in waiters { waiter.resume() }
  }

  /// Receives the run log's records.
  var logSink: @Sendable (StoredLogRecord) -> Void { { [self] record in log(record) } }

  /// Writes batches until cancelled: on every wake (a full batch, a flow-run transition) and
  /// every flush interval, with a heartbeat every heartbeat interval. Returns the store's error
  /// once it has failed for longer than the recorder allows; nil when cancelled.
  func writeUntilCancelled() async -> RunStoreError? {
    defer { release(stopping: true) }
    return await withTaskGroup(of: RunStoreError?.self) { group in
      group.addTask { [clock, wake, recorder] in
        while !Task.isCancelled {
          do {
            try await clock.sleep(for: recorder.flushInterval)
          } catch {
            return nil
          }
          wake.yield()
        }
        return nil
      }
      group.addTask { [self] in
        for await _ in wakes {
          if Task.isCancelled { return nil }
          do throws(RunStoreError) {
            try await flushOrGiveUp()
          } catch {
            return error
          }
        }
        return nil
      }
      let first = await group.next() ?? nil
      group.cancelAll()
      return first
    }
  }

  private func flushOrGiveUp() async throws(RunStoreError) {
    do {
      try await flush()
    } catch {
      // The engine waits while the buffer is full (back pressure); the run is stopped only
      // once the store has failed for longer than the recorder allows.
      let since = buffer.withLock { $0.failingSince }
      if let since, clock.now().timeIntervalSince(since) >= recorder.unavailableTimeout.timeInterval
      {
        throw error
      }
    }
  }

  /// Writes what is buffered as one batch; on failure keeps it buffered (nothing is dropped)
  /// and throws.
  func flush() async throws(RunStoreError) {
    let now = clock.now()
    var taskKeys: [TaskKey] = []
    let batch = buffer.withLock { buffer -> RunStoreBatch in
      var batch = RunStoreBatch()
      if let flow = buffer.flow { batch.flows.append(flow) }
      if buffer.flowRunDirty, let run = buffer.flowRun { batch.flowRuns.append(run) }
      // The appended records move into the batch (the engine appends to new arrays, rather
      // than copying these while they are written); a failed write puts them back in front.
      swap(&batch.transitions, &buffer.transitions)
      swap(&batch.logs, &buffer.logs)
      swap(&batch.events, &buffer.events)
      // The changed task runs' records go as they are now; a task run that changes again
      // while they are written is marked again (and written with the next batch).
      (taskKeys, batch.taskRuns) = buffer.taskRuns.takeDirty()
      buffer.inFlight =
        batch.transitions.count + batch.logs.count + batch.events.count + batch.taskRuns.count
      if let run = buffer.flowRun, run.endedAt == nil,
        buffer.lastHeartbeat.map({
          now.timeIntervalSince($0) >= recorder.heartbeatInterval.timeInterval
        })
          ?? true
      {
        batch.heartbeats.append(RunHeartbeat(flowRunID: run.id, time: now))
      }
      return batch
    }
    if batch.count == batch.flows.count { return }
    do {
      try await recorder.store.write(batch)
    } catch {
      buffer.withLock {
        if $0.failingSince == nil { $0.failingSince = now }
        $0.lastError = error
        // Nothing is dropped: the batch's records go back before those appended meanwhile.
        $0.transitions.insert(contentsOf: batch.transitions, at: 0)
        $0.logs.insert(contentsOf: batch.logs, at: 0)
        $0.events.insert(contentsOf: batch.events, at: 0)
        for key in taskKeys { $0.taskRuns.markDirty(key) }
        $0.inFlight = 0
      }
      throw error
    }
    let waiters = buffer.withLock { buffer -> [CheckedContinuation<Void, Never>] in
      buffer.flow = nil
      if buffer.flowRun == batch.flowRuns.last { buffer.flowRunDirty = false }
      buffer.inFlight = 0
      if let beat = batch.heartbeats.last {
        buffer.lastHeartbeat = beat.time
        buffer.flowRun?.heartbeatAt = beat.time
      }
      buffer.failingSince = nil
      buffer.lastError = nil
      guard buffer.pendingCount < recorder.bufferLimit else { return [] }
      defer { buffer.waiters.removeAll() }
      return buffer.waiters
    }
    for waiter in waiters { waiter.resume() }
  }

  /// Buffers the finished run's task runs as the engine reports them (IDs, attempts, times),
  /// then writes everything still buffered, retrying until the recorder's timeout.
  func finish(taskRuns: [TaskRun], state: RunState, endedAt: Date) async throws(RunStoreError) {
    buffer.withLock { buffer in
      guard let flowRunID = buffer.flowRun?.id else { return }
      for run in taskRuns {
        // Every task run is a node of the graph.
        guard let key = key(slug: run.slug, mapIndex: run.mapIndex) else { continue }
        let record = TaskRunRecord(
          flowRunID: flowRunID, slug: run.slug, mapIndex: run.mapIndex ?? -1, taskRunID: run.id,
          state: run.state.kind.name, message: run.state.message, attempts: run.attempts,
          crashedAttempts: run.crashedAttempts, startedAt: run.startedAt,
          endedAt: run.finishedAt, resultLocation: nil,
          position: positions[key.node])
        if buffer.taskRuns[key] != record { buffer.taskRuns.set(key, record) }
      }
      if buffer.flowRun?.state != state.kind.name || buffer.flowRun?.endedAt == nil {
        buffer.flowRun?.state = state.kind.name
        buffer.flowRun?.message = state.message
        buffer.flowRun?.endedAt = endedAt
        buffer.flowRunDirty = true
      }
    }
    try await flushRetrying()
  }

  /// The last store error while the store is failing.
  var lastError: RunStoreError? { buffer.withLock { $0.lastError } }
}

extension FlowRunResult {
  /// This result ended Crashed with `message` (the run was stopped because it could not be
  /// recorded).
  func crashed(message: String) -> FlowRunResult {
    FlowRunResult(
      flowName: flowName, flowRunID: flowRunID, state: RunState(.crashed, message: message),
      taskRuns: taskRuns, startedAt: startedAt, finishedAt: finishedAt, log: log,
      nodeStates: nodeStates, slugs: slugs, flowID: flowID)
  }
}

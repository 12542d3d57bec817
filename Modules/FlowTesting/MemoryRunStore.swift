import FlowCore
import Foundation
import Synchronization

/// A ``RunStore`` in memory, for tests and the simulator: the same behaviour as the database
/// adapters (the conformance suite runs on all three), optionally with seeded faults.
public final class MemoryRunStore: RunStore {
  /// Faults a store injects, decided by a seeded random source: each write draws, in order,
  /// whether it starts an outage, whether it is slow, and whether it fails.
  public struct Faults: Sendable {
    /// The chance that a write fails (and writes nothing).
    public var failedCommit: Double
    /// The chance that a write takes ``commitDelay`` before it commits (or fails).
    public var slowCommit: Double
    /// How long a slow write takes.
    public var commitDelay: Duration
    /// The chance that a write starts an outage: it and every call for ``outageLength`` fail
    /// with ``RunStoreError/Code/unavailable``.
    public var outage: Double
    /// How long an outage lasts.
    public var outageLength: Duration
    /// The clock slow writes sleep on and outages are timed by.
    public var clock: any WallClock
    /// The random source that decides.
    public var random: SeededRandomSource

    /// Faults drawn from `random`.
    public init(
      failedCommit: Double, slowCommit: Double = 0, commitDelay: Duration = .zero,
      outage: Double = 0, outageLength: Duration = .zero, clock: any WallClock = SystemWallClock(),
      random: SeededRandomSource
    ) {
      self.failedCommit = failedCommit
      self.slowCommit = slowCommit
      self.commitDelay = commitDelay
      self.outage = outage
      self.outageLength = outageLength
      self.clock = clock
      self.random = random
    }

    /// True with chance `probability` (one draw from ``random``).
    func draw(_ probability: Double) -> Bool {
      Double(random.nextUInt64() >> 11) / Double(1 << 53) < probability
    }
  }

  struct TaskKey: Hashable {
    let flowRunID: UUID
    let slug: String
    let mapIndex: Int
  }

  struct Tables {
    var version = 0
    var flows: [String: FlowRecord] = [:]
    var flowRuns: [UUID: FlowRunRecord] = [:]
    var taskRuns: [TaskKey: TaskRunRecord] = [:]
    var transitions: [UUID: [TransitionRecord]] = [:]
    var logs: [UUID: [StoredLogRecord]] = [:]
    var events: [UUID: [RunEventRecord]] = [:]
    var unavailable = false
    /// The end of a simulated outage (``Faults/outage``).
    var outageUntil: Date?
    /// Writes that failed, were slow, and outages started (simulated faults).
    var faultCounts = FaultCounts()
    var writes = 0
    var deployments = MemoryDeploymentTables()
  }

  let tables = Mutex(Tables())
  private let faults: Faults?
  /// `memory:` and a name.
  public let description: String

  /// An empty store named `name`, failing as `faults` say.
  public init(name: String = "test", faults: Faults? = nil) {
    description = "memory:\(name)"
    self.faults = faults
  }

  /// Makes every call fail with ``RunStoreError/Code/unavailable`` until set back to false.
  public func setUnavailable(_ unavailable: Bool) {
    tables.withLock { $0.unavailable = unavailable }
  }

  /// How many batches were written.
  public var writeCount: Int { tables.withLock { $0.writes } }

  /// How many simulated faults a faulty store injected.
  public struct FaultCounts: Sendable, Equatable, CustomStringConvertible {
    /// Writes that failed.
    public var failedCommits = 0
    /// Writes that were slow.
    public var slowCommits = 0
    /// Outages started.
    public var outages = 0
    /// Calls refused during an outage.
    public var refusedInOutage = 0

    /// No faults yet.
    public init() {}

    /// `failed 3, slow 5, outages 1 (7 calls refused)`.
    public var description: String {
      "failed \(failedCommits), slow \(slowCommits), outages \(outages) "
        + "(\(refusedInOutage) calls refused)"
    }
  }

  /// The faults injected so far.
  public var faultCounts: FaultCounts { tables.withLock { $0.faultCounts } }

  /// Sets the schema version, as a newer (or older) binary would have left it.
  public func setSchemaVersion(_ version: Int) { tables.withLock { $0.version = version } }

  private func available(_ tables: Tables) throws(RunStoreError) {
    if tables.unavailable {
      throw RunStoreError(
        .unavailable, location: description,
        message: "the store is unavailable (simulated); retry later")
    }
  }

  func migrated(_ tables: Tables) throws(RunStoreError) {
    try available(tables)
    if tables.version > RunStoreSchema.current {
      throw RunStoreError.newerSchema(
        location: description, found: tables.version)
    }
    if tables.version < RunStoreSchema.current {
      throw RunStoreError.needsMigration(location: description, found: tables.version)
    }
  }

  /// Creates the schema or upgrades it to the current version.
  public func migrate() async throws(RunStoreError) {
    try tables.withLock { (tables) throws(RunStoreError) in
      try available(tables)
      if tables.version > RunStoreSchema.current {
        throw RunStoreError.newerSchema(location: description, found: tables.version)
      }
      tables.version = RunStoreSchema.current
    }
  }

  /// The database's schema version.
  public func schemaStatus() async throws(RunStoreError) -> RunStoreSchemaStatus {
    try tables.withLock { (tables) throws(RunStoreError) in
      try available(tables)
      return RunStoreSchemaStatus(databaseVersion: tables.version)
    }
  }

  /// Writes the batch in one transaction.
  public func write(_ batch: RunStoreBatch) async throws(RunStoreError) {
    var fail = false
    if let faults {
      let now = faults.clock.now()
      let startsOutage = faults.draw(faults.outage)
      let slow = faults.draw(faults.slowCommit)
      fail = faults.draw(faults.failedCommit)
      try tables.withLock { (tables) throws(RunStoreError) in
        if startsOutage, tables.outageUntil.map({ now >= $0 }) ?? true {
          tables.outageUntil = now.addingTimeInterval(faults.outageLength.timeInterval)
          tables.faultCounts.outages += 1
        }
        if let until = tables.outageUntil, now < until {
          tables.faultCounts.refusedInOutage += 1
          throw RunStoreError(
            .unavailable, location: description,
            message: "the store is unavailable until \(RunStoreReading.iso8601(until)) "
              + "(simulated outage)")
        }
        if slow { tables.faultCounts.slowCommits += 1 }
        if fail { tables.faultCounts.failedCommits += 1 }
      }
      if slow { try? await faults.clock.sleep(for: faults.commitDelay) }
    }
    try tables.withLock { (tables) throws(RunStoreError) in
      try migrated(tables)
      if fail {
        throw RunStoreError(
          .unavailable, location: description, message: "the commit failed (simulated fault)")
      }
      Self.apply(batch, to: &tables)
    }
  }

  /// Writes `batch` into `tables` (one transaction's worth, under the lock).
  static func apply(_ batch: RunStoreBatch, to tables: inout Tables) {
    do {
      tables.writes += 1
      for flow in batch.flows where tables.flows["\(flow.name)\u{0}\(flow.version)"] == nil {
        tables.flows["\(flow.name)\u{0}\(flow.version)"] = flow
      }
      for run in batch.flowRuns { tables.flowRuns[run.id] = run }
      for run in batch.taskRuns {
        tables.taskRuns[TaskKey(flowRunID: run.flowRunID, slug: run.slug, mapIndex: run.mapIndex)] =
          run
      }
      // Appends are idempotent, as in the databases: a retried batch writes nothing twice.
      for transition in batch.transitions
      where !(tables.transitions[transition.flowRunID] ?? []).contains(where: {
        $0.sequence == transition.sequence
      }) {
        tables.transitions[transition.flowRunID, default: []].append(transition)
      }
      for log in batch.logs
      where !(tables.logs[log.flowRunID] ?? []).contains(where: { $0.sequence == log.sequence }) {
        tables.logs[log.flowRunID, default: []].append(log)
      }
      for event in batch.events
      where !(tables.events[event.flowRunID] ?? []).contains(where: {
        $0.sequence == event.sequence
      }) {
        tables.events[event.flowRunID, default: []].append(event)
      }
      for beat in batch.heartbeats {
        if let run = tables.flowRuns[beat.flowRunID], run.heartbeatAt < beat.time {
          tables.flowRuns[beat.flowRunID]?.heartbeatAt = beat.time
        }
      }
    }
  }

  /// Appends engine events; a taken sequence writes none of them.
  public func appendEvents(_ events: [RunEventRecord]) async throws(RunStoreError) {
    try tables.withLock { (tables) throws(RunStoreError) in
      try migrated(tables)
      var seen: Set<String> = []
      for event in events {
        let key = "\(event.flowRunID)#\(event.sequence)"
        let taken = tables.events[event.flowRunID]?.contains { $0.sequence == event.sequence }
        if taken == true || !seen.insert(key).inserted {
          throw RunStoreError.sequenceTaken(
            location: description, flowRunID: event.flowRunID, sequence: event.sequence)
        }
      }
      for event in events { tables.events[event.flowRunID, default: []].append(event) }
    }
  }

  /// The run's engine events after a sequence.
  public func events(flowRunID: UUID, after sequence: Int64) async throws(RunStoreError)
    -> [RunEventRecord]
  {
    try tables.withLock { (tables) throws(RunStoreError) in
      try migrated(tables)
      return (tables.events[flowRunID] ?? []).filter { $0.sequence > sequence }.sorted {
        $0.sequence < $1.sequence
      }
    }
  }

  /// One page of flow runs, newest first.
  public func flowRuns(_ query: FlowRunQuery) async throws(RunStoreError) -> [FlowRunRecord] {
    try tables.withLock { (tables) throws(RunStoreError) in
      try migrated(tables)
      let ordered = tables.flowRuns.values.sorted {
        ($0.startedAt, $0.id.uuidString) > ($1.startedAt, $1.id.uuidString)
      }
      var page: [FlowRunRecord] = []
      for run in ordered {
        if let after = query.after,
          (run.startedAt, run.id.uuidString) >= (after.startedAt, after.id.uuidString)
        {
          continue
        }
        if let name = query.flowName, run.flowName != name { continue }
        if let prefix = query.idPrefix,
          !RunStoreCoding.text(run.id).hasPrefix(prefix.lowercased())
        {
          continue
        }
        if let since = query.since, run.startedAt < since { continue }
        let reported = RunStoreReading.reported(run, staleBefore: query.staleBefore)
        if let state = query.state, reported.state != state { continue }
        page.append(reported)
        if page.count == query.limit { break }
      }
      return page
    }
  }

  /// The flow run with this ID, or nil.
  public func flowRun(id: UUID) async throws(RunStoreError) -> FlowRunRecord? {
    try tables.withLock { (tables) throws(RunStoreError) in
      try migrated(tables)
      return tables.flowRuns[id]
    }
  }

  /// The flow with this name and version, or nil.
  public func flow(name: String, version: String) async throws(RunStoreError) -> FlowRecord? {
    try tables.withLock { (tables) throws(RunStoreError) in
      try migrated(tables)
      return tables.flows["\(name)\u{0}\(version)"]
    }
  }

  /// The run's task runs in flow order.
  public func taskRuns(flowRunID: UUID) async throws(RunStoreError) -> [TaskRunRecord] {
    try tables.withLock { (tables) throws(RunStoreError) in
      try migrated(tables)
      return tables.taskRuns.values.filter { $0.flowRunID == flowRunID }.sorted {
        ($0.position, $0.mapIndex) < ($1.position, $1.mapIndex)
      }
    }
  }

  /// The run's transitions in order.
  public func transitions(flowRunID: UUID) async throws(RunStoreError) -> [TransitionRecord] {
    try tables.withLock { (tables) throws(RunStoreError) in
      try migrated(tables)
      return tables.transitions[flowRunID] ?? []
    }
  }

  /// The run's log records after a sequence, at a level or above.
  public func logs(flowRunID: UUID, after sequence: Int64, minimumLevel: StoredLogLevel)
    async throws(RunStoreError) -> [StoredLogRecord]
  {
    try tables.withLock { (tables) throws(RunStoreError) in
      try migrated(tables)
      return (tables.logs[flowRunID] ?? []).filter {
        $0.sequence > sequence && $0.level >= minimumLevel
      }
    }
  }

  /// Deletes up to `limit` runs that ended before `cutoff`.
  public func prune(endedBefore cutoff: Date, limit: Int) async throws(RunStoreError) -> Int {
    try tables.withLock { (tables) throws(RunStoreError) in
      try migrated(tables)
      let doomed = tables.flowRuns.values.filter { run in
        run.endedAt.map { $0 < cutoff } ?? false
      }.sorted { $0.endedAt! < $1.endedAt! }.prefix(limit).map(\.id)
      Self.remove(runs: Set(doomed), from: &tables)
      return doomed.count
    }
  }

  /// Deletes the runs `ids` and everything recorded about them (a deployment's run too).
  static func remove(runs ids: Set<UUID>, from tables: inout Tables) {
    guard !ids.isEmpty else { return }
    for id in ids {
      tables.flowRuns[id] = nil
      tables.transitions[id] = nil
      tables.logs[id] = nil
      tables.events[id] = nil
    }
    tables.taskRuns = tables.taskRuns.filter { !ids.contains($0.key.flowRunID) }
    tables.deployments.prune(ids)
  }

  /// Closes the connections.
  public func close() async {}
}

// MARK: Browsing (the server's reads)

extension MemoryRunStore: RunStoreBrowsing {
  /// Every recorded flow version, without its graph.
  public func flowSummaries() async throws(RunStoreError) -> [FlowSummary] {
    try tables.withLock { (tables) throws(RunStoreError) in
      try migrated(tables)
      return tables.flows.values.map {
        FlowSummary(name: $0.name, version: $0.version, parameterSchemaJSON: $0.parameterSchemaJSON)
      }.sorted { ($0.name, $0.version) < ($1.name, $1.version) }
    }
  }

  /// A page of the run's transitions after a sequence.
  public func transitions(flowRunID: UUID, after sequence: Int64, limit: Int)
    async throws(RunStoreError) -> [TransitionRecord]
  {
    try tables.withLock { (tables) throws(RunStoreError) in
      try migrated(tables)
      let all = (tables.transitions[flowRunID] ?? []).sorted { $0.sequence < $1.sequence }
      return Array(all.filter { $0.sequence > sequence }.prefix(max(0, limit)))
    }
  }

  /// A page of the run's logs after a sequence, at a level or above.
  public func logs(
    flowRunID: UUID, after sequence: Int64, minimumLevel: StoredLogLevel, limit: Int
  ) async throws(RunStoreError) -> [StoredLogRecord] {
    try tables.withLock { (tables) throws(RunStoreError) in
      try migrated(tables)
      let all = (tables.logs[flowRunID] ?? []).sorted { $0.sequence < $1.sequence }
      return Array(
        all.filter { $0.sequence > sequence && $0.level >= minimumLevel }.prefix(max(0, limit)))
    }
  }

  /// A page of the runs that ended after a cursor, oldest end first.
  public func flowRuns(endedAfter cursor: FlowRunEndCursor?, limit: Int)
    async throws(RunStoreError) -> [FlowRunRecord]
  {
    try tables.withLock { (tables) throws(RunStoreError) in
      try migrated(tables)
      let key = { (run: FlowRunRecord) in
        (run.endedAt ?? .distantPast, run.id.uuidString.lowercased())
      }
      let ended = tables.flowRuns.values.filter { run in
        guard run.endedAt != nil else { return false }
        guard let cursor else { return true }
        return key(run) > (cursor.endedAt, cursor.id.uuidString.lowercased())
      }
      return Array(ended.sorted { key($0) < key($1) }.prefix(max(0, limit)))
    }
  }
}

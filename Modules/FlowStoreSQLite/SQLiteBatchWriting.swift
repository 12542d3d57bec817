import FlowCore
import Foundation

/// Writes a ``RunStoreBatch`` on the writer connection (inside its transaction): every record
/// is bound field by field into its table's one-row INSERT, prepared once and stepped per
/// record, with no intermediate arrays of values. The SQL and the stored forms are the shared
/// ones of ``RunStoreSQL`` (what PostgreSQL writes too).
struct SQLiteBatchWriting {
  /// The statements' texts, built once per store.
  struct Texts: Sendable {
    let flows: String
    let flowRuns: String
    let taskRuns: String
    let transitions: String
    let logPacks: String
    let eventPacks: String
    let heartbeat: String

    init(sql: RunStoreSQL) {
      flows = sql.singleRowInsert(RunStoreSQL.flowsTable)
      flowRuns = sql.singleRowInsert(RunStoreSQL.flowRunsTable)
      taskRuns = sql.singleRowInsert(RunStoreSQL.taskRunsTable)
      transitions = sql.singleRowInsert(RunStoreSQL.transitionsTable)
      logPacks = sql.singleRowInsert(RunStoreSQL.logPacksTable)
      eventPacks = sql.singleRowInsert(RunStoreSQL.eventPacksTable)
      heartbeat = sql.heartbeatUpdate()
    }
  }

  let connection: SQLiteWriterConnection
  let texts: Texts
  /// The last run ID rendered (a batch's records mostly share their run).
  private var lastID: (id: UUID, text: String)?

  init(connection: SQLiteWriterConnection, texts: Texts) {
    self.connection = connection
    self.texts = texts
  }

  private mutating func text(_ id: UUID) -> String {
    if let lastID, lastID.id == id { return lastID.text }
    let text = RunStoreCoding.text(id)
    lastID = (id, text)
    return text
  }

  private func bind(_ statement: OpaquePointer, _ index: Int32, _ date: Date?) throws {
    guard let date else { return try connection.bindNull(statement, index) }
    try connection.bind(statement, index, RunStoreCoding.micros(date))
  }

  private func bind(_ statement: OpaquePointer, _ index: Int32, _ number: Int) throws {
    try connection.bind(statement, index, Int64(number))
  }

  /// Writes every record of `batch`, packed as schema version 6 stores it
  /// (``PackedRunStoreBatch``).
  mutating func write(_ batch: RunStoreBatch) throws {
    let c = connection
    let packed = PackedRunStoreBatch(batch)
    if !batch.flows.isEmpty {
      let statement = try c.statement(texts.flows)
      for flow in batch.flows {
        try c.bind(statement, 1, flow.name)
        try c.bind(statement, 2, flow.version)
        try c.bind(statement, 3, flow.graphJSON)
        try c.bind(statement, 4, flow.parameterSchemaJSON)
        try c.step(statement)
      }
    }
    if !batch.flowRuns.isEmpty {
      let statement = try c.statement(texts.flowRuns)
      for run in batch.flowRuns {
        try c.bind(statement, 1, text(run.id))
        try c.bind(statement, 2, run.flowName)
        try c.bind(statement, 3, run.flowVersion)
        try c.bind(statement, 4, RunStoreCoding.json(run.parameters))
        try c.bind(statement, 5, run.executor)
        try c.bind(statement, 6, run.host)
        try bind(statement, 7, run.processID)
        try c.bind(statement, 8, RunStoreCoding.json(run.command))
        try bind(statement, 9, run.scheduledAt)
        try bind(statement, 10, run.startedAt)
        try bind(statement, 11, run.endedAt)
        try c.bind(statement, 12, run.state)
        try c.bind(statement, 13, run.message)
        try bind(statement, 14, run.heartbeatAt)
        try c.step(statement)
      }
    }
    if !packed.taskRuns.isEmpty {
      let statement = try c.statement(texts.taskRuns)
      for (run, transitions) in packed.taskRuns {
        try c.bind(statement, 1, text(run.flowRunID))
        try c.bind(statement, 2, run.slug)
        try bind(statement, 3, run.mapIndex)
        try c.bind(statement, 4, run.taskRunID.map { RunStoreCoding.text($0) })
        try c.bind(statement, 5, run.state)
        try c.bind(statement, 6, run.message)
        try bind(statement, 7, run.attempts)
        try bind(statement, 8, run.crashedAttempts)
        try bind(statement, 9, run.startedAt)
        try bind(statement, 10, run.endedAt)
        try c.bind(statement, 11, run.resultLocation)
        try bind(statement, 12, run.position)
        try c.bind(statement, 13, transitions)
        try c.step(statement)
      }
    }
    if !packed.transitions.isEmpty {
      let statement = try c.statement(texts.transitions)
      for transition in packed.transitions {
        try c.bind(statement, 1, text(transition.flowRunID))
        try c.bind(statement, 2, transition.sequence)
        try c.bind(statement, 3, transition.slug)
        try bind(statement, 4, transition.mapIndex)
        try c.bind(statement, 5, transition.from)
        try c.bind(statement, 6, transition.to)
        try bind(statement, 7, transition.time)
        try c.bind(statement, 8, transition.message)
        try c.step(statement)
      }
    }
    if !packed.logPacks.isEmpty {
      let statement = try c.statement(texts.logPacks)
      for pack in packed.logPacks {
        try c.bind(statement, 1, text(pack.flowRunID))
        try c.bind(statement, 2, pack.firstSequence)
        try c.bind(statement, 3, pack.lastSequence)
        try c.bind(statement, 4, pack.payload)
        try c.step(statement)
      }
    }
    if !packed.eventPacks.isEmpty {
      let statement = try c.statement(texts.eventPacks)
      for pack in packed.eventPacks {
        try c.bind(statement, 1, text(pack.flowRunID))
        try c.bind(statement, 2, pack.firstSequence)
        try c.bind(statement, 3, pack.lastSequence)
        try c.bind(statement, 4, pack.payload)
        try c.step(statement)
      }
    }
    if !batch.heartbeats.isEmpty {
      let statement = try c.statement(texts.heartbeat)
      for beat in batch.heartbeats {
        try bind(statement, 1, beat.time)
        try c.bind(statement, 2, text(beat.flowRunID))
        try c.step(statement)
      }
    }
  }
}

import Foundation

/// How schema version 6 packs a batch's records into fewer rows, shared by the SQLite and
/// PostgreSQL adapters (the in-memory store keeps records as they are):
///
/// - a task run's transitions go into its own row (`task_runs.transitions`, compact text that
///   a later batch appends to), when the batch writes that task run; the flow run's own
///   transitions, and any of a task run the batch does not write, stay rows of `transitions`;
/// - the engine's steps of one run with consecutive sequences go into one row of
///   `run_event_packs` (`first_sequence`…`last_sequence`, the steps' versions and payloads
///   in one blob), and its log records likewise into one row of `log_packs`.
///
/// Readers merge both forms with the rows older schema versions wrote (a schema-4 database's
/// history reads the same after the migration), by sequence; a record written twice (a batch
/// retried after an ambiguous failure) reads once.
package struct PackedRunStoreBatch {
  /// The batch's task runs, each with the text of its transitions in this batch (nil: none).
  package var taskRuns: [(record: TaskRunRecord, transitions: String?)] = []
  /// The transitions that stay rows of `transitions`.
  package var transitions: [TransitionRecord] = []
  /// The engine's steps, packed.
  package var eventPacks: [RunEventPack] = []
  /// The log records, packed.
  package var logPacks: [RunLogPack] = []

  /// Packs `batch`.
  package init(_ batch: RunStoreBatch) {
    taskRuns = batch.taskRuns.map { ($0, nil) }
    if !batch.transitions.isEmpty {
      var index: [TaskRunRowKey: Int] = [:]
      index.reserveCapacity(batch.taskRuns.count)
      for (position, run) in batch.taskRuns.enumerated() {
        index[TaskRunRowKey(run.flowRunID, run.slug, run.mapIndex)] = position
      }
      for transition in batch.transitions {
        guard let slug = transition.slug,
          let position = index[TaskRunRowKey(transition.flowRunID, slug, transition.mapIndex)]
        else {
          transitions.append(transition)
          continue
        }
        TransitionPacking.append(transition, to: &taskRuns[position].transitions)
      }
    }
    eventPacks = RunEventPack.packs(batch.events)
    logPacks = RunLogPack.packs(batch.logs)
  }
}

/// A task run's row key.
private struct TaskRunRowKey: Hashable {
  let flowRunID: UUID
  let slug: String
  let mapIndex: Int

  init(_ flowRunID: UUID, _ slug: String, _ mapIndex: Int) {
    self.flowRunID = flowRunID
    self.slug = slug
    self.mapIndex = mapIndex
  }
}

/// A task run's transitions as `task_runs.transitions` stores them: one entry per transition,
/// `sequence,time,N:fromN:to` then `-` (no message) or `N:message`, then `;` (N a byte count,
/// so that no text needs escaping). A later batch appends its entries to the row's.
package enum TransitionPacking {
  /// Appends `transition`'s entry to `text` (nil: empty).
  package static func append(_ transition: TransitionRecord, to text: inout String?) {
    var entry = text ?? ""
    text = nil  // `entry` holds the only reference: appended in place
    entry += String(transition.sequence)
    entry += ","
    entry += String(RunStoreCoding.micros(transition.time))
    entry += ","
    appendField(transition.from, to: &entry)
    appendField(transition.to, to: &entry)
    if let message = transition.message {
      appendField(message, to: &entry)
    } else {
      entry += "-"
    }
    entry += ";"
    text = entry
  }

  private static func appendField(_ field: String, to text: inout String) {
    text += String(field.utf8.count)
    text += ":"
    text += field
  }

  /// The transitions of the task run `slug`, `mapIndex` of `flowRunID` stored as `text`, in
  /// the order written (nil for text that is not in this form).
  package static func transitions(
    _ text: String, flowRunID: UUID, slug: String, mapIndex: Int
  ) -> [TransitionRecord]? {
    var text = text
    return text.withUTF8 { bytes -> [TransitionRecord]? in
      var reader = Reader(bytes: bytes)
      var records: [TransitionRecord] = []
      while !reader.atEnd {
        guard let sequence = reader.integer(until: UInt8(ascii: ",")),
          let time = reader.integer(until: UInt8(ascii: ",")),
          let from = reader.field(), let to = reader.field()
        else { return nil }
        let message: String?
        if reader.skip(UInt8(ascii: "-")) {
          message = nil
        } else {
          guard let field = reader.field() else { return nil }
          message = field
        }
        guard reader.skip(UInt8(ascii: ";")) else { return nil }
        records.append(
          TransitionRecord(
            flowRunID: flowRunID, sequence: sequence, slug: slug, mapIndex: mapIndex, from: from,
            to: to, time: RunStoreCoding.date(time), message: message))
      }
      return records
    }
  }

  private struct Reader {
    let bytes: UnsafeBufferPointer<UInt8>
    var position = 0

    var atEnd: Bool { position >= bytes.count }

    mutating func skip(_ byte: UInt8) -> Bool {
      guard position < bytes.count, bytes[position] == byte else { return false }
      position += 1
      return true
    }

    /// A decimal integer (maybe negative) and the separator after it.
    mutating func integer(until separator: UInt8) -> Int64? {
      let negative = skip(UInt8(ascii: "-"))
      var value: Int64 = 0
      var digits = 0
      while position < bytes.count, bytes[position] >= 48, bytes[position] <= 57 {
        let (shifted, overflow) = value.multipliedReportingOverflow(by: 10)
        guard !overflow else { return nil }
        value = shifted + Int64(bytes[position] - 48)
        position += 1
        digits += 1
      }
      guard digits > 0, skip(separator) else { return nil }
      return negative ? -value : value
    }

    /// `N:` then N bytes of text.
    mutating func field() -> String? {
      guard let count = integer(until: UInt8(ascii: ":")), count >= 0,
        count <= bytes.count - position
      else { return nil }
      let start = position
      position += Int(count)
      return String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<position]), as: UTF8.self)
    }
  }

  /// `table` (rows of `transitions`) and `packed` (from task-run rows) as one history in
  /// sequence order, a sequence read once.
  package static func merged(_ table: [TransitionRecord], _ packed: [TransitionRecord])
    -> [TransitionRecord]
  {
    PackRuns.merged(table, packed, sequence: { $0.sequence })
  }
}

/// Engine steps of one run with consecutive sequences, as one row of `run_event_packs`: each
/// step's version and payload length (unsigned LEB128) then its payload, in order.
package struct RunEventPack: Sendable, Equatable {
  /// The run.
  package var flowRunID: UUID
  /// The first step's sequence.
  package var firstSequence: Int64
  /// The last step's sequence.
  package var lastSequence: Int64
  /// The packed steps.
  package var payload: Data

  /// `events` in packs: a pack ends where the run changes or a sequence is not the next.
  package static func packs(_ events: [RunEventRecord]) -> [RunEventPack] {
    PackRuns.packs(
      events, run: { $0.flowRunID }, sequence: { $0.sequence },
      write: { event, bytes in
        bytes.varint(UInt64(truncatingIfNeeded: event.version))
        bytes.chunk(event.payload)
      },
      make: { RunEventPack(flowRunID: $0, firstSequence: $1, lastSequence: $2, payload: $3) })
  }

  /// The pack's steps (nil for a payload that is not a pack of `lastSequence - firstSequence
  /// + 1` steps).
  package var events: [RunEventRecord]? {
    PackRuns.unpack(payload, first: firstSequence, last: lastSequence) { reader, sequence in
      guard let version = reader.varint(), let payload = reader.chunk() else { return nil }
      return RunEventRecord(
        flowRunID: flowRunID, sequence: sequence, payload: Data(payload),
        version: Int(truncatingIfNeeded: version))
    }
  }

  /// `rows` (of `run_events`) and the steps of `packs` as one history in sequence order after
  /// `sequence`, a sequence read once.
  package static func merged(
    _ rows: [RunEventRecord], _ packs: [RunEventPack], after sequence: Int64
  ) -> [RunEventRecord] {
    guard !packs.isEmpty else { return rows }
    return PackRuns.merged(
      rows, packs.flatMap { ($0.events ?? []).filter { $0.sequence > sequence } },
      sequence: { $0.sequence })
  }
}

/// Log records of one run with consecutive sequences, as one row of `log_packs`: each
/// record's time (zigzag LEB128 microseconds), level, message, the JSON of its other
/// metadata, a byte saying which of ``StoredLogMetadata/keys`` it has, and their values.
package struct RunLogPack: Sendable, Equatable {
  /// The run.
  package var flowRunID: UUID
  /// The first record's sequence.
  package var firstSequence: Int64
  /// The last record's sequence.
  package var lastSequence: Int64
  /// The packed records.
  package var payload: Data

  /// `logs` in packs: a pack ends where the run changes or a sequence is not the next.
  package static func packs(_ logs: [StoredLogRecord]) -> [RunLogPack] {
    PackRuns.packs(
      logs, run: { $0.flowRunID }, sequence: { $0.sequence },
      write: { log, bytes in
        let micros = RunStoreCoding.micros(log.time)
        bytes.varint(UInt64(bitPattern: (micros << 1) ^ (micros >> 63)))
        bytes.varint(UInt64(log.level.rank))
        bytes.string(log.message)
        let fields = log.fields
        bytes.string(fields.others.isEmpty ? "" : fields.rest)
        var present: UInt8 = 0
        for index in StoredLogMetadata.keys.indices where fields[column: index] != nil {
          present |= 1 << index
        }
        bytes.varint(UInt64(present))
        for index in StoredLogMetadata.keys.indices {
          if let value = fields[column: index] { bytes.string(value) }
        }
      },
      make: { RunLogPack(flowRunID: $0, firstSequence: $1, lastSequence: $2, payload: $3) })
  }

  /// The pack's records (nil for a payload that is not a pack of `lastSequence -
  /// firstSequence + 1` records).
  package var logs: [StoredLogRecord]? {
    PackRuns.unpack(payload, first: firstSequence, last: lastSequence) { reader, sequence in
      guard let zigzag = reader.varint(), let level = reader.varint(),
        let message = reader.string(), let rest = reader.string(), let present = reader.varint()
      else { return nil }
      let micros = Int64(bitPattern: zigzag >> 1) ^ -Int64(bitPattern: zigzag & 1)
      var fields = StoredLogMetadata()
      if !rest.isEmpty { fields.others = RunStoreCoding.decodeMap(rest) }
      for (index, key) in StoredLogMetadata.keys.enumerated() where present & (1 << index) != 0 {
        guard let value = reader.string() else { return nil }
        fields[key] = value
      }
      return StoredLogRecord(
        flowRunID: flowRunID, sequence: sequence, time: RunStoreCoding.date(micros),
        level: StoredLogLevel(rank: Int(level)), message: message, fields: fields)
    }
  }

  /// `rows` (of `logs`, each above `sequence` at `level` or above, up to `limit`) and the
  /// records of `packs` (ordered by first sequence) as one history in sequence order: the
  /// first `limit` above `sequence` at `level` or above, a sequence read once. Packs past
  /// those needed are not decoded.
  package static func merged(
    _ rows: [StoredLogRecord], _ packs: [RunLogPack], after sequence: Int64,
    level: StoredLogLevel, limit: Int
  ) -> [StoredLogRecord] {
    guard !packs.isEmpty else { return Array(rows.prefix(max(limit, 0))) }
    var packed: [StoredLogRecord] = []
    for pack in packs {
      // Packs come by first sequence: once `limit` records are in hand, a pack starting
      // after the last of them adds nothing to the first `limit`.
      if packed.count >= limit, let last = packed.last, pack.firstSequence > last.sequence {
        break
      }
      for log in pack.logs ?? [] where log.sequence > sequence && log.level >= level {
        packed.append(log)
      }
    }
    return Array(PackRuns.merged(rows, packed, sequence: { $0.sequence }).prefix(max(limit, 0)))
  }
}

/// Packing records of one run with consecutive sequences into byte strings, and back.
private enum PackRuns {
  static func packs<Record, Pack>(
    _ records: [Record], run: (Record) -> UUID, sequence: (Record) -> Int64,
    write: (Record, inout PackWriter) -> Void, make: (UUID, Int64, Int64, Data) -> Pack
  ) -> [Pack] {
    var packs: [Pack] = []
    var writer = PackWriter()
    var current: (run: UUID, first: Int64, last: Int64)?
    for record in records {
      let id = run(record)
      let number = sequence(record)
      if let open = current, open.run == id, open.last &+ 1 == number {
        current?.last = number
      } else {
        if let open = current {
          packs.append(make(open.run, open.first, open.last, Data(writer.bytes)))
          writer.bytes.removeAll(keepingCapacity: true)
        }
        current = (id, number, number)
      }
      write(record, &writer)
    }
    if let open = current {
      packs.append(make(open.run, open.first, open.last, Data(writer.bytes)))
    }
    return packs
  }

  static func unpack<Record>(
    _ payload: Data, first: Int64, last: Int64,
    _ read: (inout PackReader, Int64) -> Record?
  ) -> [Record]? {
    let bytes = [UInt8](payload)
    var reader = PackReader(bytes: bytes)
    var records: [Record] = []
    var sequence = first
    while !reader.atEnd {
      guard let record = read(&reader, sequence) else { return nil }
      records.append(record)
      sequence += 1
    }
    guard records.count == Int(last - first + 1) else { return nil }
    return records
  }

  /// `a` and `b` in sequence order, a sequence once (sorted by the sequences alone: the
  /// records are moved once, in their new order).
  static func merged<Record>(_ a: [Record], _ b: [Record], sequence: (Record) -> Int64)
    -> [Record]
  {
    guard !b.isEmpty else { return a }
    var all = a
    all.append(contentsOf: b)
    var order = all.indices.map { (sequence(all[$0]), $0) }
    order.sort { $0.0 < $1.0 || ($0.0 == $1.0 && $0.1 < $1.1) }
    var result: [Record] = []
    result.reserveCapacity(all.count)
    var last: Int64?
    for (number, index) in order where number != last {
      result.append(all[index])
      last = number
    }
    return result
  }
}

/// Appends LEB128 numbers and length-prefixed bytes.
private struct PackWriter {
  var bytes: [UInt8] = []

  mutating func varint(_ value: UInt64) {
    var value = value
    while value >= 0x80 {
      bytes.append(UInt8(value & 0x7f) | 0x80)
      value >>= 7
    }
    bytes.append(UInt8(value))
  }

  mutating func chunk(_ data: Data) {
    varint(UInt64(data.count))
    bytes.append(contentsOf: data)
  }

  mutating func string(_ text: String) {
    var text = text
    text.withUTF8 { utf8 in
      varint(UInt64(utf8.count))
      bytes.append(contentsOf: utf8)
    }
  }
}

/// Reads what ``PackWriter`` wrote.
private struct PackReader {
  let bytes: [UInt8]
  var position = 0

  var atEnd: Bool { position >= bytes.count }

  mutating func varint() -> UInt64? {
    var value: UInt64 = 0
    var shift: UInt64 = 0
    while position < bytes.count, shift < 64 {
      let byte = bytes[position]
      position += 1
      value |= UInt64(byte & 0x7f) << shift
      if byte < 0x80 { return value }
      shift += 7
    }
    return nil
  }

  mutating func chunk() -> ArraySlice<UInt8>? {
    guard let count = varint(), count <= UInt64(bytes.count - position) else { return nil }
    let start = position
    position += Int(count)
    return bytes[start..<position]
  }

  mutating func string() -> String? {
    chunk().map { String(decoding: $0, as: UTF8.self) }
  }
}

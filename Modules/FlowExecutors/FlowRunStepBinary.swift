import FlowState
import Foundation

/// The run recorder's compact binary form of a ``FlowRunStep`` (what a recorded run's event
/// history stores), and the reader of every form a store may hold.
///
/// A binary payload starts with ``FlowRunStepCoding/binaryMarker`` (a JSON payload, written by
/// older recorders, starts with `{`). Integers are LEB128 varints (signed ones zigzagged),
/// strings their length and UTF-8 bytes, dates the bit pattern of their seconds since the
/// reference date (exact), UUIDs their 16 bytes, enum cases one tag byte. Values and errors are
/// recorded as the JSON form records them: by their type's name and their description.
public enum FlowRunStepCoding {
  /// The first byte of a binary payload (format 1).
  public static let binaryMarker: UInt8 = 0xB1

  /// `step` in the compact binary form.
  public static func binary(_ step: FlowRunStep) -> Data {
    var writer = FlowRunStepWriter()
    return writer.encode(step)
  }

  /// Reads a recorded step: the binary form, or the JSON an older recorder wrote.
  public static func decode(_ payload: Data) throws -> FlowRunStep {
    guard payload.first == binaryMarker else {
      return try JSONDecoder().decode(FlowRunStep.self, from: payload)
    }
    return try payload.withUnsafeBytes { raw in
      var reader = FlowRunStepReader(raw.bindMemory(to: UInt8.self))
      return try reader.step()
    }
  }
}

/// A recorded step that cannot be read: where, and what was wrong.
public struct FlowRunStepDecodingError: Error, CustomStringConvertible {
  /// The byte offset where reading stopped.
  public let offset: Int
  /// What was wrong there.
  public let problem: String

  /// `step payload damaged at byte N: ...`.
  public var description: String {
    "a recorded engine step cannot be read (byte \(offset): \(problem)); the history is damaged "
      + "or was written by a newer version"
  }
}

/// Writes steps into bytes; reusable across steps (it keeps the type names it has seen).
struct FlowRunStepWriter {
  private var bytes: [UInt8] = []
  private var typeNames: [ObjectIdentifier: String] = [:]

  init() { bytes.reserveCapacity(256) }

  /// `step` in the binary form.
  mutating func encode(_ step: FlowRunStep) -> Data {
    bytes.removeAll(keepingCapacity: true)
    bytes.append(FlowRunStepCoding.binaryMarker)
    int(step.version)
    int(step.sequence)
    event(step.event)
    unsigned(UInt64(step.actions.count))
    for action in step.actions { self.action(action) }
    return Data(bytes)
  }

  // MARK: Primitives

  private mutating func unsigned(_ value: UInt64) {
    var value = value
    while value >= 0x80 {
      bytes.append(UInt8(truncatingIfNeeded: value) | 0x80)
      value >>= 7
    }
    bytes.append(UInt8(value))
  }

  private mutating func int(_ value: Int) {
    let value = Int64(value)
    unsigned(UInt64(bitPattern: (value << 1) ^ (value >> 63)))
  }

  private mutating func tag(_ value: UInt8) { bytes.append(value) }

  private mutating func bool(_ value: Bool) { bytes.append(value ? 1 : 0) }

  private mutating func fixed(_ value: UInt64) {
    withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
  }

  private mutating func date(_ value: Date) {
    fixed(value.timeIntervalSinceReferenceDate.bitPattern)
  }

  private mutating func date(_ value: Date?) {
    guard let value else { return tag(0) }
    tag(1)
    date(value)
  }

  private mutating func string(_ value: String) {
    var value = value
    value.withUTF8 { utf8 in
      unsigned(UInt64(utf8.count))
      bytes.append(contentsOf: utf8)
    }
  }

  private mutating func string(_ value: String?) {
    guard let value else { return tag(0) }
    tag(1)
    string(value)
  }

  private mutating func uuid(_ value: UUID) {
    withUnsafeBytes(of: value.uuid) { bytes.append(contentsOf: $0) }
  }

  private mutating func key(_ key: TaskRunKey) {
    unsigned(UInt64(key.node))
    // 0: no map index; n + 1: index n.
    unsigned(key.mapIndex.map { UInt64($0) + 1 } ?? 0)
  }

  /// A value's type name (cached by type: reflecting a name costs more than the rest).
  private mutating func value(_ value: any Sendable) {
    let type = type(of: value)
    if type == RecordedValue.self, let recorded = value as? RecordedValue {
      return string(recorded.typeName)
    }
    let id = ObjectIdentifier(type)
    if let name = typeNames[id] { return string(name) }
    let name = FlowValues.typeName(of: value)
    typeNames[id] = name
    string(name)
  }

  private mutating func values(_ values: FlowValues) {
    unsigned(UInt64(values.values.count))
    for element in values.values { value(element) }
  }

  private mutating func error(_ error: RecordedError) { string(error.description) }

  private mutating func state(_ recorded: RecordedRunState) {
    let state = recorded.state
    tag(state.kind.rawValue)
    string(state.message)
    date(state.scheduledAt)
    if let result = state.result {
      tag(1)
      value(result)
    } else {
      tag(0)
    }
    if let failure = state.error {
      tag(1)
      error(RecordedError(failure))
    } else {
      tag(0)
    }
  }

  private mutating func subject(_ subject: FlowRunSubject) {
    switch subject {
    case .flow: tag(0)
    case .task(let key):
      tag(1)
      self.key(key)
    }
  }

  // MARK: Events and actions

  private mutating func event(_ event: FlowRunEvent) {
    switch event {
    case .started(let start):
      tag(1)
      string(start.flowName)
      uuid(start.flowRunID)
      fixed(start.idSeed)
      int(start.width)
      unsigned(UInt64(start.parameters.count))
      for name in start.parameters.keys.sorted() {
        string(name)
        value(start.parameters[name]!.value)
      }
      unsigned(UInt64(start.approvals.count))
      for approval in start.approvals { string(approval) }
      bool(start.resuming)
      date(start.at)
    case .transitioned(let subject, let state):
      tag(2)
      self.subject(subject)
      self.state(state)
    case .inputsSplit(let node, let elements):
      tag(3)
      unsigned(UInt64(node))
      unsigned(UInt64(elements.count))
      for element in elements { values(element) }
    case .collected(let node, let output):
      tag(4)
      unsigned(UInt64(node))
      value(output.value)
    case .resultLooked(let key, let lookup):
      tag(5)
      self.key(key)
      switch lookup {
      case .cached(let state):
        tag(1)
        self.state(state)
      case .failed(let failure):
        tag(2)
        error(failure)
      case .run(let notes):
        tag(3)
        unsigned(UInt64(notes.count))
        for note in notes { string(note) }
      }
    case .attemptFinished(let key, let attempt, let outcome, let at):
      tag(6)
      self.key(key)
      int(attempt)
      switch outcome {
      case .succeeded(let output):
        tag(1)
        value(output.value)
      case .skipped(let reason):
        tag(2)
        string(reason)
      case .cancelled(let failure):
        tag(3)
        error(failure)
      case .looped(let payload):
        tag(4)
        value(payload.value)
      case .failed(let failure):
        tag(5)
        error(failure.error)
        bool(failure.timedOut)
        bool(failure.retryable)
        bool(failure.killedWorker)
        fixed(failure.draw)
      }
      date(at)
    case .attemptCrashed(let key, let message, let rescheduled, let at):
      tag(7)
      self.key(key)
      string(message)
      bool(rescheduled)
      date(at)
    case .resultPersisted(let key, let failure, let at):
      tag(8)
      self.key(key)
      if let failure {
        tag(1)
        error(failure)
      } else {
        tag(0)
      }
      date(at)
    case .timerFired(let key, let at):
      tag(9)
      self.key(key)
      date(at)
    case .cancelRequested(let at):
      tag(10)
      date(at)
    case .conditionsChecked(let node, let unmet):
      tag(11)
      unsigned(UInt64(node))
      unsigned(unmet.map { UInt64($0) + 1 } ?? 0)
    }
  }

  private mutating func action(_ action: FlowRunAction) {
    switch action {
    case .transition(let subject, let from, let to):
      tag(1)
      self.subject(subject)
      state(from)
      state(to)
    case .splitInputs(let node, let positions, let values):
      tag(2)
      unsigned(UInt64(node))
      unsigned(UInt64(positions.count))
      for position in positions { int(position) }
      self.values(values)
    case .collect(let node, let outputs):
      tag(3)
      unsigned(UInt64(node))
      values(outputs)
    case .lookUpResult(let key, let taskRunID, let inputs, let resuming):
      tag(4)
      self.key(key)
      uuid(taskRunID)
      values(inputs)
      bool(resuming)
    case .startAttempt(let start):
      tag(5)
      key(start.key)
      uuid(start.taskRunID)
      int(start.attempt)
      values(start.inputs)
      date(start.deadline)
      if let loop = start.loop {
        tag(1)
        int(loop.count)
        value(loop.payload.value)
      } else {
        tag(0)
      }
    case .persistResult(let key, let taskRunID, let inputs, let output):
      tag(6)
      self.key(key)
      uuid(taskRunID)
      values(inputs)
      value(output.value)
    case .setTimer(let key, let due):
      tag(7)
      self.key(key)
      date(due)
    case .checkConditions(let node, let values):
      tag(8)
      unsigned(UInt64(node))
      self.values(values)
    case .log(let entry):
      tag(9)
      log(entry)
    case .finished(let state):
      tag(10)
      self.state(state)
    }
  }

  private mutating func log(_ entry: FlowRunLogEntry) {
    switch entry {
    case .flowStarted(let at):
      tag(1)
      date(at)
    case .taskStarted(let key, let taskRunID, let attempt, let at):
      tag(2)
      self.key(key)
      uuid(taskRunID)
      int(attempt)
      date(at)
    case .taskRetrying(let key, let taskRunID, let attempt, let reason, let at):
      tag(3)
      self.key(key)
      uuid(taskRunID)
      int(attempt)
      string(reason)
      date(at)
    case .taskLooped(let key, let taskRunID, let iteration, let at):
      tag(4)
      self.key(key)
      uuid(taskRunID)
      int(iteration)
      date(at)
    case .taskFinished(let key, let taskRunID, let attempts, let state, let reason, let at):
      tag(5)
      self.key(key)
      uuid(taskRunID)
      int(attempts)
      tag(state.kind.rawValue)
      string(reason)
      date(at)
    }
  }
}

/// Reads the binary form back (values and errors as stand-ins, like the JSON reader's).
struct FlowRunStepReader {
  private let bytes: UnsafeBufferPointer<UInt8>
  private var offset = 0

  init(_ bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

  mutating func step() throws -> FlowRunStep {
    guard try byte() == FlowRunStepCoding.binaryMarker else { throw fail("not a binary step") }
    let version = try int()
    let sequence = try int()
    let event = try self.event()
    let count = try length()
    var actions: [FlowRunAction] = []
    actions.reserveCapacity(count)
    for _ in 0..<count { actions.append(try action()) }
    guard offset == bytes.count else { throw fail("\(bytes.count - offset) bytes left over") }
    return FlowRunStep(version: version, sequence: sequence, event: event, actions: actions)
  }

  // MARK: Primitives

  private func fail(_ problem: String) -> FlowRunStepDecodingError {
    FlowRunStepDecodingError(offset: offset, problem: problem)
  }

  private mutating func byte() throws -> UInt8 {
    guard offset < bytes.count else { throw fail("ends early") }
    defer { offset += 1 }
    return bytes[offset]
  }

  private mutating func unsigned() throws -> UInt64 {
    var result: UInt64 = 0
    var shift: UInt64 = 0
    while true {
      let next = try byte()
      guard shift < 64 else { throw fail("varint too long") }
      result |= UInt64(next & 0x7F) << shift
      if next & 0x80 == 0 { return result }
      shift += 7
    }
  }

  /// A count or index, bounded by what is left to read (a damaged length never allocates).
  private mutating func length() throws -> Int {
    let value = try unsigned()
    guard value <= UInt64(bytes.count - offset) else { throw fail("length \(value) too large") }
    return Int(value)
  }

  private mutating func node() throws -> Int {
    let value = try unsigned()
    guard value <= UInt64(Int32.max) else { throw fail("node \(value) out of range") }
    return Int(value)
  }

  private mutating func int() throws -> Int {
    let raw = try unsigned()
    let value = Int64(bitPattern: (raw >> 1) ^ (0 &- (raw & 1)))
    return Int(value)
  }

  private mutating func bool() throws -> Bool {
    switch try byte() {
    case 0: return false
    case 1: return true
    case let other: throw fail("bad flag \(other)")
    }
  }

  private mutating func present() throws -> Bool { try bool() }

  private mutating func fixed() throws -> UInt64 {
    guard bytes.count - offset >= 8 else { throw fail("ends early") }
    var value: UInt64 = 0
    for index in 0..<8 { value |= UInt64(bytes[offset + index]) << (8 * UInt64(index)) }
    offset += 8
    return value
  }

  private mutating func date() throws -> Date {
    Date(timeIntervalSinceReferenceDate: Double(bitPattern: try fixed()))
  }

  private mutating func dateIfPresent() throws -> Date? {
    try present() ? try date() : nil
  }

  private mutating func string() throws -> String {
    let count = try length()
    defer { offset += count }
    return String(
      decoding: UnsafeBufferPointer(rebasing: bytes[offset..<offset + count]), as: UTF8.self)
  }

  private mutating func optionalString() throws -> String? {
    try present() ? try string() : nil
  }

  private mutating func uuid() throws -> UUID {
    guard bytes.count - offset >= 16 else { throw fail("ends early") }
    let b = bytes
    let o = offset
    offset += 16
    return UUID(
      uuid: (
        b[o], b[o + 1], b[o + 2], b[o + 3], b[o + 4], b[o + 5], b[o + 6], b[o + 7], b[o + 8],
        b[o + 9], b[o + 10], b[o + 11], b[o + 12], b[o + 13], b[o + 14], b[o + 15]
      ))
  }

  private mutating func key() throws -> TaskRunKey {
    let node = try node()
    let index = try unsigned()
    guard index <= UInt64(Int32.max) else { throw fail("map index \(index) out of range") }
    return TaskRunKey(node: node, mapIndex: index == 0 ? nil : Int(index) - 1)
  }

  private mutating func kind() throws -> RunState.Kind {
    let raw = try byte()
    guard Int(raw) < RunState.Kind.all.count else { throw fail("unknown state kind \(raw)") }
    return RunState.Kind.all[Int(raw)]
  }

  private mutating func value() throws -> FlowValue {
    FlowValue(RecordedValue(typeName: try string()))
  }

  private mutating func values() throws -> FlowValues {
    let count = try length()
    var values: [any Sendable] = []
    values.reserveCapacity(count)
    for _ in 0..<count { values.append(RecordedValue(typeName: try string())) }
    return FlowValues(values)
  }

  private mutating func error() throws -> RecordedError {
    RecordedError(RecordedDescription(description: try string()))
  }

  private mutating func state() throws -> RecordedRunState {
    let kind = try kind()
    let message = try optionalString()
    let scheduledAt = try dateIfPresent()
    let result = try present() ? try value().value : nil
    let error = try present() ? try self.error() : nil
    return RecordedRunState(
      RunState(kind, message: message, error: error, result: result, scheduledAt: scheduledAt))
  }

  private mutating func subject() throws -> FlowRunSubject {
    switch try byte() {
    case 0: return .flow
    case 1: return .task(try key())
    case let other: throw fail("unknown subject \(other)")
    }
  }

  private mutating func optionalIndex() throws -> Int? {
    let raw = try unsigned()
    guard raw <= UInt64(Int32.max) else { throw fail("index \(raw) out of range") }
    return raw == 0 ? nil : Int(raw) - 1
  }

  // MARK: Events and actions

  private mutating func event() throws -> FlowRunEvent {
    switch try byte() {
    case 1:
      let flowName = try string()
      let flowRunID = try uuid()
      let idSeed = try fixed()
      let width = try int()
      var parameters: [String: FlowValue] = [:]
      let parameterCount = try length()
      for _ in 0..<parameterCount {
        let name = try string()
        parameters[name] = try value()
      }
      var approvals: [String] = []
      let approvalCount = try length()
      for _ in 0..<approvalCount { approvals.append(try string()) }
      let resuming = try bool()
      let at = try date()
      return .started(
        FlowRunStart(
          flowName: flowName, flowRunID: flowRunID, idSeed: idSeed, width: width,
          parameters: parameters, approvals: approvals, resuming: resuming, at: at))
    case 2:
      let subject = try subject()
      return .transitioned(subject, try state())
    case 3:
      let node = try node()
      var elements: [FlowValues] = []
      let elementCount = try length()
      for _ in 0..<elementCount { elements.append(try values()) }
      return .inputsSplit(node: node, elements: elements)
    case 4:
      let node = try node()
      return .collected(node: node, output: try value())
    case 5:
      let key = try key()
      let lookup: ResultLookup
      switch try byte() {
      case 1: lookup = .cached(try state())
      case 2: lookup = .failed(try error())
      case 3:
        var notes: [String] = []
        let noteCount = try length()
        for _ in 0..<noteCount { notes.append(try string()) }
        lookup = .run(notes: notes)
      case let other: throw fail("unknown lookup answer \(other)")
      }
      return .resultLooked(key, lookup)
    case 6:
      let key = try key()
      let attempt = try int()
      let outcome: AttemptOutcome
      switch try byte() {
      case 1: outcome = .succeeded(try value())
      case 2: outcome = .skipped(reason: try string())
      case 3: outcome = .cancelled(try error())
      case 4: outcome = .looped(payload: try value())
      case 5:
        let error = try error()
        let timedOut = try bool()
        let retryable = try bool()
        let killedWorker = try bool()
        outcome = .failed(
          AttemptFailure(
            error: error, timedOut: timedOut, retryable: retryable, killedWorker: killedWorker,
            draw: try fixed()))
      case let other: throw fail("unknown attempt outcome \(other)")
      }
      return .attemptFinished(key, attempt: attempt, outcome, at: try date())
    case 7:
      let key = try key()
      let message = try string()
      let rescheduled = try bool()
      return .attemptCrashed(key, message: message, rescheduled: rescheduled, at: try date())
    case 8:
      let key = try key()
      let failure = try present() ? try error() : nil
      return .resultPersisted(key, failure: failure, at: try date())
    case 9:
      let key = try key()
      return .timerFired(key, at: try date())
    case 10: return .cancelRequested(at: try date())
    case 11:
      let node = try node()
      return .conditionsChecked(node: node, unmet: try optionalIndex())
    case let other: throw fail("unknown event \(other)")
    }
  }

  private mutating func action() throws -> FlowRunAction {
    switch try byte() {
    case 1:
      let subject = try subject()
      let from = try state()
      return .transition(subject, from: from, to: try state())
    case 2:
      let node = try node()
      var positions: [Int] = []
      let positionCount = try length()
      for _ in 0..<positionCount { positions.append(try int()) }
      return .splitInputs(node: node, positions: positions, values: try values())
    case 3:
      let node = try node()
      return .collect(node: node, outputs: try values())
    case 4:
      let key = try key()
      let taskRunID = try uuid()
      let inputs = try values()
      return .lookUpResult(key, taskRunID: taskRunID, inputs: inputs, resuming: try bool())
    case 5:
      let key = try key()
      let taskRunID = try uuid()
      let attempt = try int()
      let inputs = try values()
      let deadline = try dateIfPresent()
      var loop: LoopIteration?
      if try present() {
        let count = try int()
        loop = LoopIteration(count: count, payload: try value())
      }
      return .startAttempt(
        AttemptStart(
          key: key, taskRunID: taskRunID, attempt: attempt, inputs: inputs, deadline: deadline,
          loop: loop))
    case 6:
      let key = try key()
      let taskRunID = try uuid()
      let inputs = try values()
      return .persistResult(key, taskRunID: taskRunID, inputs: inputs, output: try value())
    case 7:
      let key = try key()
      return .setTimer(key, due: try date())
    case 8:
      let node = try node()
      return .checkConditions(node: node, values: try values())
    case 9: return .log(try log())
    case 10: return .finished(try state())
    case let other: throw fail("unknown action \(other)")
    }
  }

  private mutating func log() throws -> FlowRunLogEntry {
    switch try byte() {
    case 1: return .flowStarted(at: try date())
    case 2:
      let key = try key()
      let taskRunID = try uuid()
      let attempt = try int()
      return .taskStarted(key, taskRunID: taskRunID, attempt: attempt, at: try date())
    case 3:
      let key = try key()
      let taskRunID = try uuid()
      let attempt = try int()
      let reason = try string()
      return .taskRetrying(
        key, taskRunID: taskRunID, attempt: attempt, reason: reason, at: try date())
    case 4:
      let key = try key()
      let taskRunID = try uuid()
      let iteration = try int()
      return .taskLooped(key, taskRunID: taskRunID, iteration: iteration, at: try date())
    case 5:
      let key = try key()
      let taskRunID = try uuid()
      let attempts = try int()
      let kind = try kind()
      let reason = try optionalString()
      return .taskFinished(
        key, taskRunID: taskRunID, attempts: attempts, state: RecordedKind(kind), reason: reason,
        at: try date())
    case let other: throw fail("unknown log entry \(other)")
    }
  }
}

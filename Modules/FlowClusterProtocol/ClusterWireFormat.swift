import Foundation

/// The binary encoding of frames: a 4-byte big-endian body length, then the body: the magic
/// bytes `SF`, a message count, and the messages. Integers are LEB128 varints, strings and
/// byte strings are length-prefixed, doubles are 8 bytes big-endian.
public enum ClusterWireFormat {
  /// Bytes of the length prefix.
  public static let prefixSize = 4

  /// Encodes `messages` as one frame (prefix included).
  public static func encodeFrame(_ messages: [ClusterMessage]) -> [UInt8] {
    var writer = WireWriter()
    writer.bytes.reserveCapacity(64 + messages.count * 32)
    writer.bytes.append(contentsOf: [0, 0, 0, 0, ClusterProtocol.magic.0, ClusterProtocol.magic.1])
    writer.varint(UInt64(messages.count))
    for message in messages { writer.message(message) }
    let length = UInt32(writer.bytes.count - prefixSize)
    writer.bytes[0] = UInt8(truncatingIfNeeded: length >> 24)
    writer.bytes[1] = UInt8(truncatingIfNeeded: length >> 16)
    writer.bytes[2] = UInt8(truncatingIfNeeded: length >> 8)
    writer.bytes[3] = UInt8(truncatingIfNeeded: length)
    return writer.bytes
  }

  /// Reads a length prefix (the first 4 bytes of `bytes`).
  public static func bodyLength<C: Collection<UInt8>>(prefix bytes: C) -> Int {
    var length = 0
    for byte in bytes.prefix(prefixSize) { length = length << 8 | Int(byte) }
    return length
  }

  /// The most messages the scheduler accepts in one frame from a worker (which sends a
  /// handful: its results travel in one message): a frame of millions of tiny messages would
  /// otherwise cost far more memory than its bytes.
  public static let maxMessagesFromWorker = 4096

  /// Decodes a frame body (without its prefix) into its messages; more than `maxMessages`
  /// messages is a malformed frame.
  public static func decodeBody(_ body: [UInt8], maxMessages: Int = .max)
    throws(ClusterProtocolError) -> [ClusterMessage]
  {
    var reader = WireReader(body)
    guard body.count >= 2, body[0] == ClusterProtocol.magic.0, body[1] == ClusterProtocol.magic.1
    else {
      throw ClusterProtocolError(
        .malformedFrame,
        "the frame does not start with the protocol's magic bytes: the peer is not a swift-flow "
          + "worker or scheduler")
    }
    reader.offset = 2
    let count = try reader.count()
    guard count >= 1, count <= maxMessages else {
      throw ClusterProtocolError(
        .malformedFrame,
        "a frame claims \(count) messages"
          + (count > maxMessages ? ", more than the \(maxMessages) allowed" : ""))
    }
    var messages: [ClusterMessage] = []
    messages.reserveCapacity(count)
    for _ in 0..<count { messages.append(try reader.message()) }
    guard reader.offset == body.count else {
      throw ClusterProtocolError(
        .malformedFrame, "\(body.count - reader.offset) stray bytes after the last message")
    }
    return messages
  }
}

extension ClusterWireFormat {
  /// The largest frame body a peer may send before its handshake: one hello (worker name,
  /// token, resources and flow names) fits with room to spare.
  public static let maxHandshakeFrameSize = 64 << 10

  /// Decodes the first frame of a connection, which must hold exactly one hello. The protocol
  /// version and the token are read and checked first: when either is wrong, nothing else is
  /// decoded and the hello returned carries only them (the scheduler refuses it).
  ///
  /// - Parameters:
  ///   - body: The frame body (without its prefix), at most ``maxHandshakeFrameSize`` bytes.
  ///   - token: The token the scheduler expects, or nil to accept any.
  /// - Returns: The hello, and whether its version and token passed.
  public static func decodeHandshake(_ body: [UInt8], token: String?) throws(ClusterProtocolError)
    -> (hello: ClusterHello, accepted: Bool)
  {
    guard body.count <= maxHandshakeFrameSize else {
      throw ClusterProtocolError(
        .oversizedFrame,
        "a first frame of \(body.count) bytes exceeds the \(maxHandshakeFrameSize) bytes a "
          + "hello may take before the handshake")
    }
    guard body.count >= 2, body[0] == ClusterProtocol.magic.0, body[1] == ClusterProtocol.magic.1
    else {
      throw ClusterProtocolError(
        .malformedFrame,
        "the frame does not start with the protocol's magic bytes: the peer is not a swift-flow "
          + "worker or scheduler")
    }
    var reader = WireReader(body)
    reader.offset = 2
    let count = try reader.count()
    guard count == 1, try reader.byte() == ClusterMessageKind.hello.tag else {
      throw ClusterProtocolError(
        .outOfOrder, "the first frame must hold exactly one message, a hello")
    }
    let (version, given) = try reader.helloCredentials()
    let rejected = (
      ClusterHello(protocolVersion: version, workerName: "", capacity: 0, token: given), false
    )
    guard version == ClusterProtocol.version else { return rejected }
    if let token, !sameToken(token, given) { return rejected }
    let hello = try reader.helloRest(version: version, token: given)
    guard reader.offset == body.count else {
      throw ClusterProtocolError(
        .malformedFrame, "\(body.count - reader.offset) stray bytes after the hello")
    }
    return (hello, true)
  }

  /// Compares two tokens in time that depends only on their lengths.
  public static func sameToken(_ expected: String, _ given: String) -> Bool {
    let a = Array(expected.utf8)
    let b = Array(given.utf8)
    var difference = UInt8(a.count == b.count ? 0 : 1)
    for index in 0..<max(a.count, b.count) {
      difference |= (index < a.count ? a[index] : 0) ^ (index < b.count ? b[index] : 0)
    }
    return difference == 0
  }
}

/// Splits a byte stream into frames, rejecting oversized and malformed ones.
public struct ClusterFrameDecoder: Sendable {
  /// The largest accepted frame body.
  public let maxFrameSize: Int
  private var buffer: [UInt8] = []
  private var start = 0

  /// Creates a decoder.
  public init(maxFrameSize: Int = ClusterProtocol.defaultMaxFrameSize) {
    self.maxFrameSize = maxFrameSize
  }

  /// Bytes received but not yet part of a whole frame.
  public var bufferedByteCount: Int { buffer.count - start }

  /// Adds received bytes.
  public mutating func append<C: Collection<UInt8>>(_ bytes: C) {
    if start > 0, start == buffer.count {
      buffer.removeAll(keepingCapacity: true)
      start = 0
    }
    buffer.append(contentsOf: bytes)
  }

  /// The messages of the next whole frame, or nil when more bytes are needed.
  public mutating func next() throws(ClusterProtocolError) -> [ClusterMessage]? {
    guard buffer.count - start >= ClusterWireFormat.prefixSize else { return nil }
    let length = ClusterWireFormat.bodyLength(prefix: buffer[start...])
    guard length <= maxFrameSize else {
      throw ClusterProtocolError(
        .oversizedFrame,
        "a frame of \(length) bytes exceeds the limit of \(maxFrameSize) bytes; send smaller "
          + "task inputs and outputs (persist big values in a result store) or raise the limit")
    }
    let bodyStart = start + ClusterWireFormat.prefixSize
    guard buffer.count - bodyStart >= length else { return nil }
    let body = Array(buffer[bodyStart..<(bodyStart + length)])
    start = bodyStart + length
    if start == buffer.count {
      buffer.removeAll(keepingCapacity: true)
      start = 0
    } else if start > 1 << 16 {
      buffer.removeFirst(start)
      start = 0
    }
    return try ClusterWireFormat.decodeBody(body)
  }

  /// Checks that the stream ended between frames.
  public func finish() throws(ClusterProtocolError) {
    if buffered > 0 {
      throw ClusterProtocolError(
        .truncated, "the connection closed in the middle of a frame (\(buffered) bytes left)")
    }
  }

  private var buffered: Int { buffer.count - start }
}

/// Writes the wire format's primitives (shared with the runtime's value coding).
package struct WireWriter {
  package var bytes: [UInt8] = []

  package init() {}

  package mutating func varint(_ value: UInt64) {
    var value = value
    while value >= 0x80 {
      bytes.append(UInt8(truncatingIfNeeded: value) | 0x80)
      value >>= 7
    }
    bytes.append(UInt8(value))
  }

  package mutating func int(_ value: Int) {
    // Zig-zag, so that small negative numbers stay short.
    varint(UInt64(bitPattern: Int64((value << 1) ^ (value >> 63))))
  }

  package mutating func string(_ value: String) {
    var value = value
    value.withUTF8 { utf8 in
      varint(UInt64(utf8.count))
      bytes.append(contentsOf: utf8)
    }
  }

  package mutating func blob(_ value: [UInt8]) {
    varint(UInt64(value.count))
    bytes.append(contentsOf: value)
  }

  package mutating func double(_ value: Double) {
    let bits = value.bitPattern
    for shift in stride(from: 56, through: 0, by: -8) {
      bytes.append(UInt8(truncatingIfNeeded: bits >> UInt64(shift)))
    }
  }

  package mutating func strings(_ values: [String: String]) {
    varint(UInt64(values.count))
    for key in values.keys.sorted() {
      string(key)
      string(values[key]!)
    }
  }

  package mutating func message(_ message: ClusterMessage) {
    switch message {
    case .hello(let hello):
      // The version and the token come first: the scheduler checks them before it decodes
      // anything else an unauthenticated peer sent.
      bytes.append(ClusterMessageKind.hello.tag)
      varint(UInt64(hello.protocolVersion))
      string(hello.token)
      string(hello.workerName)
      int(hello.capacity)
      varint(UInt64(hello.resources.count))
      for key in hello.resources.keys.sorted() {
        string(key)
        double(hello.resources[key]!)
      }
      varint(UInt64(hello.flows.count))
      for flow in hello.flows { string(flow) }
    case .welcome(let workerID, let heartbeat):
      bytes.append(ClusterMessageKind.welcome.tag)
      varint(workerID)
      int(heartbeat)
    case .refused(let reason):
      bytes.append(ClusterMessageKind.refused.tag)
      string(reason)
    case .assign(let assignments):
      bytes.append(ClusterMessageKind.assign.tag)
      varint(UInt64(assignments.count))
      for assignment in assignments {
        varint(assignment.taskID)
        string(assignment.flow)
        string(assignment.task)
        int(assignment.attempt)
        int(assignment.mapIndex)
        varint(UInt64(assignment.inputs.count))
        for input in assignment.inputs { blob(input) }
        varint(assignment.run)
        uuid(assignment.taskRunID)
        // One byte outside loops and conditional starts: the loop count (0 outside loops)
        // times 2, plus 1 for a conditional start (version 5); then the loop's payload, then
        // the attempt it runs after.
        let looped = assignment.loopCount != 1 || !assignment.loopPayload.isEmpty
        let loop = looped ? UInt64(max(1, assignment.loopCount)) : 0
        varint(loop << 1 | (assignment.after == nil ? 0 : 1))
        if looped { blob(assignment.loopPayload) }
        if let after = assignment.after { varint(after) }
      }
    case .results(let results):
      bytes.append(ClusterMessageKind.results.tag)
      varint(UInt64(results.count))
      for result in results {
        varint(result.taskID)
        // The outcome (0 success, 1 failure, 2 failure with an error type) in the low bits;
        // version 6: `reportFlag` when an attempt report follows the run time,
        // `reportLoadFlag` when it carries the host's load.
        var flags: UInt8 = 0
        if let report = result.report {
          flags = Self.reportFlag | (report.load == nil ? 0 : Self.reportLoadFlag)
        }
        switch result.outcome {
        case .success(let payload):
          bytes.append(flags)
          blob(payload)
        case .failure(let code, let message):
          bytes.append(flags | (result.error == nil ? 1 : 2))
          string(code)
          string(message)
          if let error = result.error {
            string(error.typeName)
            blob(error.payload ?? [])
          }
        }
        varint(UInt64(result.logs.count))
        for log in result.logs {
          double(log.time)
          string(log.level)
          string(log.message)
          strings(log.metadata)
        }
        varint(result.runNanoseconds)
        if let report = result.report { self.report(report) }
      }
    case .heartbeat(let running):
      bytes.append(ClusterMessageKind.heartbeat.tag)
      int(running)
    case .outputPart(let id, let part):
      bytes.append(ClusterMessageKind.outputPart.tag)
      varint(id)
      blob(part)
    case .cancel(let ids):
      bytes.append(ClusterMessageKind.cancel.tag)
      varint(UInt64(ids.count))
      for id in ids { varint(id) }
    case .drain:
      bytes.append(ClusterMessageKind.drain.tag)
    case .draining:
      bytes.append(ClusterMessageKind.draining.tag)
    case .handBack(let ids):
      bytes.append(ClusterMessageKind.handBack.tag)
      varint(UInt64(ids.count))
      for id in ids { varint(id) }
    case .goodbye(let reason):
      bytes.append(ClusterMessageKind.goodbye.tag)
      string(reason)
    case .runContext(let context):
      bytes.append(ClusterMessageKind.runContext.tag)
      varint(context.run)
      uuid(context.flowRunID)
      if let time = context.scheduledStartTime {
        bytes.append(1)
        double(time)
      } else {
        bytes.append(0)
      }
      strings(context.parameters)
    }
  }

  /// A result's outcome byte: an attempt report follows (version 6).
  static let reportFlag: UInt8 = 0x04
  /// A result's outcome byte: the attempt report carries the host's load.
  static let reportLoadFlag: UInt8 = 0x08

  /// An attempt report without its worker's name and outcome (the result carries them): the
  /// thread, the thread count and the running count as varints, the start and the end as
  /// seconds since 1970, then the load when the outcome byte says so.
  mutating func report(_ report: ClusterAttemptReport) {
    varint(UInt64(max(0, report.thread)))
    varint(UInt64(max(0, report.threads)))
    varint(UInt64(max(0, report.running)))
    double(report.started.timeIntervalSince1970)
    double(report.ended.timeIntervalSince1970)
    if let load = report.load { double(load) }
  }

  /// A UUID as 16 bytes after a length (0 for none).
  package mutating func uuid(_ value: UUID?) {
    guard let value else { return bytes.append(0) }
    bytes.append(16)
    withUnsafeBytes(of: value.uuid) { bytes.append(contentsOf: $0) }
  }
}

/// Reads the wire format's primitives (shared with the runtime's value coding).
package struct WireReader {
  package let bytes: [UInt8]
  package var offset = 0

  package init(_ bytes: [UInt8]) { self.bytes = bytes }

  private func malformed(_ what: String) -> ClusterProtocolError {
    ClusterProtocolError(.malformedFrame, "\(what) at byte \(offset) of the frame")
  }

  package mutating func byte() throws(ClusterProtocolError) -> UInt8 {
    guard offset < bytes.count else { throw malformed("the frame ends too early") }
    defer { offset += 1 }
    return bytes[offset]
  }

  package mutating func varint() throws(ClusterProtocolError) -> UInt64 {
    var value: UInt64 = 0
    var shift: UInt64 = 0
    while true {
      let byte = try byte()
      guard shift < 64 else { throw malformed("an integer is too long") }
      value |= UInt64(byte & 0x7F) << shift
      if byte & 0x80 == 0 { return value }
      shift += 7
    }
  }

  /// A non-negative count or length that fits in what is left of the frame.
  package mutating func count() throws(ClusterProtocolError) -> Int {
    let value = try varint()
    guard value <= UInt64(bytes.count - offset) else {
      throw malformed("a length of \(value) exceeds the frame")
    }
    return Int(value)
  }

  package mutating func int() throws(ClusterProtocolError) -> Int {
    let raw = try varint()
    return Int(truncatingIfNeeded: Int64(bitPattern: (raw >> 1) ^ (0 &- (raw & 1))))
  }

  package mutating func blob() throws(ClusterProtocolError) -> [UInt8] {
    let length = try count()
    defer { offset += length }
    return Array(bytes[offset..<(offset + length)])
  }

  package mutating func string() throws(ClusterProtocolError) -> String {
    let length = try count()
    defer { offset += length }
    // Validated straight from the frame's contiguous bytes (the generic slice path costs the
    // scheduler a large share of decoding each result's log record).
    let start = offset
    let text = bytes.withUnsafeBufferPointer { buffer in
      String(
        validating: UnsafeBufferPointer(rebasing: buffer[start..<(start + length)]), as: UTF8.self)
    }
    guard let text else { throw malformed("a string is not valid UTF-8") }
    return text
  }

  package mutating func double() throws(ClusterProtocolError) -> Double {
    guard bytes.count - offset >= 8 else { throw malformed("the frame ends inside a number") }
    var bits: UInt64 = 0
    for _ in 0..<8 { bits = bits << 8 | UInt64(try byte()) }
    return Double(bitPattern: bits)
  }

  package mutating func strings() throws(ClusterProtocolError) -> [String: String] {
    let count = try count()
    // Room for one more: the scheduler adds the worker's name to each record's metadata.
    var result: [String: String] = Dictionary(minimumCapacity: min(count, 1_024) + 1)
    for _ in 0..<count {
      let key = try string()
      result[key] = try string()
    }
    return result
  }

  /// A varint that fits in an `Int`.
  package mutating func natural() throws(ClusterProtocolError) -> Int {
    let value = try varint()
    guard value <= UInt64(Int.max) else { throw malformed("a count of \(value) overflows") }
    return Int(value)
  }

  /// An attempt report (see `WireWriter.report(_:)`) of a result that ended with `outcome`;
  /// its worker's name is left empty for the scheduler to fill in.
  mutating func report(_ outcome: ClusterTaskOutcome, load: Bool) throws(ClusterProtocolError)
    -> ClusterAttemptReport
  {
    let thread = try natural()
    let threads = try natural()
    let running = try natural()
    let started = try double()
    let ended = try double()
    let hostLoad = load ? try double() : nil
    var succeeded = false
    if case .success = outcome { succeeded = true }
    return ClusterAttemptReport(
      worker: "", thread: thread, threads: threads, running: running,
      started: Date(timeIntervalSince1970: started), ended: Date(timeIntervalSince1970: ended),
      load: hostLoad, succeeded: succeeded)
  }

  package mutating func ids() throws(ClusterProtocolError) -> [ClusterTaskID] {
    let count = try count()
    var ids: [ClusterTaskID] = []
    ids.reserveCapacity(count)
    for _ in 0..<count { ids.append(try varint()) }
    return ids
  }

  package mutating func uuid() throws(ClusterProtocolError) -> UUID? {
    let length = try count()
    if length == 0 { return nil }
    guard length == 16 else { throw malformed("a UUID of \(length) bytes") }
    var raw: uuid_t = (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0)
    withUnsafeMutableBytes(of: &raw) { target in
      bytes.withUnsafeBytes { source in
        target.copyMemory(from: UnsafeRawBufferPointer(rebasing: source[offset..<(offset + 16)]))
      }
    }
    offset += 16
    return UUID(uuid: raw)
  }

  /// The first fields of a hello (after its tag): the protocol version and the token.
  package mutating func helloCredentials() throws(ClusterProtocolError) -> (UInt16, String) {
    let version = try varint()
    guard version <= UInt64(UInt16.max) else { throw malformed("a protocol version overflows") }
    return (UInt16(version), try string())
  }

  /// The rest of a hello, after ``helloCredentials()``.
  package mutating func helloRest(version: UInt16, token: String) throws(ClusterProtocolError)
    -> ClusterHello
  {
    let name = try string()
    let capacity = try int()
    let resourceCount = try count()
    var resources: [String: Double] = [:]
    for _ in 0..<resourceCount {
      let key = try string()
      resources[key] = try double()
    }
    let flowCount = try count()
    var flows: [String] = []
    for _ in 0..<flowCount { flows.append(try string()) }
    return ClusterHello(
      protocolVersion: version, workerName: name, capacity: capacity, resources: resources,
      token: token, flows: flows)
  }

  package mutating func message() throws(ClusterProtocolError) -> ClusterMessage {
    let tag = try byte()
    switch tag {
    case ClusterMessageKind.hello.tag:
      let (version, token) = try helloCredentials()
      return .hello(try helloRest(version: version, token: token))
    case ClusterMessageKind.welcome.tag:
      return .welcome(workerID: try varint(), heartbeatMilliseconds: try int())
    case ClusterMessageKind.refused.tag:
      return .refused(reason: try string())
    case ClusterMessageKind.assign.tag:
      let count = try count()
      var assignments: [ClusterAssignment] = []
      assignments.reserveCapacity(count)
      for _ in 0..<count {
        let id = try varint()
        let flow = try string()
        let task = try string()
        let attempt = try int()
        let mapIndex = try int()
        let inputCount = try self.count()
        var inputs: [[UInt8]] = []
        inputs.reserveCapacity(inputCount)
        for _ in 0..<inputCount { inputs.append(try blob()) }
        let run = try varint()
        let taskRunID = try uuid()
        let flags = try varint()
        var loopCount = 1
        var loopPayload: [UInt8] = []
        if flags >> 1 != 0 {
          guard flags >> 1 <= UInt64(Int.max) else {
            throw malformed("a loop count of \(flags >> 1)")
          }
          loopCount = Int(flags >> 1)
          loopPayload = try blob()
        }
        let after: ClusterTaskID? = flags & 1 == 1 ? try varint() : nil
        assignments.append(
          ClusterAssignment(
            taskID: id, flow: flow, task: task, attempt: attempt, mapIndex: mapIndex,
            inputs: inputs, run: run, taskRunID: taskRunID, loopCount: loopCount,
            loopPayload: loopPayload, after: after))
      }
      return .assign(assignments)
    case ClusterMessageKind.results.tag:
      let count = try count()
      var results: [ClusterTaskResult] = []
      results.reserveCapacity(count)
      for _ in 0..<count {
        let id = try varint()
        let outcome: ClusterTaskOutcome
        var error: ClusterErrorInfo?
        let flags = try byte()
        let reportFlags = WireWriter.reportFlag | WireWriter.reportLoadFlag
        guard flags & reportFlags != WireWriter.reportLoadFlag else {
          offset -= 1
          throw malformed("a result's load without its attempt report")
        }
        switch flags & ~reportFlags {
        case 0: outcome = .success(try blob())
        case 1: outcome = .failure(code: try string(), message: try string())
        case 2:
          outcome = .failure(code: try string(), message: try string())
          let typeName = try string()
          let payload = try blob()
          error = ClusterErrorInfo(typeName: typeName, payload: payload.isEmpty ? nil : payload)
        case let other:
          offset -= 1
          throw malformed("unknown outcome \(other)")
        }
        let logCount = try self.count()
        var logs: [ClusterLogRecord] = []
        for _ in 0..<logCount {
          logs.append(
            ClusterLogRecord(
              time: try double(), level: try string(), message: try string(),
              metadata: try strings()))
        }
        let runNanoseconds = try varint()
        var report: ClusterAttemptReport?
        if flags & WireWriter.reportFlag != 0 {
          report = try self.report(outcome, load: flags & WireWriter.reportLoadFlag != 0)
        }
        results.append(
          ClusterTaskResult(
            taskID: id, outcome: outcome, logs: logs, error: error,
            runNanoseconds: runNanoseconds, report: report))
      }
      return .results(results)
    case ClusterMessageKind.heartbeat.tag: return .heartbeat(running: try int())
    case ClusterMessageKind.cancel.tag: return .cancel(try ids())
    case ClusterMessageKind.drain.tag: return .drain
    case ClusterMessageKind.draining.tag: return .draining
    case ClusterMessageKind.handBack.tag: return .handBack(try ids())
    case ClusterMessageKind.goodbye.tag: return .goodbye(reason: try string())
    case ClusterMessageKind.runContext.tag:
      let run = try varint()
      guard let flowRunID = try uuid() else { throw malformed("a run context without a run ID") }
      let time: Double? =
        switch try byte() {
        case 0: nil
        case 1: try double()
        case let other: throw malformed("unknown scheduled-start flag \(other)")
        }
      return .runContext(
        ClusterRunContext(
          run: run, flowRunID: flowRunID, scheduledStartTime: time, parameters: try strings()))
    case ClusterMessageKind.outputPart.tag:
      return .outputPart(try varint(), try blob())
    default:
      offset -= 1
      throw malformed("unknown message type \(tag)")
    }
  }
}

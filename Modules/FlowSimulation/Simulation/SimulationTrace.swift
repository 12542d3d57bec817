import Synchronization

/// What kind of thing a trace entry records: a short stable name (`net.deliver`,
/// `cluster.assign`) and the 64-bit code the trace hash uses for it.
public struct TraceKind: Hashable, Sendable, CustomStringConvertible {
  /// The name, e.g. `net.drop`.
  public let name: String
  /// The FNV-1a hash of the name: what goes into the trace hash.
  public let code: UInt64

  /// A kind named `name`; make it a `static let` so the hash is computed once.
  public init(_ name: String) {
    self.name = name
    code = FNV1a.hash(name.utf8)
    TraceKind.register(code, name)
  }

  private static let names = Mutex<[UInt64: String]>([:])

  private static func register(_ code: UInt64, _ name: String) {
    names.withLock { $0[code] = name }
  }

  /// The kind whose code is `code` (named `#code` if no kind with that code was created).
  init(code: UInt64) {
    self.code = code
    name = Self.names.withLock { $0[code] } ?? "#\(code)"
  }

  /// The name.
  public var description: String { name }

  /// A timer scheduled with ``Simulator/schedule(after:_:node:peer:value:_:)`` fired.
  public static let timer = TraceKind("sim.timer")
  /// A spawned async body started.
  public static let spawn = TraceKind("sim.spawn")
  /// A spawned async body finished.
  public static let spawnFinished = TraceKind("sim.spawn.finished")
  /// A sleep on the simulation clock woke.
  public static let wake = TraceKind("sim.wake")
}

/// One recorded event: when, what, on which node, about which peer, and one value.
public struct TraceEntry: Sendable, Hashable, CustomStringConvertible {
  /// Simulated nanoseconds since the start.
  public let time: Int64
  /// The code of what happened (see ``kind``).
  public let kindCode: UInt64
  /// What happened.
  public var kind: TraceKind { TraceKind(code: kindCode) }
  /// The node it happened on (-1: none).
  public let node: Int32
  /// The other node concerned (-1: none).
  public let peer: Int32
  /// A number that tells this event from others of its kind (a task index, a message tag).
  public let value: UInt64

  /// `12.5s net.deliver 0→3 v=17`.
  public var description: String {
    var text = "\(formatSimulated(time)) \(kind.name)"
    if node >= 0 { text += " \(node)" }
    if peer >= 0 { text += "→\(peer)" }
    if value != 0 { text += " v=\(value)" }
    return text
  }
}

/// The record of a simulation: every event goes into a stable 64-bit hash (an FNV-style
/// multiply-xor over the canonical 64-bit words: time, kind code, node and peer, value; kind
/// codes are the FNV-1a hashes of the kinds' names), and the last ``retention`` entries are
/// kept for failure reports.
///
/// Two runs with the same seed produce the same ``hash``; any difference in order, timing or
/// content of any event changes it.
public struct SimulationTrace: Sendable {
  /// The hash of every event recorded so far.
  public private(set) var hash: UInt64 = FNV1a.offset
  /// How many events were recorded.
  public private(set) var count = 0
  /// How many of the most recent entries are kept (0: none; `Int.max`: all).
  public let retention: Int
  private var ring: [TraceEntry] = []
  private var ringStart = 0

  /// A trace keeping the last `retention` entries.
  public init(retention: Int = 256) { self.retention = max(0, retention) }

  /// Records one event.
  public mutating func record(time: Int64, kind: TraceKind, node: Int32, peer: Int32, value: UInt64)
  {
    record(time: time, kindCode: kind.code, node: node, peer: peer, value: value)
  }

  /// Records one event whose kind has the code `kindCode`.
  @inline(__always)
  mutating func record(time: Int64, kindCode: UInt64, node: Int32, peer: Int32, value: UInt64) {
    count += 1
    var h = hash
    h = FNV1a.mixWord(h, UInt64(bitPattern: time))
    h = FNV1a.mixWord(h, kindCode)
    h = FNV1a.mixWord(h, UInt64(UInt32(bitPattern: node)) | UInt64(UInt32(bitPattern: peer)) << 32)
    h = FNV1a.mixWord(h, value)
    hash = h
    guard retention > 0 else { return }
    let entry = TraceEntry(time: time, kindCode: kindCode, node: node, peer: peer, value: value)
    if ring.count < retention {
      ring.append(entry)
    } else {
      ring[ringStart] = entry
      ringStart = (ringStart + 1) % retention
    }
  }

  /// The kept entries, oldest first.
  public var entries: [TraceEntry] { Array(ring[ringStart...] + ring[..<ringStart]) }

  /// The hash as 16 lowercase hex digits.
  public var hashHex: String { Self.hex(hash) }

  /// `value` as 16 lowercase hex digits.
  public static func hex(_ value: UInt64) -> String {
    let digits = String(value, radix: 16)
    return String(repeating: "0", count: 16 - digits.count) + digits
  }
}

/// 64-bit FNV-1a, byte by byte, little-endian: stable across processes and platforms.
enum FNV1a {
  static let offset: UInt64 = 0xCBF2_9CE4_8422_2325
  static let prime: UInt64 = 0x100_0000_01B3

  static func hash<S: Sequence>(_ bytes: S) -> UInt64 where S.Element == UInt8 {
    var hash = offset
    for byte in bytes {
      hash ^= UInt64(byte)
      hash &*= prime
    }
    return hash
  }

  /// Mixes a 64-bit word into `hash`: xor, multiply by the FNV prime, fold the high half down.
  @inline(__always)
  static func mixWord(_ hash: UInt64, _ word: UInt64) -> UInt64 {
    let mixed = (hash ^ word) &* prime
    return mixed ^ (mixed >> 29)
  }

  /// Mixes the 8 little-endian bytes of `word` into `hash`.
  @inline(__always)
  static func mix(_ hash: UInt64, _ word: UInt64) -> UInt64 {
    var hash = hash
    var word = word
    for _ in 0..<8 {
      hash ^= word & 0xFF
      hash &*= prime
      word >>= 8
    }
    return hash
  }
}

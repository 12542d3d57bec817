import FlowCore
import FlowExecutors
import FlowResults
import FlowState
import FlowTesting
import Foundation
import Synchronization
import Testing

/// Thursday 2026-03-05 14:07:09 UTC: a time with a one-digit day and an afternoon hour, so that
/// `%d`/`%e` and `%H`/`%I` differ.
let fixedStart = Date(timeIntervalSince1970: 1_772_719_629)

/// A deterministic environment on a manual test clock.
func environment(seed: UInt64 = 1, clock: TestClock = TestClock(now: fixedStart))
  -> RunEnvironment
{
  .testing(seed: seed, clock: clock)
}

/// A new, unique directory under the temporary directory (not created); remove it with
/// `defer { removeDirectory(dir) }`.
func uniqueDirectory(_ label: String) -> URL {
  FileManager.default.temporaryDirectory.appendingPathComponent(
    "flowresults-\(label)-\(UUID().uuidString)", isDirectory: true)
}

/// Removes a directory made by ``uniqueDirectory(_:)``.
func removeDirectory(_ directory: URL) {
  try? FileManager.default.removeItem(at: directory)
}

/// The relative paths of every regular file under `directory`, sorted.
func files(in directory: URL) -> [String] {
  let paths = (try? FileManager.default.subpathsOfDirectory(atPath: directory.path)) ?? []
  return paths.filter { path in
    var isDirectory: ObjCBool = false
    let full = directory.appendingPathComponent(path).path
    return FileManager.default.fileExists(atPath: full, isDirectory: &isDirectory)
      && !isDirectory.boolValue
  }.sorted()
}

/// Counts body invocations from any thread.
final class Counter: Sendable {
  private let value = Atomic<Int>(0)

  /// Adds one and returns the new count.
  @discardableResult
  func increment() -> Int { value.add(1, ordering: .relaxed).newValue }

  /// The current count.
  var count: Int { value.load(ordering: .relaxed) }
}

/// Counts invocations per task name.
final class CallCounts: Sendable {
  private let counts = Mutex<[String: Int]>([:])

  /// Records one invocation of `name`.
  func record(_ name: String) { counts.withLock { $0[name, default: 0] += 1 } }

  /// Every count so far.
  var all: [String: Int] { counts.withLock { $0 } }

  /// The count of `name`.
  subscript(_ name: String) -> Int { counts.withLock { $0[name, default: 0] } }
}

/// A switch a test flips between runs (for a task that fails only the first time).
final class Flag: Sendable {
  private let value: Atomic<Bool>

  init(_ initial: Bool) { value = Atomic(initial) }

  var isOn: Bool { value.load(ordering: .relaxed) }

  func set(_ newValue: Bool) { value.store(newValue, ordering: .relaxed) }
}

/// An error a task body throws on purpose.
struct Boom: Error, CustomStringConvertible {
  var description: String { "boom" }
}

/// A Codable value for round trips.
struct TrialSummary: Codable, Sendable, Equatable {
  var name: String
  var accuracy: Double
  var labels: [String]
}

/// A value that is Sendable but not Codable: it cannot be persisted.
struct Opaque: Sendable {
  var value: Int
}

/// The parts of a result file, parsed independently of the library.
struct ParsedResultFile {
  struct Header: Decodable, Equatable {
    var serializer: String
    var type: String
    var length: Int
    var crc32: UInt32
    var metadata: [String: String]
  }

  static let magic = Data("SWIFTFLOW-RESULT 1\n".utf8)

  var header: Header
  /// The header's JSON bytes, as stored.
  var headerRange: Range<Int>
  var payload: Data

  /// Parses the file at `url`; nil when it is not a well-formed result file.
  init?(contentsOf url: URL) {
    guard let data = try? Data(contentsOf: url) else { return nil }
    self.init(data)
  }

  init?(_ data: Data) {
    let bytes = [UInt8](data)
    let magic = [UInt8](Self.magic)
    guard bytes.starts(with: magic), bytes.count >= magic.count + 4 else { return nil }
    let lengthBytes = bytes[magic.count..<magic.count + 4]
    let length = lengthBytes.reversed().reduce(0) { $0 << 8 | Int($1) }
    let start = magic.count + 4
    guard bytes.count >= start + length else { return nil }
    guard
      let header = try? JSONDecoder().decode(
        Header.self, from: Data(bytes[start..<start + length]))
    else { return nil }
    self.header = header
    self.headerRange = start..<start + length
    self.payload = Data(bytes[(start + length)...])
  }
}

/// Mounting a tiny tmpfs to fill up (needs root and a kernel that allows it).
enum Tmpfs {
  /// Runs `/bin/mount` or `/bin/umount` with `arguments`; true on success.
  @discardableResult
  static func run(_ tool: String, _ arguments: [String]) -> Bool {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/bin/\(tool)")
    process.arguments = arguments
    process.standardOutput = FileHandle.nullDevice
    process.standardError = FileHandle.nullDevice
    do {
      try process.run()
    } catch {
      return false
    }
    process.waitUntilExit()
    return process.terminationStatus == 0
  }

  /// Mounts a tmpfs of `size` at `directory` (created first); true on success.
  static func mount(at directory: URL, size: String) -> Bool {
    guard
      (try? FileManager.default.createDirectory(
        at: directory, withIntermediateDirectories: true)) != nil
    else { return false }
    return run("mount", ["-t", "tmpfs", "-o", "size=\(size)", "tmpfs", directory.path])
  }

  /// Unmounts `directory`.
  static func unmount(_ directory: URL) { run("umount", [directory.path]) }

  /// True when this process can mount a tmpfs (tried once, then unmounted).
  static let isAvailable: Bool = {
    guard FileManager.default.isExecutableFile(atPath: "/bin/mount") else { return false }
    let directory = uniqueDirectory("probe-tmpfs")
    defer { removeDirectory(directory) }
    guard mount(at: directory, size: "16k") else { return false }
    unmount(directory)
    return true
  }()
}

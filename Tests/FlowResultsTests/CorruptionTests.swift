import FlowCore
import FlowExecutors
import FlowResults
import FlowState
import FlowTesting
import Foundation
import Testing

/// Damaged result files are detected, reported, never decoded, and replaced by a rerun.
@Suite("Corrupt and truncated result files", .timeLimit(.minutes(2)))
struct CorruptionTests {
  /// One way of damaging a file, and what the reader must say about it.
  struct Damage: Sendable, CustomTestStringConvertible {
    var name: String
    var reason: String
    var apply: @Sendable (inout Data) -> Void

    var testDescription: String { name }
  }

  static let magicCount = ParsedResultFile.magic.count

  static let damages: [Damage] = [
    Damage(name: "a flipped payload byte", reason: "checksum mismatch") { data in
      data[data.count - 2] ^= 0x01
    },
    Damage(name: "a flipped first payload byte", reason: "checksum mismatch") { data in
      let file = ParsedResultFile(data)!
      data[file.headerRange.upperBound] ^= 0x20
    },
    Damage(name: "a truncated payload", reason: "(truncated)") { data in
      data.removeLast(3)
    },
    Damage(name: "bytes appended", reason: "the header says") { data in
      data.append(contentsOf: [0x20, 0x20])
    },
    Damage(name: "truncated to a few bytes", reason: "bad header") { data in
      data = data.prefix(10)
    },
    Damage(name: "an empty file", reason: "bad header") { data in
      data = Data()
    },
    Damage(name: "truncated before the header length", reason: "before the header length") {
      data in
      data = data.prefix(magicCount + 2)
    },
    Damage(name: "truncated inside the header", reason: "inside the header") { data in
      data = data.prefix(magicCount + 4 + 5)
    },
    Damage(name: "a huge header length", reason: "inside the header") { data in
      data.replaceSubrange(magicCount..<magicCount + 4, with: [0xF0, 0xFF, 0xFF, 0x7F])
    },
    Damage(name: "a garbage header", reason: "unreadable header") { data in
      let range = ParsedResultFile(data)!.headerRange
      data.replaceSubrange(range, with: Data(repeating: UInt8(ascii: "#"), count: range.count))
    },
    Damage(name: "a wrong magic", reason: "not a result file") { data in
      data[0] = UInt8(ascii: "X")
    },
    Damage(name: "a newer format version", reason: "not a result file") { data in
      data[magicCount - 2] = UInt8(ascii: "2")
    },
    Damage(name: "plain JSON instead of a result file", reason: "not a result file") { data in
      data = Data(#"{"accuracy":1,"labels":[],"name":"x"}"#.utf8)
    },
  ]

  @Test(
    "damage is detected: read throws .corrupt; the task reruns, says why, and replaces the file",
    arguments: damages)
  func damagedTarget(_ damage: Damage) async throws {
    let dir = uniqueDirectory("corrupt")
    defer { removeDirectory(dir) }
    let store = LocalResultStore(directory: dir)
    let calls = Counter()
    let summarize = task("summarize") { () -> TrialSummary in
      TrialSummary(name: "run \(calls.increment())", accuracy: 0.75, labels: ["a"])
    }.checkpoint(to: store, target: "out/summary.json")
    var ref: Ref<TrialSummary>!
    let flow = Flow("corrupt") { ref = summarize() }
    _ = try await flow.run(environment: environment())
    let url = dir.appendingPathComponent("out/summary.json")
    var bytes = try Data(contentsOf: url)
    damage.apply(&bytes)
    try bytes.write(to: url)

    let readError = #expect(throws: ResultStoreError.self) {
      _ = try store.read(at: "out/summary.json")
    }
    #expect(readError?.code == .corrupt)
    #expect(readError?.location == url.path)
    #expect(readError?.message.contains(damage.reason) == true)
    let typedError = #expect(throws: ResultStoreError.self) {
      _ = try store.read(TrialSummary.self, at: "out/summary.json")
    }
    #expect(typedError?.code == .corrupt)

    let second = try await flow.run(environment: environment(seed: 2))
    let state = try #require(second.taskRun("summarize")?.state)
    #expect(state.kind == .success)
    #expect(calls.count == 2)
    #expect(try second.result(of: ref).name == "run 2")
    let message = try #require(state.message)
    #expect(message.contains("'out/summary.json' was not used"))
    #expect(message.contains(damage.reason))

    // The file was replaced by a valid one, which the next run uses.
    #expect(try store.read(TrialSummary.self, at: "out/summary.json").name == "run 2")
    #expect(ParsedResultFile(contentsOf: url) != nil)
    let third = try await flow.run(environment: environment(seed: 3))
    #expect(third.taskRun("summarize")?.state.kind == .cached)
    #expect(try third.result(of: ref).name == "run 2")
    #expect(calls.count == 2)
    #expect(files(in: dir) == ["out/summary.json"])
  }

  @Test("a damaged cache entry is not used: the task reruns and says why")
  func damagedCacheEntry() async throws {
    let dir = uniqueDirectory("corrupt-cache")
    defer { removeDirectory(dir) }
    let store = LocalResultStore(directory: dir)
    let calls = Counter()
    let count = task("count") { () -> Int in calls.increment() }
      .cached(for: .seconds(3600), validator: .durationOnly, in: store)
    let flow = Flow("cache") { count() }
    _ = try await flow.run(environment: environment())
    let url = dir.appendingPathComponent("cache/cache/count")
    var bytes = try Data(contentsOf: url)
    bytes[bytes.count - 1] ^= 0xFF
    try bytes.write(to: url)
    let second = try await flow.run(environment: environment(seed: 2))
    let state = try #require(second.taskRun("count")?.state)
    #expect(state.kind == .success)
    #expect(state.message?.contains("Cache entry 'cache/cache/count' was not used") == true)
    #expect(state.message?.contains("checksum mismatch") == true)
    // The run log says so at warning, with the store, the location and the reason.
    let warning = try #require(
      second.logs.first { $0.level == .warning && $0.message.contains("cannot be used") },
      "\(second.logs.map(\.message))")
    #expect(warning.message.contains("Cache entry 'cache/cache/count' in directory \(dir.path)"))
    #expect(warning.message.contains("checksum mismatch"))
    let third = try await flow.run(environment: environment(seed: 3))
    #expect(third.taskRun("count")?.state.kind == .cached)
    #expect(third.taskRun("count")?.state.value(as: Int.self) == 2)
    #expect(calls.count == 2)
  }

  @Test("a damaged checkpoint is not resumed: the task reruns and says why")
  func damagedCheckpoint() async throws {
    let dir = uniqueDirectory("corrupt-resume")
    defer { removeDirectory(dir) }
    let store = LocalResultStore(directory: dir)
    let calls = CallCounts()
    let failing = Flag(true)
    let a = task("a") { () -> Int in
      calls.record("a")
      return 1
    }
    let b = task("b") { (x: Int) throws -> Int in
      calls.record("b")
      if failing.isOn { throw Boom() }
      return x + 1
    }
    let flow = Flow("resume", resultStore: store) { b(a()) }
    let first = try await flow.run(environment: environment())
    let runID = first.flowRunID.uuidString.lowercased()
    try Data("garbage".utf8).write(to: dir.appendingPathComponent("resume/\(runID)/a"))
    failing.set(false)
    let second = try await flow.run(environment: environment(seed: 2), resuming: first.flowRunID)
    let state = try #require(second.taskRun("a")?.state)
    #expect(state.kind == .success)
    #expect(state.message?.contains("not a result file") == true)
    #expect(second.taskRun("b")?.state.value(as: Int.self) == 2)
    #expect(calls.all == ["a": 2, "b": 2])
    #expect(try store.read(Int.self, at: "resume/\(runID)/a") == 1)
  }

  @Test(
    "an unreadable location (a directory where a file should be) is reported, and the write fails")
  func directoryInPlaceOfFile() async throws {
    let dir = uniqueDirectory("directory-target")
    defer { removeDirectory(dir) }
    let store = LocalResultStore(directory: dir)
    try FileManager.default.createDirectory(
      at: dir.appendingPathComponent("target/inner"), withIntermediateDirectories: true)
    let error = #expect(throws: ResultStoreError.self) { _ = try store.read(at: "target") }
    #expect(error?.code == .io)
    #expect(error?.location == dir.appendingPathComponent("target").path)
    let calls = Counter()
    let one = task("one") { () -> Int in calls.increment() }.checkpoint(to: store, target: "target")
    let result = try await Flow("dir") { one() }.run(environment: environment())
    let state = try #require(result.taskRun("one")?.state)
    #expect(state.kind == .failed)
    #expect(calls.count == 1)
    #expect(state.message?.contains(dir.appendingPathComponent("target").path) == true)
  }
}

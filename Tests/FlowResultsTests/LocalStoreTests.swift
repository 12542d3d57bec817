import FlowCore
import FlowExecutors
import FlowResults
import FlowState
import FlowTesting
import Foundation
import Testing

/// The stores themselves: the file format, locations, and atomic writes.
@Suite("Result stores: file format, locations, atomic writes", .timeLimit(.minutes(2)))
struct LocalStoreTests {
  @Test("the checkpoint file format round-trips payload, serializer, type and metadata")
  func formatRoundTrip() throws {
    let dir = uniqueDirectory("format")
    defer { removeDirectory(dir) }
    let store = LocalResultStore(directory: dir)
    let stored = StoredResult(
      serializer: "json", typeName: "Module.Type<Generic>", payload: Data("123456789".utf8),
      metadata: [
        "expires": "1772719629.5", "input:x": "abc", "ünïcode key": "välue with \"quotes\"",
        "empty": "", "newline": "a\nb",
      ])
    try store.write(stored, at: "nested/dir/value.bin")
    #expect(try store.read(at: "nested/dir/value.bin") == stored)

    let file = try #require(
      ParsedResultFile(contentsOf: dir.appendingPathComponent("nested/dir/value.bin")))
    #expect(file.header.serializer == "json")
    #expect(file.header.type == "Module.Type<Generic>")
    #expect(file.header.length == 9)
    #expect(file.header.crc32 == 0xCBF4_3926)  // the standard CRC-32 check value
    #expect(file.header.metadata == stored.metadata)
    #expect(file.payload == Data("123456789".utf8))
  }

  @Test(
    "payloads of any size and content round-trip",
    arguments: [0, 1, 255, 4096, 300_000])
  func payloadSizes(size: Int) throws {
    let dir = uniqueDirectory("sizes")
    defer { removeDirectory(dir) }
    let store = LocalResultStore(directory: dir)
    let payload = Data((0..<size).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) })
    let stored = StoredResult(
      serializer: "data", typeName: String(describing: Data.self), payload: payload)
    try store.write(stored, at: "p")
    #expect(try store.read(at: "p") == stored)
    #expect(try store.read(Data.self, at: "p") == payload)
  }

  @Test("a write replaces the previous value; both stores behave alike")
  func overwrite() throws {
    let dir = uniqueDirectory("overwrite")
    defer { removeDirectory(dir) }
    let stores: [any ResultStore] = [LocalResultStore(directory: dir), MemoryResultStore()]
    for store in stores {
      #expect(try store.read(at: "k") == nil)
      let first = StoredResult(
        serializer: "string", typeName: "String", payload: Data("1".utf8))
      var second = first
      second.payload = Data("two".utf8)
      second.metadata = ["m": "v"]
      try store.write(first, at: "k")
      try store.write(second, at: "k")
      #expect(try store.read(at: "k") == second)
      #expect(try store.read(String.self, at: "k") == "two")
    }
    #expect(files(in: dir) == ["k"])
  }

  @Test("descriptions and paths")
  func descriptions() {
    let store = LocalResultStore(path: "/data/processed")
    #expect(store.description == "directory /data/processed")
    #expect(store.path(of: "a/b.json") == "/data/processed/a/b.json")
    #expect(MemoryResultStore().description == "memory")
    let memory = MemoryResultStore()
    try? memory.write(StoredResult(serializer: "void", typeName: "()", payload: Data()), at: "b")
    try? memory.write(StoredResult(serializer: "void", typeName: "()", payload: Data()), at: "a/c")
    #expect(memory.locations == ["a/c", "b"])
  }

  @Test(
    "bad locations are .badLocation in both stores, for reads and writes",
    arguments: [
      "", "/absolute", "/", "..", "../escape", "a/../../b", "a/./b", ".", "./a", "a//b", "a/",
      "nul\0byte",
    ])
  func badLocations(location: String) throws {
    let parent = uniqueDirectory("bad-location")
    defer { removeDirectory(parent) }
    let dir = parent.appendingPathComponent("store")
    let stores: [any ResultStore] = [LocalResultStore(directory: dir), MemoryResultStore()]
    let value = StoredResult(serializer: "json", typeName: "Int", payload: Data("1".utf8))
    for store in stores {
      let writeError = #expect(throws: ResultStoreError.self) {
        try store.write(value, at: location)
      }
      #expect(writeError?.code == .badLocation)
      #expect(writeError?.message.contains("relative path") == true)
      let readError = #expect(throws: ResultStoreError.self) { _ = try store.read(at: location) }
      #expect(readError?.code == .badLocation)
      let typedError = #expect(throws: ResultStoreError.self) {
        _ = try store.read(Int.self, at: location)
      }
      #expect(typedError?.code == .badLocation)
    }
    #expect(files(in: parent).isEmpty)
  }

  @Test(
    "unusual but valid locations work",
    arguments: ["a b/c:d", "über/ünïcode", ".hidden", "..dots", "a/b/c/d/e/f", "x.", "{braces}"])
  func validLocations(location: String) throws {
    let dir = uniqueDirectory("valid-location")
    defer { removeDirectory(dir) }
    let store = LocalResultStore(directory: dir)
    let value = StoredResult(
      serializer: "string", typeName: "String", payload: Data("v".utf8))
    try store.write(value, at: location)
    #expect(try store.read(at: location) == value)
    #expect(files(in: dir) == [location])
  }

  /// Values of different lengths, so that mixed bytes could not pass the checks.
  static func value(_ index: Int) -> [Int] { Array(repeating: index, count: 100 + index * 37) }

  @Test("50 concurrent writers of one location leave one valid value and no temporary files")
  func concurrentWriters() async throws {
    let dir = uniqueDirectory("concurrent")
    defer { removeDirectory(dir) }
    let store = LocalResultStore(directory: dir)
    let serializer = try #require(ResultSerializer.automatic(for: [Int].self))
    let writers = 50
    try store.write(serializer.encode([-1]), at: "shared/value.json")
    let corruptReads = Counter()
    try await withThrowingTaskGroup(of: Void.self) { group in
      for index in 0..<writers {
        group.addTask {
          try store.write(serializer.encode(Self.value(index)), at: "shared/value.json")
        }
        group.addTask {
          do {
            let read = try store.read([Int].self, at: "shared/value.json")
            if read != [-1], read != Self.value(read.first ?? -2) { corruptReads.increment() }
          } catch {
            corruptReads.increment()
          }
        }
      }
      try await group.waitForAll()
    }
    #expect(corruptReads.count == 0, "a reader saw a half-written or damaged value")
    let final = try store.read([Int].self, at: "shared/value.json")
    let index = try #require(final.first)
    #expect((0..<writers).contains(index))
    #expect(final == Self.value(index))
    #expect(files(in: dir) == ["shared/value.json"])
  }

  @Test("opening a store removes temporary files of writers that died, keeps live ones")
  func staleTemporaryFilesAreRemovedOnOpen() throws {
    let dir = uniqueDirectory("stale-tmp")
    defer { removeDirectory(dir) }
    try FileManager.default.createDirectory(
      at: dir.appendingPathComponent("nested"), withIntermediateDirectories: true)
    // A process that has exited: its PID names no process any more.
    let child = Process()
    child.executableURL = URL(fileURLWithPath: "/bin/true")
    try child.run()
    child.waitUntilExit()
    let dead = child.processIdentifier
    let stale = dir.appendingPathComponent("nested/.value.bin.\(dead).0.tmp")
    let live = dir.appendingPathComponent(".value.bin.\(getpid()).7.tmp")
    let other = dir.appendingPathComponent("value.tmp")
    for file in [stale, live, other] { try Data("partial".utf8).write(to: file) }
    let store = LocalResultStore(directory: dir)  // the first store on `dir` sweeps it
    #expect(!FileManager.default.fileExists(atPath: stale.path))
    try Data("partial".utf8).write(to: stale)
    let removed = store.removeStaleTemporaryFiles()
    #expect(removed == [stale.path])
    #expect(!FileManager.default.fileExists(atPath: stale.path))
    #expect(FileManager.default.fileExists(atPath: live.path))
    #expect(FileManager.default.fileExists(atPath: other.path))
    // A store opened on a fresh directory sweeps it by itself.
    let fresh = uniqueDirectory("stale-tmp-open")
    defer { removeDirectory(fresh) }
    try FileManager.default.createDirectory(at: fresh, withIntermediateDirectories: true)
    let orphan = fresh.appendingPathComponent(".x.\(dead).3.tmp")
    try Data("partial".utf8).write(to: orphan)
    _ = LocalResultStore(directory: fresh)
    #expect(!FileManager.default.fileExists(atPath: orphan.path))
  }

  @Test("two flow runs writing the same target at once do not corrupt it")
  func concurrentFlowRuns() async throws {
    let dir = uniqueDirectory("concurrent-runs")
    defer { removeDirectory(dir) }
    let store = LocalResultStore(directory: dir)
    let calls = Counter()
    let produce = task("produce") { (n: Int) async -> [Int] in
      calls.increment()
      await Task.yield()
      return Array(repeating: n, count: 1_000 * n)
    }.checkpoint(to: store, target: "shared.json")
    let flow = Flow("race") { produce(Parameter("n", default: 1)) }
    let runs = 6
    let kinds = try await withThrowingTaskGroup(of: RunState.Kind?.self) { group in
      for n in 1...runs {
        group.addTask {
          let result = try await flow.run(
            parameters: ["n": n], environment: environment(seed: UInt64(n)))
          return result.taskRun("produce")?.state.kind
        }
      }
      var kinds: [RunState.Kind?] = []
      for try await kind in group { kinds.append(kind) }
      return kinds
    }
    #expect(kinds.allSatisfy { $0 == .success || $0 == .cached })
    let value = try store.read([Int].self, at: "shared.json")
    let n = try #require(value.first)
    #expect(value == Array(repeating: n, count: 1_000 * n))
    #expect(files(in: dir) == ["shared.json"])
    let after = try await flow.run(environment: environment(seed: 99))
    #expect(after.taskRun("produce")?.state.kind == .cached)
    #expect(after.taskRun("produce")?.state.value(as: [Int].self) == value)
    #expect(calls.count == kinds.filter { $0 == .success }.count)
  }

  @Test("a temporary file left by a crashed writer does not change what is read")
  func crashLeftovers() throws {
    let dir = uniqueDirectory("leftover")
    defer { removeDirectory(dir) }
    let store = LocalResultStore(directory: dir)
    let serializer = try #require(ResultSerializer.automatic(for: Int.self))
    try store.write(serializer.encode(1), at: "value")
    // What a writer killed before its rename leaves behind: a partial temporary file.
    let full = try Data(contentsOf: dir.appendingPathComponent("value"))
    try full.prefix(full.count / 2).write(to: dir.appendingPathComponent(".value.999999.0.tmp"))
    #expect(try store.read(Int.self, at: "value") == 1)
    try store.write(serializer.encode(2), at: "value")
    #expect(try store.read(Int.self, at: "value") == 2)
  }

  @Test("the store directory is created, with intermediate directories, on the first write")
  func createsDirectory() throws {
    let parent = uniqueDirectory("creates")
    defer { removeDirectory(parent) }
    let store = LocalResultStore(directory: parent.appendingPathComponent("a/b/c"))
    #expect(try store.read(at: "x/y") == nil)
    #expect(!FileManager.default.fileExists(atPath: parent.path), "a read creates nothing")
    try store.write(StoredResult(serializer: "void", typeName: "()", payload: Data()), at: "x/y")
    #expect(files(in: parent) == ["a/b/c/x/y"])
  }
}

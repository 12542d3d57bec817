import FlowCore
import FlowExecutors
import FlowResults
import FlowState
import FlowTesting
import Foundation
import Testing

/// How outputs are serialized, recorded and read back.
@Suite("Serializers and typed read-back", .timeLimit(.minutes(2)))
struct SerializerTests {
  /// Runs a one-task flow returning `value` with a target in a fresh directory; returns the
  /// parsed file, then runs again and returns the second run's state.
  private func persist<T: Sendable>(
    _ value: T, check: (ParsedResultFile, LocalResultStore) throws -> Void
  ) async throws -> RunState {
    let dir = uniqueDirectory("serializer")
    defer { removeDirectory(dir) }
    let store = LocalResultStore(directory: dir)
    let calls = Counter()
    let make = task("make") { () -> T in
      calls.increment()
      return value
    }.checkpoint(to: store, target: "value")
    let flow = Flow("serialize") { make() }
    let first = try await flow.run(environment: environment())
    #expect(first.taskRun("make")?.state.kind == .success)
    let parsed = try #require(ParsedResultFile(contentsOf: dir.appendingPathComponent("value")))
    try check(parsed, store)
    let second = try await flow.run(environment: environment(seed: 2))
    #expect(calls.count == 1)
    let state = try #require(second.taskRun("make")?.state)
    #expect(state.kind == .cached)
    return state
  }

  @Test("Codable structs are JSON, with the serializer and type recorded")
  func jsonStruct() async throws {
    let value = TrialSummary(name: "trial", accuracy: 0.5, labels: ["x", "y"])
    let state = try await persist(value) { file, store throws in
      #expect(file.header.serializer == "json")
      #expect(file.header.type == String(describing: TrialSummary.self))
      #expect(file.header.type.hasSuffix("TrialSummary"))
      #expect(file.header.length == file.payload.count)
      #expect(try JSONDecoder().decode(TrialSummary.self, from: file.payload) == value)
      let json = String(decoding: file.payload, as: UTF8.self)
      #expect(json == #"{"accuracy":0.5,"labels":["x","y"],"name":"trial"}"#)
      let raw = try #require(try store.read(at: "value"))
      #expect(raw.serializer == "json")
      #expect(raw.typeName == file.header.type)
    }
    #expect(state.value(as: TrialSummary.self) == value)
  }

  @Test(
    "a String is stored as its raw UTF-8 bytes",
    arguments: ["héllo wörld\n", "", "\"quoted\" {json}", "line1\nline2"])
  func stringPassThrough(text: String) async throws {
    let state = try await persist(text) { file, _ throws in
      #expect(file.header.serializer == "string")
      #expect(file.header.type == "String")
      #expect(file.payload == Data(text.utf8))
    }
    #expect(state.value(as: String.self) == text)
  }

  @Test("Data is stored as its raw bytes")
  func dataPassThrough() async throws {
    let bytes = Data([0, 1, 2, 0xFF, 0x0A, 0x7B])
    let state = try await persist(bytes) { file, store throws in
      #expect(file.header.serializer == "data")
      #expect(file.header.type == String(describing: Data.self))
      #expect(file.payload == bytes)
      #expect(try store.read(Data.self, at: "value") == bytes)
    }
    #expect(state.value(as: Data.self) == bytes)
  }

  /// Runs a one-task flow returning `value` with a target twice; returns how often the body ran
  /// and the store's locations after the runs.
  private func persistNothing<T: Sendable>(_ value: T) async throws -> (
    calls: Int, locations: [String]
  ) {
    let store = MemoryResultStore()
    let calls = Counter()
    let make = task("make") { () -> T in
      calls.increment()
      return value
    }.checkpoint(to: store, target: "value")
    let flow = Flow("serialize") { make() }
    let first = try await flow.run(environment: environment())
    #expect(first.taskRun("make")?.state.kind == .success)
    #expect(first.taskRun("make")?.state.hasResult == true)
    let second = try await flow.run(environment: environment(seed: 2))
    #expect(second.taskRun("make")?.state.kind == .success)
    return (calls.count, store.locations)
  }

  // Prefect 1 writes nothing for a `None` result, so its target never exists and the task runs
  // every time: a Void or nil output writes no file (these tests used to pin a written file).
  @Test("a Void output writes nothing at its target, so the next run runs the task again")
  func void() async throws {
    let (calls, locations) = try await persistNothing(())
    #expect(locations.isEmpty)
    #expect(calls == 2)
  }

  @Test("a nil output writes nothing at its target, so the next run runs the task again")
  func nilOutput() async throws {
    let (calls, locations) = try await persistNothing(Int?.none)
    #expect(locations.isEmpty)
    #expect(calls == 2)
  }

  @Test("a nil output flows downstream as nil; with nothing at the target it runs again")
  func nilOutputTyped() async throws {
    let store = MemoryResultStore()
    let calls = CallCounts()
    let lookup = task("lookup") { () -> String? in
      calls.record("lookup")
      return nil
    }.checkpoint(to: store, target: "lookup")
    let describe = task("describe") { (value: String?) -> String in
      calls.record("describe")
      return value ?? "none"
    }
    let (flow, refs) = Flow.building("nil") {
      let found = lookup()
      return (found, describe(found))
    }
    _ = try await flow.run(environment: environment())
    let second = try await flow.run(environment: environment(seed: 2))
    #expect(try second.state(of: refs.0).kind == .success)
    #expect(try second.result(of: refs.0) == nil)
    #expect(try second.result(of: refs.1) == "none")
    #expect(calls.all == ["lookup": 2, "describe": 2])
    #expect(store.locations.isEmpty)
  }

  @Test("a nil output is still a cache entry: the next run is Cached with nil")
  func nilOutputCached() async throws {
    let store = MemoryResultStore()
    let calls = Counter()
    let lookup = task("lookup") { () -> String? in
      calls.increment()
      return nil
    }.cached(for: .seconds(60), in: store)
    let (flow, found) = Flow.building("nil-cache") { lookup() }
    _ = try await flow.run(environment: environment())
    let second = try await flow.run(environment: environment(seed: 2))
    #expect(try second.state(of: found).kind == .cached)
    #expect(try second.result(of: found) == nil)
    #expect(calls.count == 1)
  }

  @Test("a non-nil optional round-trips")
  func someOutput() async throws {
    let state = try await persist(Int?.some(42)) { file, store throws in
      #expect(String(decoding: file.payload, as: UTF8.self) == "42")
      #expect(try store.read(Int?.self, at: "value") == 42)
    }
    #expect(state.value(as: Int?.self) == .some(42))
  }

  @Test("other Codable values round-trip through a store")
  func codableRoundTrips() throws {
    let store = MemoryResultStore()
    func roundTrip<T: Codable & Sendable & Equatable>(_ value: T) throws {
      let serializer = try #require(ResultSerializer.automatic(for: T.self))
      try store.write(serializer.encode(value), at: "v")
      #expect(try store.read(T.self, at: "v") == value)
    }
    try roundTrip(7)
    try roundTrip(-0.25)
    try roundTrip(true)
    try roundTrip([3, 1, 2])
    try roundTrip(["b": 2, "a": 1])
    try roundTrip([TrialSummary(name: "n", accuracy: 1, labels: [])])
    try roundTrip([Int?.none, 1])
    try roundTrip(Date(timeIntervalSince1970: 1_000_000))
  }

  @Test("the serializer is chosen by type: data, string, void, json; none for non-Codable")
  func automaticSerializers() throws {
    #expect(ResultSerializer.automatic(for: Data.self)?.name == "data")
    #expect(ResultSerializer.automatic(for: String.self)?.name == "string")
    #expect(ResultSerializer.automatic(for: Void.self)?.name == "void")
    #expect(ResultSerializer.automatic(for: Int.self)?.name == "json")
    #expect(ResultSerializer.automatic(for: String?.self)?.name == "json")
    #expect(ResultSerializer.automatic(for: [Data].self)?.name == "json")
    #expect(ResultSerializer.automatic(for: Opaque.self) == nil)
    let stored = try #require(ResultSerializer.automatic(for: [Int].self)).encode([1, 2])
    #expect(stored.serializer == "json")
    #expect(stored.typeName == "Array<Int>")
    #expect(stored.payload == Data("[1,2]".utf8))
  }

  @Test(
    "reading with another type throws .wrongType, naming both types",
    arguments: [
      ("String", "String"), ("Double", "Double"), ("Int?", "Optional<"),
      ("TrialSummary", "TrialSummary"), ("Data", String(describing: Data.self)),
    ])
  func wrongType(reader: String, expectedName: String) throws {
    let dir = uniqueDirectory("wrong-type")
    defer { removeDirectory(dir) }
    let store = LocalResultStore(directory: dir)
    try store.write(#require(ResultSerializer.automatic(for: Int.self)).encode(5), at: "n")
    let error = #expect(throws: ResultStoreError.self) {
      switch reader {
      case "String": _ = try store.read(String.self, at: "n")
      case "Double": _ = try store.read(Double.self, at: "n")
      case "Int?": _ = try store.read(Int?.self, at: "n")
      case "TrialSummary": _ = try store.read(TrialSummary.self, at: "n")
      default: _ = try store.read(Data.self, at: "n")
      }
    }
    #expect(error?.code == .wrongType)
    #expect(error?.message.contains("Int") == true)
    #expect(error?.message.contains(expectedName) == true)
    #expect(try store.read(Int.self, at: "n") == 5)
  }

  @Test("reading a type that is not Codable throws .wrongType; nothing stored is .notFound")
  func unreadable() throws {
    let store = MemoryResultStore()
    let opaque = #expect(throws: ResultStoreError.self) {
      _ = try store.read(Opaque.self, at: "anything")
    }
    #expect(opaque?.code == .wrongType)
    #expect(opaque?.message.contains("Codable") == true)
    let missing = #expect(throws: ResultStoreError.self) {
      _ = try store.read(Int.self, at: "missing")
    }
    #expect(missing?.code == .notFound)
    #expect(missing?.message.contains("memory") == true)
    #expect(try store.read(at: "missing") == nil)
  }

  @Test("a payload that does not decode as the recorded type is .corrupt")
  func undecodablePayload() throws {
    let store = MemoryResultStore()
    let stored = StoredResult(
      serializer: "json", typeName: "Int", payload: Data("not json".utf8))
    try store.write(stored, at: "bad")
    let error = #expect(throws: ResultStoreError.self) {
      _ = try store.read(Int.self, at: "bad")
    }
    #expect(error?.code == .corrupt)
  }

  @Test("flow B reads flow A's target through the store, typed")
  func readAcrossFlows() async throws {
    let dir = uniqueDirectory("across")
    defer { removeDirectory(dir) }
    let writerStore = LocalResultStore(directory: dir)
    let train = task("train") { (name: String) -> TrialSummary in
      TrialSummary(name: name, accuracy: 0.93, labels: ["setosa", "virginica"])
    }.checkpoint(to: writerStore, target: "trials/{parameters[trial]}.json")
    let flowA = Flow("train") { train(Parameter("trial", default: "t1")) }
    let resultA = try await flowA.run(environment: environment())
    #expect(resultA.state.kind == .success)

    // Another store value on the same directory, as another program would make it.
    let readerStore = LocalResultStore(path: dir.path)
    let report = task("report") { (location: String) throws -> String in
      let summary = try readerStore.read(TrialSummary.self, at: location)
      return "\(summary.name) \(summary.accuracy) \(summary.labels.count)"
    }
    var line: Ref<String>!
    let flowB = Flow("report") { line = report(Parameter("location", default: "")) }
    let resultB = try await flowB.run(
      parameters: ["location": "trials/t1.json"], environment: environment(seed: 2))
    #expect(try resultB.result(of: line) == "t1 0.93 2")

    let missing = try await flowB.run(
      parameters: ["location": "trials/t2.json"], environment: environment(seed: 3))
    let state = try #require(missing.taskRun("report")?.state)
    #expect(state.kind == .failed)
    #expect((state.error as? ResultStoreError)?.code == .notFound)
    #expect(state.message?.contains("trials/t2.json") == true)
  }

  @Test("a target holding another type makes the task run again and replace it")
  func targetOfAnotherType() async throws {
    let dir = uniqueDirectory("other-type")
    defer { removeDirectory(dir) }
    let store = LocalResultStore(directory: dir)
    let number = task("number") { () -> Int in 7 }.checkpoint(to: store, target: "shared")
    _ = try await Flow("numbers") { number() }.run(environment: environment())
    let calls = Counter()
    let text = task("text") { () -> String in
      calls.increment()
      return "seven"
    }.checkpoint(to: store, target: "shared")
    let result = try await Flow("texts") { text() }.run(environment: environment(seed: 2))
    let state = try #require(result.taskRun("text")?.state)
    #expect(state.kind == .success)
    #expect(calls.count == 1)
    #expect(state.message?.contains("Int") == true)
    #expect(state.message?.contains("'shared'") == true)
    #expect(try store.read(String.self, at: "shared") == "seven")
  }
}

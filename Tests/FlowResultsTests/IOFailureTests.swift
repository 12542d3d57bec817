import FlowCore
import FlowExecutors
import FlowResults
import FlowState
import FlowTesting
import Foundation
import Testing

#if canImport(Glibc)
  import Glibc
#endif

/// When the operating system refuses a write, the task fails with the path and the cause.
///
/// Permission denied cannot be produced when the tests run as root (root bypasses file
/// permissions), so that test runs only for other users.
@Suite("Storage failures name the path and the cause", .timeLimit(.minutes(2)))
struct IOFailureTests {
  @Test(
    "a store whose directory is a regular file: the task fails, naming the path and the cause",
    arguments: ["out.json", "nested/out.json"])
  func directoryIsAFile(location: String) async throws {
    let parent = uniqueDirectory("not-a-directory")
    defer { removeDirectory(parent) }
    try FileManager.default.createDirectory(at: parent, withIntermediateDirectories: true)
    let file = parent.appendingPathComponent("store")
    try Data("I am a file".utf8).write(to: file)
    let store = LocalResultStore(directory: file)

    let direct = #expect(throws: ResultStoreError.self) {
      try store.write(
        StoredResult(serializer: "void", typeName: "()", payload: Data()), at: location)
    }
    #expect(direct?.code == .io)
    #expect(direct?.description.contains(file.path) == true)

    let calls = CallCounts()
    let produce = task("produce") { () -> Int in
      calls.record("produce")
      return 1
    }.checkpoint(to: store, target: location)
    let after = task("after") { (x: Int) -> Int in
      calls.record("after")
      return x
    }
    let result = try await Flow("io") { after(produce()) }.run(environment: environment())
    let state = try #require(result.taskRun("produce")?.state)
    #expect(state.kind == .failed)
    #expect(calls.all == ["produce": 1])
    #expect(result.taskRun("after")?.state.kind == .triggerFailed)
    #expect(result.state.kind == .failed)
    let message = try #require(state.message)
    #expect(message.contains(file.path))
    #expect(message.hasPrefix("Cannot persist the output: \(file.path)/\(location): "))
    #expect((state.error as? ResultStoreError)?.code == .io)
    #expect(try Data(contentsOf: file) == Data("I am a file".utf8), "the file is left alone")
  }

  @Test("the message says why: the store's directory path is taken by a file")
  func directoryIsAFileCause() async throws {
    let parent = uniqueDirectory("not-a-directory-cause")
    defer { removeDirectory(parent) }
    try FileManager.default.createDirectory(at: parent, withIntermediateDirectories: true)
    let file = parent.appendingPathComponent("store")
    try Data().write(to: file)
    let one = task("one") { () -> Int in 1 }
      .checkpoint(to: LocalResultStore(directory: file), target: "out.json")
    let result = try await Flow("io") { one() }.run(environment: environment())
    let message = try #require(result.taskRun("one")?.state.message)
    #expect(message.contains("cannot create the directory \(file.path)"))
    #expect(message.contains("already exists") || message.contains("File exists"))
  }

  @Test("a flow's result store that is a regular file fails the task the same way")
  func flowStoreIsAFile() async throws {
    let parent = uniqueDirectory("flow-store-file")
    defer { removeDirectory(parent) }
    try FileManager.default.createDirectory(at: parent, withIntermediateDirectories: true)
    let file = parent.appendingPathComponent("results")
    try Data().write(to: file)
    let one = task("one") { () -> Int in 1 }
    let result = try await Flow("io", resultStore: LocalResultStore(directory: file)) { one() }
      .run(environment: environment())
    let state = try #require(result.taskRun("one")?.state)
    #expect(state.kind == .failed)
    #expect(state.message?.hasPrefix("Cannot persist the output") == true)
    #expect(state.message?.contains(file.path) == true)
  }

  @Test(
    "disk full: the task fails with the path and 'No space left on device', leaving no partial file",
    .enabled(if: Tmpfs.isAvailable, "needs permission to mount a tmpfs"))
  func diskFull() async throws {
    let mountPoint = uniqueDirectory("tmpfs")
    defer { removeDirectory(mountPoint) }
    try #require(Tmpfs.mount(at: mountPoint, size: "16k"))
    defer { Tmpfs.unmount(mountPoint) }
    let store = LocalResultStore(directory: mountPoint)

    let small = task("small") { () -> Int in 1 }.checkpoint(to: store, target: "small.json")
    let big = task("big") { () -> Data in Data(repeating: 0x5A, count: 256 * 1024) }
      .checkpoint(to: store, target: "big.bin")
    let result = try await Flow("full") {
      small()
      big()
    }.run(environment: environment())

    #expect(result.taskRun("small")?.state.kind == .success)
    let state = try #require(result.taskRun("big")?.state)
    #expect(state.kind == .failed)
    let message = try #require(state.message)
    #expect(message.contains(mountPoint.appendingPathComponent("big.bin").path))
    #expect(message.contains("No space left on device"))
    #expect((state.error as? ResultStoreError)?.code == .io)
    #expect(result.state.kind == .failed)
    // Nothing half-written stays behind, and the earlier value is intact.
    #expect(files(in: mountPoint) == ["small.json"])
    #expect(try store.read(Int.self, at: "small.json") == 1)
  }

  @Test(
    "disk full when replacing a value keeps the old value",
    .enabled(if: Tmpfs.isAvailable, "needs permission to mount a tmpfs"))
  func diskFullKeepsOldValue() async throws {
    let mountPoint = uniqueDirectory("tmpfs-old")
    defer { removeDirectory(mountPoint) }
    try #require(Tmpfs.mount(at: mountPoint, size: "16k"))
    defer { Tmpfs.unmount(mountPoint) }
    let store = LocalResultStore(directory: mountPoint)
    let old = StoredResult(
      serializer: "string", typeName: "String", payload: Data("old".utf8))
    try store.write(old, at: "value")
    var huge = old
    huge.payload = Data(repeating: 0x41, count: 128 * 1024)
    let error = #expect(throws: ResultStoreError.self) { try store.write(huge, at: "value") }
    #expect(error?.code == .io)
    #expect(error?.message.contains("No space left on device") == true)
    #expect(error?.location == mountPoint.appendingPathComponent("value").path)
    #expect(try store.read(at: "value") == old)
    #expect(files(in: mountPoint) == ["value"])
  }

  @Test(
    "permission denied: the task fails with the path and the cause",
    .enabled(if: getuid() != 0, "root bypasses file permissions, so this cannot be produced"))
  func permissionDenied() async throws {
    let dir = uniqueDirectory("read-only")
    defer {
      chmod(dir.path, 0o755)
      removeDirectory(dir)
    }
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    chmod(dir.path, 0o555)
    let one = task("one") { () -> Int in 1 }
      .checkpoint(to: LocalResultStore(directory: dir), target: "one.json")
    let result = try await Flow("denied") { one() }.run(environment: environment())
    let state = try #require(result.taskRun("one")?.state)
    #expect(state.kind == .failed)
    #expect(state.message?.contains(dir.appendingPathComponent("one.json").path) == true)
    #expect(state.message?.contains("Permission denied") == true)
  }
}

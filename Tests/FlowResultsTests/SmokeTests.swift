import FlowCore
import FlowExecutors
import FlowResults
import FlowState
import FlowTesting
import Foundation
import Synchronization
import Testing

@Suite("FlowResults smoke")
struct SmokeTests {
  @Test("a second run with a target runs nothing")
  func targetHit() async throws {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent(
      "smoke-\(UInt64.random(in: 0...UInt64.max))")
    defer { try? FileManager.default.removeItem(at: dir) }
    let store = LocalResultStore(directory: dir)
    let calls = Mutex(0)
    let square = task("square") { (x: Int) -> Int in
      calls.withLock { $0 += 1 }
      return x * x
    }.inputs("x").checkpoint(to: store, target: "{flow_name}/{task_name}-{x}-{date:%a_%b_%d_%Y}")
    let flow = Flow("targets") { square(Parameter("n", default: 7)) }
    let clock = TestClock(now: Date(timeIntervalSince1970: 1_800_000_000), autoAdvance: true)
    let first = try await flow.run(environment: .testing(seed: 1, clock: clock))
    #expect(first.taskRun("square")?.state.kind == .success)
    let second = try await flow.run(environment: .testing(seed: 2, clock: clock))
    let run = try #require(second.taskRun("square"))
    #expect(run.state.kind == .cached)
    #expect(run.state.value(as: Int.self) == 49)
    #expect(calls.withLock { $0 } == 1)
    print(run.state.message ?? "")
    let files = try FileManager.default.subpathsOfDirectory(atPath: dir.path)
    print(files)
    #expect(files.contains("targets/square-7-Fri_Jan_15_2027"))
  }

  @Test("resume reruns only what failed")
  func resume() async throws {
    let store = MemoryResultStore()
    let failing = Mutex(true)
    let calls = Mutex([String: Int]())
    @Sendable func count(_ name: String) { calls.withLock { $0[name, default: 0] += 1 } }
    let a = task("a") { () -> Int in
      count("a")
      return 1
    }
    let b = task("b") { (x: Int) throws -> Int in
      count("b")
      if failing.withLock({ $0 }) { throw URLError(.badURL) }
      return x + 1
    }
    let c = task("c") { (x: Int) -> Int in
      count("c")
      return x * 10
    }
    let flow = Flow("resume", resultStore: store) { c(b(a())) }
    let first = try await flow.run()
    #expect(first.state.kind == .failed)
    failing.withLock { $0 = false }
    let second = try await flow.run(resuming: first.flowRunID)
    #expect(second.state.kind == .success)
    #expect(second.taskRun("a")?.state.kind == .cached)
    #expect(calls.withLock { $0 } == ["a": 1, "b": 2, "c": 1])
    print(store.locations)
  }

  @Test("a corrupt target reruns the task and says why")
  func corrupt() async throws {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent(
      "smoke-\(UInt64.random(in: 0...UInt64.max))")
    defer { try? FileManager.default.removeItem(at: dir) }
    let store = LocalResultStore(directory: dir)
    let one = task("one") { () -> Int in 1 }.checkpoint(to: store, target: "one.json")
    let flow = Flow("corrupt") { one() }
    _ = try await flow.run()
    var bytes = try Data(contentsOf: dir.appendingPathComponent("one.json"))
    bytes[bytes.count - 1] ^= 0xFF
    try bytes.write(to: dir.appendingPathComponent("one.json"))
    let second = try await flow.run()
    let run = try #require(second.taskRun("one"))
    #expect(run.state.kind == .success)
    #expect(run.state.message?.contains("checksum mismatch") == true)
    print(run.state.message ?? "")
  }
}

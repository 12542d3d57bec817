import FlowCore
import FlowExecutors
import FlowResults
import FlowState
import FlowTesting
import Foundation
import Testing

/// A value at a task's target makes the task Cached without running its body.
@Suite("Target hits and misses", .timeLimit(.minutes(2)))
struct TargetHitTests {
  static let executors: [FlowExecutor] = [.sequential, .concurrent(width: 3)]

  @Test(
    "a second run of a flow with targets runs none of its persisted tasks", arguments: executors)
  func secondRunRunsNothing(executor: FlowExecutor) async throws {
    let dir = uniqueDirectory("second-run")
    defer { removeDirectory(dir) }
    let store = LocalResultStore(directory: dir)
    let calls = CallCounts()
    let target = "{date:%a_%b_%d_%Y_%H:%M:%S}/{task_name}_output"
    let load = task("load") { () -> [Double] in
      calls.record("load")
      return [5.1, 4.9, 6.2]
    }.checkpoint(to: store, target: target)
    let clean = task("clean") { (rows: [Double]) -> [Double] in
      calls.record("clean")
      return rows.filter { $0 > 5 }
    }.checkpoint(to: store, target: target)
    let summarize = task("summarize") { (rows: [Double]) -> TrialSummary in
      calls.record("summarize")
      return TrialSummary(name: "iris", accuracy: rows.reduce(0, +), labels: ["setosa"])
    }.checkpoint(to: store, target: target)
    var summary: Ref<TrialSummary>!
    var cleaned: Ref<[Double]>!
    let flow = Flow("iris") {
      cleaned = clean(load())
      summary = summarize(cleaned)
    }
    let clock = TestClock(now: fixedStart)
    let first = try await flow.run(executor: executor, environment: environment(clock: clock))
    #expect(first.taskRuns.map(\.state.kind) == [.success, .success, .success])
    #expect(
      files(in: dir) == [
        "Thu_Mar_05_2026_14:07:09/clean_output", "Thu_Mar_05_2026_14:07:09/load_output",
        "Thu_Mar_05_2026_14:07:09/summarize_output",
      ])

    let second = try await flow.run(
      executor: executor, environment: environment(seed: 2, clock: clock))
    #expect(second.state.kind == .success)
    #expect(second.taskRuns.map(\.state.kind) == [.cached, .cached, .cached])
    #expect(second.taskRuns.allSatisfy { $0.attempts == 0 })
    #expect(calls.all == ["load": 1, "clean": 1, "summarize": 1])
    let expected = TrialSummary(name: "iris", accuracy: 11.3, labels: ["setosa"])
    #expect(try second.result(of: summary) == expected)
    #expect(try second.result(of: summary) == first.result(of: summary))
    #expect(try second.result(of: cleaned) == [5.1, 6.2])
    let message = try #require(second.taskRun("clean")?.state.message)
    #expect(message.contains("Thu_Mar_05_2026_14:07:09/clean_output"))
    #expect(message.contains("directory \(dir.path)"))
    #expect(message.contains("did not run"))
  }

  @Test("the Cached message names the target and the store")
  func cachedMessage() async throws {
    let store = MemoryResultStore()
    let one = task("one") { () -> Int in 1 }.checkpoint(to: store, target: "out/one.json")
    let flow = Flow("message") { one() }
    _ = try await flow.run(environment: environment())
    let second = try await flow.run(environment: environment(seed: 2))
    let state = try #require(second.taskRun("one")?.state)
    #expect(state.kind == .cached)
    #expect(state.message == "Target 'out/one.json' exists in memory; the task did not run.")
  }

  @Test("a different parameter renders a different target, and that task runs")
  func differentParameter() async throws {
    let dir = uniqueDirectory("parameter-miss")
    defer { removeDirectory(dir) }
    let store = LocalResultStore(directory: dir)
    let calls = Counter()
    let square = task("square") { (x: Int) -> Int in
      calls.increment()
      return x * x
    }.checkpoint(to: store, target: "squares/{parameters[n]}")
    var ref: Ref<Int>!
    let flow = Flow("squares") { ref = square(Parameter("n", default: 2)) }
    let runs = [(2, 1, RunState.Kind.success), (3, 2, .success), (2, 2, .cached), (3, 2, .cached)]
    for (seed, (n, expectedCalls, kind)) in runs.enumerated() {
      let result = try await flow.run(
        parameters: ["n": n], environment: environment(seed: UInt64(seed)))
      #expect(result.taskRun("square")?.state.kind == kind, "n = \(n)")
      #expect(try result.result(of: ref) == n * n)
      #expect(calls.count == expectedCalls, "n = \(n)")
    }
    #expect(files(in: dir) == ["squares/2", "squares/3"])
  }

  @Test("a target on another day is a miss; the same day again is a hit")
  func dateMiss() async throws {
    let store = MemoryResultStore()
    let calls = Counter()
    let daily = task("daily") { () -> Int in calls.increment() }
      .checkpoint(to: store, target: "daily/{date:%F}")
    let flow = Flow("daily") { daily() }
    let day = 86_400.0
    for (seed, offset) in [0.0, 3_600, day, day + 60].enumerated() {
      _ = try await flow.run(
        environment: environment(seed: UInt64(seed)),
        scheduledStart: fixedStart.addingTimeInterval(offset))
    }
    #expect(calls.count == 2)
    #expect(store.locations == ["daily/2026-03-05", "daily/2026-03-06"])
  }

  @Test("mapped children with {map_index} are Cached one by one; a new index runs")
  func mappedTargets() async throws {
    let dir = uniqueDirectory("mapped")
    defer { removeDirectory(dir) }
    let store = LocalResultStore(directory: dir)
    let calls = CallCounts()
    let square = task("square") { (x: Int) -> Int in
      calls.record("square \(x)")
      return x * x
    }.checkpoint(to: store, target: "{task_name}/{map_index}.json")
    let total = task("total") { (xs: [Int]) -> Int in
      calls.record("total")
      return xs.reduce(0, +)
    }
    var squares: Ref<[Int]>!
    var sum: Ref<Int>!
    let flow = Flow("mapped") {
      squares = square.map(Parameter("xs", default: [1, 2, 3]))
      sum = total(squares)
    }
    let first = try await flow.run(environment: environment())
    #expect(first.mappedRuns("square").map(\.state.kind) == [.success, .success, .success])
    #expect(files(in: dir) == ["square/0.json", "square/1.json", "square/2.json"])

    let second = try await flow.run(environment: environment(seed: 2))
    let children = second.mappedRuns("square")
    #expect(children.map(\.mapIndex) == [0, 1, 2])
    #expect(children.map(\.state.kind) == [.cached, .cached, .cached])
    #expect(children.map { $0.state.value(as: Int.self) } == [1, 4, 9])
    #expect(children[1].state.message?.contains("square/1.json") == true)
    #expect(second.taskRun("square")?.state.kind == .mapped)
    #expect(try second.result(of: squares) == [1, 4, 9])
    #expect(try second.result(of: sum) == 14)

    let third = try await flow.run(
      parameters: ["xs": [1, 2, 3, 4]], environment: environment(seed: 3))
    #expect(
      third.mappedRuns("square").map(\.state.kind) == [.cached, .cached, .cached, .success])
    #expect(try third.result(of: sum) == 30)
    #expect(
      calls.all == ["square 1": 1, "square 2": 1, "square 3": 1, "square 4": 1, "total": 3])
  }

  @Test("a Cached task's value is typed and flows downstream")
  func typedCachedValue() async throws {
    let store = MemoryResultStore()
    let calls = CallCounts()
    let summarize = task("summarize") { () -> TrialSummary in
      calls.record("summarize")
      return TrialSummary(name: "trial", accuracy: 0.97, labels: ["a", "b"])
    }.checkpoint(to: store, target: "summary.json")
    let describe = task("describe") { (summary: TrialSummary) -> String in
      calls.record("describe")
      return "\(summary.name): \(summary.accuracy)"
    }
    var summary: Ref<TrialSummary>!
    var description: Ref<String>!
    let flow = Flow("typed") {
      summary = summarize()
      description = describe(summary)
    }
    _ = try await flow.run(environment: environment())
    let second = try await flow.run(environment: environment(seed: 2))
    let state = try second.state(of: summary)
    #expect(state.kind == .cached)
    #expect(state.value(as: TrialSummary.self)?.labels == ["a", "b"])
    #expect(try second.result(of: summary).accuracy == 0.97)
    #expect(try second.result(of: description) == "trial: 0.97")
    #expect(calls.all == ["summarize": 1, "describe": 2])
  }

  @Test("deleting the target file makes the task run again and rewrite it")
  func deletedTarget() async throws {
    let dir = uniqueDirectory("deleted")
    defer { removeDirectory(dir) }
    let store = LocalResultStore(directory: dir)
    let calls = Counter()
    let one = task("one") { () -> Int in calls.increment() }
      .checkpoint(to: store, target: "one.json")
    let flow = Flow("deleted") { one() }
    _ = try await flow.run(environment: environment())
    try FileManager.default.removeItem(at: dir.appendingPathComponent("one.json"))
    let second = try await flow.run(environment: environment(seed: 2))
    #expect(second.taskRun("one")?.state.kind == .success)
    #expect(calls.count == 2)
    #expect(try store.read(Int.self, at: "one.json") == 2)
    let third = try await flow.run(environment: environment(seed: 3))
    #expect(third.taskRun("one")?.state.kind == .cached)
    #expect(third.taskRun("one")?.state.value(as: Int.self) == 2)
  }

  @Test("a task's own store wins over the flow's store")
  func taskStoreOverridesFlowStore() async throws {
    let flowStore = MemoryResultStore()
    let taskStore = MemoryResultStore()
    let a = task("a") { () -> Int in 1 }
    let b = task("b") { (x: Int) -> Int in x + 1 }.checkpoint(to: taskStore, target: "b.json")
    let flow = Flow("stores", resultStore: flowStore) { b(a()) }
    let result = try await flow.run(environment: environment())
    #expect(result.state.kind == .success)
    #expect(taskStore.locations == ["b.json"])
    let runID = result.flowRunID.uuidString.lowercased()
    #expect(flowStore.locations == ["stores/\(runID)/a"])
  }

  @Test("a flow's result store checkpoints every task output except nil and Void ones")
  func flowStoreCheckpointsEverything() async throws {
    let dir = uniqueDirectory("flow-store")
    defer { removeDirectory(dir) }
    let store = LocalResultStore(directory: dir)
    let count = task("count") { () -> Int in 3 }
    let maybe = task("maybe") { (x: Int) -> String? in x > 5 ? "big" : nil }
    let log = task("log") { (_: String?) in }
    let flow = Flow("explicit", resultStore: store) {
      let counted = count()
      log(maybe(counted))
      _ = maybe(Parameter("n", default: 9))
    }
    let result = try await flow.run(environment: environment())
    #expect(result.state.kind == .success)
    let base = "explicit/\(result.flowRunID.uuidString.lowercased())"
    // Prefect writes nothing for None: the nil output of `maybe` and the Void one of `log`
    // leave no file (this test used to pin files for them).
    #expect(files(in: dir) == ["\(base)/count", "\(base)/maybe-2"])
    #expect(try store.read(Int.self, at: "\(base)/count") == 3)
    #expect(try store.read(at: "\(base)/maybe") == nil)
    #expect(try store.read(String?.self, at: "\(base)/maybe-2") == "big")
    #expect(try store.read(at: "\(base)/log") == nil)
    // Without `resuming:`, a checkpoint without a target is written but never read back.
    let again = try await flow.run(environment: environment(seed: 2))
    #expect(again.taskRuns.allSatisfy { $0.state.kind == .success })
    #expect(files(in: dir).count == 4)
  }

  @Test("without a store, nothing is persisted and every run runs the body")
  func noStoreNoCheckpoint() async throws {
    let calls = Counter()
    let one = task("one") { () -> Int in calls.increment() }
    let flow = Flow("plain") { one() }
    for seed in 1...3 {
      let result = try await flow.run(environment: environment(seed: UInt64(seed)))
      #expect(result.taskRun("one")?.state.kind == .success)
    }
    #expect(calls.count == 3)
  }

  @Test(
    "a target rendered to a bad location fails the task without running it",
    arguments: ["..", "../escape", "", "a//b", "."])
  func badRenderedLocation(word: String) async throws {
    let dir = uniqueDirectory("bad-rendered")
    defer { removeDirectory(dir) }
    let store = LocalResultStore(directory: dir)
    let calls = CallCounts()
    let echo = task("echo") { (word: String) -> String in
      calls.record("echo")
      return word
    }.inputs("word").checkpoint(to: store, target: "{word}")
    let after = task("after") { (word: String) -> Int in
      calls.record("after")
      return word.count
    }
    let flow = Flow("bad-rendered") { after(echo(Parameter("word", default: word))) }
    let result = try await flow.run(environment: environment())
    let state = try #require(result.taskRun("echo")?.state)
    #expect(state.kind == .failed)
    #expect((state.error as? ResultStoreError)?.code == .badLocation)
    #expect(state.message?.contains("relative path") == true)
    #expect(result.taskRun("after")?.state.kind == .triggerFailed)
    #expect(result.state.kind == .failed)
    #expect(calls.all.isEmpty)
    #expect(files(in: dir).isEmpty)
  }
}

import FlowCore
import FlowExecutors
import FlowResults
import FlowState
import FlowTesting
import Foundation
import Testing

/// Rerunning a failed flow run with `resuming:` reuses its checkpointed outputs.
@Suite("Resuming a failed flow run", .timeLimit(.minutes(2)))
struct ResumeTests {
  static let executors: [FlowExecutor] = [.sequential, .concurrent(width: 3)]

  /// a → b → c, where b fails while `failing` is on.
  private struct Pipeline {
    let calls = CallCounts()
    let failing = Flag(true)
    let flow: Flow
    var c: Ref<Int>!

    init(store: any ResultStore) {
      let calls = calls
      let failing = failing
      let a = task("a") { () -> Int in
        calls.record("a")
        return 1
      }
      let b = task("b") { (x: Int) throws -> Int in
        calls.record("b")
        if failing.isOn { throw Boom() }
        return x + 1
      }
      let c = task("c") { (x: Int) -> Int in
        calls.record("c")
        return x * 10
      }
      var ref: Ref<Int>!
      flow = Flow("resume", resultStore: store) { ref = c(b(a())) }
      self.c = ref
    }
  }

  @Test("a is Cached (Resumed), b and c run; body counts prove it", arguments: executors)
  func resumeAfterFailure(executor: FlowExecutor) async throws {
    let dir = uniqueDirectory("resume")
    defer { removeDirectory(dir) }
    let pipeline = Pipeline(store: LocalResultStore(directory: dir))
    let first = try await pipeline.flow.run(executor: executor, environment: environment())
    #expect(first.state.kind == .failed)
    #expect(first.taskRuns.map(\.state.kind) == [.success, .failed, .triggerFailed])
    let runID = first.flowRunID.uuidString.lowercased()
    #expect(files(in: dir) == ["resume/\(runID)/a"])

    pipeline.failing.set(false)
    let second = try await pipeline.flow.run(
      executor: executor, environment: environment(seed: 2), resuming: first.flowRunID)
    #expect(second.flowRunID == first.flowRunID)
    #expect(second.state.kind == .success)
    #expect(second.taskRuns.map(\.state.kind) == [.cached, .success, .success])
    #expect(pipeline.calls.all == ["a": 1, "b": 2, "c": 1])
    #expect(try second.result(of: pipeline.c) == 20)
    let message = try #require(second.taskRun("a")?.state.message)
    #expect(message.hasPrefix("Resumed"))
    #expect(message.contains(runID))
    #expect(message.contains("'resume/\(runID)/a'"))
    #expect(message.contains("directory \(dir.path)"))
    #expect(files(in: dir) == ["resume/\(runID)/a", "resume/\(runID)/b", "resume/\(runID)/c"])
  }

  @Test("resuming a run that has finished reruns nothing")
  func resumeTwice() async throws {
    let pipeline = Pipeline(store: MemoryResultStore())
    let first = try await pipeline.flow.run(environment: environment())
    pipeline.failing.set(false)
    _ = try await pipeline.flow.run(environment: environment(seed: 2), resuming: first.flowRunID)
    let third = try await pipeline.flow.run(
      environment: environment(seed: 3), resuming: first.flowRunID)
    #expect(third.taskRuns.map(\.state.kind) == [.cached, .cached, .cached])
    #expect(third.state.kind == .success)
    #expect(try third.result(of: pipeline.c) == 20)
    #expect(pipeline.calls.all == ["a": 1, "b": 2, "c": 1])
  }

  @Test("a fresh run (no `resuming:`) reruns everything under a new run ID")
  func freshRun() async throws {
    let store = MemoryResultStore()
    let pipeline = Pipeline(store: store)
    let first = try await pipeline.flow.run(environment: environment())
    pipeline.failing.set(false)
    let fresh = try await pipeline.flow.run(environment: environment(seed: 2))
    #expect(fresh.flowRunID != first.flowRunID)
    #expect(fresh.taskRuns.map(\.state.kind) == [.success, .success, .success])
    #expect(pipeline.calls.all == ["a": 2, "b": 2, "c": 1])
    let again = try await pipeline.flow.run(environment: environment(seed: 3))
    #expect(again.taskRuns.map(\.state.kind) == [.success, .success, .success])
    #expect(pipeline.calls.all == ["a": 3, "b": 3, "c": 2])
    #expect(store.locations.count == 1 + 3 + 3)
  }

  @Test("resuming with another store finds nothing and reruns everything")
  func resumeWithOtherStore() async throws {
    let pipeline = Pipeline(store: MemoryResultStore())
    let first = try await pipeline.flow.run(environment: environment())
    pipeline.failing.set(false)
    let other = Pipeline(store: MemoryResultStore())
    other.failing.set(false)
    let second = try await other.flow.run(
      environment: environment(seed: 2), resuming: first.flowRunID)
    #expect(second.taskRuns.map(\.state.kind) == [.success, .success, .success])
    #expect(other.calls.all == ["a": 1, "b": 1, "c": 1])
  }

  @Test("resuming another run's ID does not reuse this run's outputs")
  func resumeOtherRunID() async throws {
    let pipeline = Pipeline(store: MemoryResultStore())
    _ = try await pipeline.flow.run(environment: environment())
    pipeline.failing.set(false)
    let unrelated = UUID(uuidString: "00000000-0000-4000-8000-000000000001")!
    let second = try await pipeline.flow.run(
      environment: environment(seed: 2), resuming: unrelated)
    #expect(second.flowRunID == unrelated)
    #expect(second.taskRuns.map(\.state.kind) == [.success, .success, .success])
    #expect(pipeline.calls.all == ["a": 2, "b": 2, "c": 1])
  }

  @Test("only what failed or depends on it reruns, in a diamond")
  func diamond() async throws {
    let store = MemoryResultStore()
    let calls = CallCounts()
    let failing = Flag(true)
    let root = task("root") { () -> Int in
      calls.record("root")
      return 2
    }
    let left = task("left") { (x: Int) throws -> Int in
      calls.record("left")
      if failing.isOn { throw Boom() }
      return x + 1
    }
    let right = task("right") { (x: Int) -> Int in
      calls.record("right")
      return x * 5
    }
    let join = task("join") { (a: Int, b: Int) -> Int in
      calls.record("join")
      return a + b
    }
    let side = task("side") { (x: Int) -> Int in
      calls.record("side")
      return -x
    }
    var joined: Ref<Int>!
    let flow = Flow("diamond", resultStore: store) {
      let r = root()
      let rightValue = right(r)
      joined = join(left(r), rightValue)
      side(rightValue)
    }
    let first = try await flow.run(executor: .concurrent(width: 2), environment: environment())
    #expect(first.state.kind == .failed)
    failing.set(false)
    let second = try await flow.run(
      executor: .concurrent(width: 2), environment: environment(seed: 2),
      resuming: first.flowRunID)
    #expect(second.state.kind == .success)
    #expect(second.taskRun("root")?.state.kind == .cached)
    #expect(second.taskRun("right")?.state.kind == .cached)
    #expect(second.taskRun("side")?.state.kind == .cached)
    #expect(second.taskRun("left")?.state.kind == .success)
    #expect(second.taskRun("join")?.state.kind == .success)
    #expect(try second.result(of: joined) == 13)
    #expect(calls.all == ["root": 1, "left": 2, "right": 1, "join": 1, "side": 1])
  }

  @Test("mapped children that succeeded are Cached; the failed child reruns")
  func mappedResume() async throws {
    let store = MemoryResultStore()
    let calls = CallCounts()
    let failing = Flag(true)
    let invert = task("invert") { (x: Int) throws -> Double in
      calls.record("invert \(x)")
      if x == 2, failing.isOn { throw Boom() }
      return 1 / Double(x)
    }
    var ref: Ref<[Double]>!
    let flow = Flow("mapped-resume", resultStore: store) {
      ref = invert.map(.constant([1, 2, 4]))
    }
    let first = try await flow.run(environment: environment())
    #expect(first.mappedRuns("invert").map(\.state.kind) == [.success, .failed, .success])
    failing.set(false)
    let second = try await flow.run(environment: environment(seed: 2), resuming: first.flowRunID)
    #expect(second.mappedRuns("invert").map(\.state.kind) == [.cached, .success, .cached])
    #expect(try second.result(of: ref) == [1, 0.5, 0.25])
    #expect(calls.all == ["invert 1": 1, "invert 2": 2, "invert 4": 1])
    let runID = first.flowRunID.uuidString.lowercased()
    #expect(
      store.locations == [
        "mapped-resume/\(runID)/invert/0", "mapped-resume/\(runID)/invert/1",
        "mapped-resume/\(runID)/invert/2",
      ])
  }

  @Test("only checkpointed outputs are reused: a task without a store runs again")
  func onlyCheckpointedTasks() async throws {
    let store = MemoryResultStore()
    let calls = CallCounts()
    let failing = Flag(true)
    let a = task("a") { () -> Int in
      calls.record("a")
      return 1
    }.checkpoint(to: store)
    let b = task("b") { (x: Int) -> Int in
      calls.record("b")
      return x + 1
    }
    let c = task("c") { (x: Int) throws -> Int in
      calls.record("c")
      if failing.isOn { throw Boom() }
      return x * 3
    }
    var ref: Ref<Int>!
    let flow = Flow("partial") { ref = c(b(a())) }
    let first = try await flow.run(environment: environment())
    #expect(first.state.kind == .failed)
    failing.set(false)
    let second = try await flow.run(environment: environment(seed: 2), resuming: first.flowRunID)
    #expect(second.taskRuns.map(\.state.kind) == [.cached, .success, .success])
    #expect(try second.result(of: ref) == 6)
    #expect(calls.all == ["a": 1, "b": 2, "c": 2])
  }

  @Test("a task that retried and then succeeded is checkpointed once and resumed")
  func retriedThenSucceeded() async throws {
    let store = MemoryResultStore()
    let calls = CallCounts()
    let attempts = Counter()
    let flaky = task("flaky", retries: RetryPolicy(maxRetries: 2, delay: .seconds(10))) {
      () throws -> Int in
      calls.record("flaky")
      if attempts.increment() < 2 { throw Boom() }
      return 5
    }
    let failing = Flag(true)
    let last = task("last") { (x: Int) throws -> Int in
      calls.record("last")
      if failing.isOn { throw Boom() }
      return x
    }
    let flow = Flow("retried", resultStore: store) { last(flaky()) }
    let clock = TestClock(now: fixedStart, autoAdvance: true)
    let first = try await flow.run(environment: environment(clock: clock))
    #expect(first.taskRun("flaky")?.state.kind == .success)
    #expect(first.taskRun("flaky")?.attempts == 2)
    failing.set(false)
    let second = try await flow.run(
      environment: environment(seed: 2, clock: clock), resuming: first.flowRunID)
    #expect(second.taskRun("flaky")?.state.kind == .cached)
    #expect(second.taskRun("last")?.state.value(as: Int.self) == 5)
    #expect(calls.all == ["flaky": 2, "last": 2])
  }
}

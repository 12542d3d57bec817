import FlowCore
import FlowExecutors
import FlowResults
import Foundation
import Synchronization
import Testing

/// Durable execution's default: a deployment's run persists every task output it can, so that
/// the run resumed under its ID (a takeover) does not run those tasks again; a task opts out.
@Suite("Durable outputs: persisted by default, opt out per task")
struct DurableOutputsTests {
  /// Not Codable: its output cannot be persisted, and that is no error.
  struct Handle: Sendable { let n: Int }

  @Test(
    "a resumed run reuses every persisted output; noCheckpoint() and non-Codable tasks run again")
  func resumeSkipsPersisted() async throws {
    let ran = Mutex<[String]>([])
    let load = task("load") { () -> Int in
      ran.withLock { $0.append("load") }
      return 20
    }
    let open = task("open") { (n: Int) -> Handle in
      ran.withLock { $0.append("open") }
      return Handle(n: n)
    }
    let fresh = task("fresh") { (handle: Handle) -> Int in
      ran.withLock { $0.append("fresh") }
      return handle.n + 1
    }.noCheckpoint()
    let total = task("total") { (n: Int) -> Int in
      ran.withLock { $0.append("total") }
      return n * 2
    }
    let report = task("report") { (n: Int) -> String in
      ran.withLock { $0.append("report") }
      return "n=\(n)"
    }
    let flow = Flow("durable") {
      let n = load()
      _ = total(fresh(open(n)))
      _ = report(n)
    }
    let store = MemoryResultStore()
    let durable = flow.persistingOutputs(in: store)
    #expect(durable.record.version == flow.record.version, "the graph is unchanged")
    let first = try await durable.run()
    #expect(first.state.kind == .success)
    #expect(ran.withLock { $0 }.sorted() == ["fresh", "load", "open", "report", "total"])
    #expect(store.locations.count == 3, "load, total and report only: \(store.locations)")
    ran.withLock { $0.removeAll() }
    let resumed = try await durable.run(resuming: first.flowRunID)
    #expect(resumed.state.kind == .success)
    // `open` cannot be persisted and `fresh` opted out: they run again, and so does `total`,
    // downstream of them; `load` and `report` are Cached from the first holding of the run.
    #expect(ran.withLock { $0 }.sorted() == ["fresh", "open", "total"])
    #expect(resumed.taskRun("load")?.state.kind == .cached)
    #expect(resumed.taskRun("report")?.state.kind == .cached)
    #expect(resumed.taskRun("total")?.state.kind == .success)
    // A flow with its own result store is left as it is.
    let own = Flow("own", resultStore: MemoryResultStore()) { _ = load() }
    #expect(own.persistingOutputs(in: store).resultStore as? MemoryResultStore !== store)
  }
}

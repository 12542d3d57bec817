import FlowCore
import Foundation
import Synchronization

/// One unit of the demo's synthetic work.
struct DemoItem: Codable, Sendable {
  /// Its position.
  var index: Int
  /// How long it takes.
  var milliseconds: Int
  /// Whether it fails (decided from the seed, so that every executor sees the same failures).
  var fails: Bool
}

/// A demo task's failure.
struct DemoFailure: Error, CustomStringConvertible {
  let index: Int
  var description: String { "demo task \(index) failed on purpose (--failure-rate)" }
}

/// The flows the `flow` binary defines; `flow worker` registers all of them.
enum DemoFlows {
  /// The longest chain `flow demo --shape chain` runs (the chain flow is built at start-up with
  /// this many steps, and a run takes a prefix of it).
  static let maxChain = 1000

  static let plan = task("plan") {
    (count: Int, milliseconds: Int, failureRate: Double, seed: Int) -> [DemoItem] in
    (0..<count).map { index in
      DemoItem(
        index: index, milliseconds: milliseconds,
        fails: failureRate > 0 && unitInterval(seed: seed, index: index) < failureRate)
    }
  }

  /// How many times a `work` run moved to Crashed (its worker was lost), as its state handler
  /// saw it in this process (the scheduler's).
  static let crashedStates = Atomic<Int>(0)

  static let work = task(
    "work",
    stateHandlers: [
      { change in
        if change.new.kind == .crashed { crashedStates.add(1, ordering: .relaxed) }
        return change.new
      }
    ]
  ) { (item: DemoItem) async throws -> Int in
    if item.milliseconds > 0 {
      let clock = TaskRunContext.current?.environment.clock ?? SystemWallClock()
      try await clock.sleep(for: .milliseconds(item.milliseconds))
    }
    if item.fails { throw DemoFailure(index: item.index) }
    return item.index
  }

  static let summarize = task("summarize", trigger: .allFinished) { () -> Int in 0 }

  /// `flow-demo`: plan N items, map `work` over them.
  static let fanOut = Flow("flow-demo") {
    let count = Parameter("tasks", default: 100)
    let milliseconds = Parameter("task-duration-ms", default: 0)
    let failureRate = Parameter("failure-rate", default: 0.0)
    let seed = Parameter("seed", default: 1)
    let items = plan(count, milliseconds, failureRate, seed)
    work.map(items)
  }

  static let first = task("first") { () -> Int in 0 }
  static let step = task("step") { (value: Int) -> Int in value + 1 }

  /// `flow-demo-chain-N`: N dependent steps.
  static func chain(_ length: Int) -> Flow {
    Flow("flow-demo-chain-\(length)") {
      var previous = first()
      for _ in 1..<max(1, length) { previous = step(previous) }
    }
  }

  static let loopPlan = task("loop-plan") { (count: Int) -> [Int] in Array(0..<max(0, count)) }

  /// The most iterations one `loop` run may take (`.looping(max:)`).
  static let maxLoopIterations = 10

  /// Runs `index % 12 + 1` iterations, each adding its loop count to the payload it passes on,
  /// and returns 1 + 2 + … + its last count; a run that asks for more than
  /// ``maxLoopIterations`` iterations fails with a `LoopLimitError`.
  static let loop = task("loop") { (index: Int) throws -> Int in
    let context = TaskRunContext.current
    let count = context?.loopCount ?? 1
    let sum = (context?.loopPayload(Int.self) ?? 0) + count
    if count < index % 12 + 1 { throw LoopAgain(sum) }
    return sum
  }.looping(max: maxLoopIterations)

  /// `flow-demo-loop`: maps `loop` over 0..<N.
  static let loops = Flow("flow-demo-loop") {
    let count = Parameter("tasks", default: 24)
    loop.map(loopPlan(count))
  }

  /// How long the `stuck` run that ignores cancellation blocks its thread.
  static let stuckSeconds = 30.0

  /// Has a 2 s timeout. Index 0 blocks its thread for ``stuckSeconds`` without ever looking at
  /// cancellation (a body a timeout cannot stop); the others sleep 300 ms.
  static let stuck = task("stuck", timeout: .seconds(2)) { (index: Int) async throws -> Int in
    if index == 0 {
      blockThread(seconds: stuckSeconds)
    } else {
      let clock = TaskRunContext.current?.environment.clock ?? SystemWallClock()
      try await clock.sleep(for: .milliseconds(300))
    }
    return index
  }

  /// Holds the calling thread, as a blocking call that never checks cancellation does.
  static func blockThread(seconds: Double) { Thread.sleep(forTimeInterval: seconds) }

  /// Runs once every `stuck` run has finished, for 3 s: on a cluster its worker is replaced
  /// while it runs (the stuck body's grace period ends), so it runs again on the new process.
  static let afterStuck = task("after-stuck", trigger: .allFinished) { () async throws -> Int in
    let clock = TaskRunContext.current?.environment.clock ?? SystemWallClock()
    try await clock.sleep(for: .seconds(3))
    return 1
  }

  /// `flow-demo-stuck`: maps `stuck` over 0..<N (its first run times out and ignores it), then
  /// `after-stuck`.
  static let stuckRuns = Flow("flow-demo-stuck") {
    let count = Parameter("tasks", default: 8)
    let runs = stuck.map(loopPlan(count))
    afterStuck().after(runs)
  }

  /// Every flow a `flow worker` can run.
  static var all: [Flow] { [fanOut, chain(maxChain), chain(100), chain(10), loops, stuckRuns] }

  /// A number in [0, 1) from the seed and the index (SplitMix64), the same in every process.
  static func unitInterval(seed: Int, index: Int) -> Double {
    var z = UInt64(bitPattern: Int64(seed)) &* 0x9E37_79B9_7F4A_7C15 &+ UInt64(index)
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    z ^= z >> 31
    return Double(z >> 11) / Double(1 << 53)
  }
}

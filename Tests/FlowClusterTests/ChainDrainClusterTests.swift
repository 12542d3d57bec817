import FlowCluster
import FlowClusterProtocol
import FlowCore
import FlowExecutors
import Foundation
import Synchronization
import Testing

/// Holds one chain link until the test lets it go, and tells the test when it got there.
final class ChainGate: Sendable {
  private struct State {
    var armed = false
    var reached: CheckedContinuation<Void, Never>?
    var reachedEarly = false
    var held: CheckedContinuation<Void, Never>?
    var opened = false
  }
  private let state = Mutex(State())

  /// From now on, the link waits at the gate (until ``open()``).
  func arm() { state.withLock { $0.armed = true } }

  /// Waits (in an armed run) until the test opens the gate.
  func pass() async {
    await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
      let (resume, reached) = state.withLock { state -> (Bool, CheckedContinuation<Void, Never>?) in
        guard state.armed, !state.opened else { return (true, nil) }
        state.held = continuation
        let reached = state.reached
        state.reached = nil
        if reached == nil { state.reachedEarly = true }
        return (false, reached)
      }
      reached?.resume()
      if resume { continuation.resume() }
    }
  }

  /// Returns once a link waits at the gate.
  func reached() async {
    await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
      let now = state.withLock { state -> Bool in
        if state.reachedEarly { return true }
        state.reached = continuation
        return false
      }
      if now { continuation.resume() }
    }
  }

  /// Lets the waiting link (and every later one) pass.
  func open() {
    let held = state.withLock { state -> CheckedContinuation<Void, Never>? in
      state.opened = true
      defer { state.held = nil }
      return state.held
    }
    held?.resume()
  }
}

let chainGate = ChainGate()
let gatedStart = task("gated_start") { (count: Int) -> Int in count }
let gatedStep = task("gated_step") { (value: Int) async -> Int in
  if value == 10 { await chainGate.pass() }
  return value + 1
}

/// A chain longer than one run-ahead segment (512 tasks), so that a part of it runs after the
/// worker that ran the first segment has left.
let gatedFlow = Flow("gated-chain") {
  let count = Parameter("count", default: 1)
  var value = gatedStart(count)
  for _ in 0..<600 { value = gatedStep(value) }
}

@Suite(.timeLimit(.minutes(1))) struct ChainDrainClusterTests {
  @Test func aWorkerDrainedMidChainFinishesItsSegmentAndTheRestRunsElsewhere() async throws {
    let sequential = try await gatedFlow.run()
    chainGate.arm()
    try await withCluster(workers: 2, threads: 1, flows: [gatedFlow]) { scheduler in
      async let clustered = gatedFlow.run(executor: .cluster(scheduler))
      await chainGate.reached()
      // The worker that runs the chain's first segment drains while a link of it runs (the
      // gate opens whatever happens, so that the run can end).
      let busy = await scheduler.workers.first { $0.running > 0 }
      if let busy { scheduler.drain(worker: busy.connection) }
      chainGate.open()
      let result = try await clustered
      #expect(result.state.kind == sequential.state.kind)
      #expect(result.taskStates == sequential.taskStates)
      #expect(result.taskRuns.compactMap { $0.state.result as? Int }.max() == 601)
      // The drained worker ran its whole segment (nothing was handed back to run again), and
      // the other worker ran the rest.
      #expect(result.taskRuns.allSatisfy { $0.crashedAttempts == 0 })
      #expect(
        !result.logs.contains { $0.level >= .warning },
        "\(result.logs.filter { $0.level >= .warning })")
      let workers = result.logs.compactMap { record -> String? in
        guard record.metadata[ClusterAttemptReport.Keys.report] == "1" else { return nil }
        return record.metadata[ClusterLogKeys.worker]
      }
      #expect(workers.count == 601)
      let drained = try #require(busy)
      #expect(workers.filter { $0 == drained.name }.count >= 512)
      #expect(Set(workers).count == 2)
    }
  }
}

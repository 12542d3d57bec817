import FlowCluster
import FlowClusterProtocol
import FlowCore
import FlowExecutors
import Foundation
import Testing

let aheadStart = task("ahead_start") { (count: Int) -> Int in count }
let aheadStep = task("ahead_step") { (value: Int) -> Int in value + 1 }
let aheadFails = task("ahead_fails") { (value: Int) throws -> Int in
  if value >= 100 { throw SkipTask("too big: \(value)") }
  return value
}
let aheadIdentify = task("ahead_identify") { (value: Int) -> String in
  "\(value):\(TaskRunContext.current?.taskRunID.uuidString ?? "none")"
}

/// A chain of 40 steps (more than one frame of results), a task that skips for a large
/// count (its followers never run), and a body that reports the task run ID it saw.
let aheadFlow = Flow("ahead-chain") {
  let count = Parameter("count", default: 1)
  var value = aheadStart(count)
  for _ in 0..<40 { value = aheadStep(value) }
  value = aheadFails(value)
  for _ in 0..<3 { value = aheadStep(value) }
  aheadIdentify(value)
}

@Suite(.timeLimit(.minutes(1))) struct ChainAheadClusterTests {
  @Test(arguments: [1, 100])
  func aChainRunsAheadOnOneWorkerWithTheSequentialResults(count: Int) async throws {
    let sequential = try await aheadFlow.run(parameters: ["count": count])
    try await withCluster(workers: 2, threads: 1, flows: [aheadFlow]) { scheduler in
      let clustered = try await aheadFlow.run(
        parameters: ["count": count], executor: .cluster(scheduler))
      #expect(clustered.state.kind == sequential.state.kind)
      #expect(clustered.taskStates == sequential.taskStates)
      let identify = try #require(clustered.taskRun("ahead_identify"))
      if count == 1 {
        #expect(identify.state.result as? String == "44:\(identify.id.uuidString)")
        // Each task after the first ran where the one before it ran: one worker.
        let workers = Set(
          clustered.logs.compactMap { record -> String? in
            guard record.metadata[ClusterAttemptReport.Keys.report] == "1" else { return nil }
            return record.metadata[ClusterLogKeys.worker]
          })
        #expect(workers.count == 1, "\(workers)")
        #expect(!clustered.logs.contains { $0.level >= .warning })
      } else {
        #expect(identify.state.kind == .skipped)
        #expect(clustered.taskRun("ahead_fails")?.state.kind == .skipped)
      }
    }
  }
}

import FlowCluster
import FlowClusterProtocol
import FlowCore
import FlowExecutors
import Foundation
import Testing

let bigOutput = task("big_output") { (bytes: Int) -> String in
  String(repeating: "x", count: bytes)
}
let bigFlow = Flow("big") {
  let bytes = Parameter("bytes", default: 10)
  bigOutput(bytes)
}
let sizes = task("sizes") { (count: Int, bytes: Int) -> [Int] in
  Array(repeating: bytes, count: count)
}
let manyBigOutputs = Flow("many-big") {
  let count = Parameter("count", default: 4)
  let bytes = Parameter("bytes", default: 10)
  bigOutput.map(sizes(count, bytes))
}

@Suite(.timeLimit(.minutes(1))) struct HostileClusterTests {
  static let frameLimit = 256 << 10

  /// A scheduler and one in-process worker, both with a small frame limit.
  func withSmallFrames(
    schedulerOutputLimit: Int = ClusterProtocol.defaultMaxOutputSize,
    workerOutputLimit: Int = ClusterProtocol.defaultMaxOutputSize,
    _ body: @Sendable (ClusterScheduler) async throws -> Void
  ) async throws {
    let scheduler = try await ClusterScheduler.start(
      .init(
        listen: ClusterAddress(host: "127.0.0.1", port: 0),
        machine: .init(prefetchPerThread: 1, maxOutputSize: schedulerOutputLimit),
        maxFrameSize: Self.frameLimit))
    try await withThrowingTaskGroup(of: Void.self) { group in
      group.addTask {
        try await ClusterWorker.run(
          connect: scheduler.address, threads: 4, flows: [bigFlow, manyBigOutputs],
          name: "small-frames", handleSignals: false, maxFrameSize: Self.frameLimit,
          maxOutputSize: workerOutputLimit)
      }
      try await scheduler.waitForWorkers(1, timeout: .seconds(30))
      do {
        try await body(scheduler)
      } catch {
        await scheduler.shutdown()
        throw error
      }
      await scheduler.shutdown()
      try await group.waitForAll()
    }
  }

  @Test func anOutputBiggerThanAFrameArrivesInParts() async throws {
    try await withSmallFrames { scheduler in
      let result = try await bigFlow.run(
        parameters: ["bytes": 1_000_000], executor: .cluster(scheduler))
      #expect(result.state.isSuccessful, "\(result.summary)")
      let output = try #require(result.taskRun("big_output")?.state.result as? String)
      #expect(output.count == 1_000_000)
      #expect(await scheduler.workers.count == 1)
    }
  }

  @Test func resultsThatFitAloneButNotTogetherGoInSeveralFrames() async throws {
    try await withSmallFrames { scheduler in
      let result = try await manyBigOutputs.run(
        parameters: ["count": 8, "bytes": 150_000], executor: .cluster(scheduler))
      #expect(result.state.isSuccessful, "\(result.summary)")
      #expect(await scheduler.workers.count == 1)
    }
  }

  @Test func anOutputOverTheWorkersLimitFailsItsTaskAndTheWorkerStays() async throws {
    try await withSmallFrames(workerOutputLimit: 500_000) { scheduler in
      let result = try await bigFlow.run(
        parameters: ["bytes": 600_000], executor: .cluster(scheduler))
      let state = try #require(result.taskRun("big_output")?.state)
      #expect(state.isFailed)
      #expect(
        "\(state)".contains("bytes, over the 500000 bytes a task output may take"), "\(state)")
      #expect("\(state)".contains("maxOutputSize"), "\(state)")
      #expect(await scheduler.workers.count == 1)
      let small = try await bigFlow.run(parameters: ["bytes": 1000], executor: .cluster(scheduler))
      #expect(small.state.isSuccessful, "\(small.summary)")
    }
  }

  @Test func anOutputOverTheSchedulersLimitFailsItsTaskAndTheWorkerStays() async throws {
    try await withSmallFrames(schedulerOutputLimit: 500_000) { scheduler in
      let result = try await bigFlow.run(
        parameters: ["bytes": 1_000_000], executor: .cluster(scheduler))
      let state = try #require(result.taskRun("big_output")?.state)
      #expect(state.isFailed)
      #expect("\(state)".contains("exceeds the 500000 bytes the scheduler accepts"), "\(state)")
      #expect(await scheduler.workers.count == 1)
      let small = try await bigFlow.run(parameters: ["bytes": 1000], executor: .cluster(scheduler))
      #expect(small.state.isSuccessful, "\(small.summary)")
    }
  }
}

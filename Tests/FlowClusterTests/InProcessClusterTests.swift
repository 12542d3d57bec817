import FlowCluster
import FlowClusterProtocol
import FlowCore
import FlowExecutors
import Foundation
import Logging
import Testing

struct Point: Codable, Sendable, Equatable {
  var x: Int
  var y: Int
}

final class Opaque: Sendable {}

let makePoints = task("make_points") { (count: Int) -> [Point] in
  (0..<count).map { Point(x: $0, y: $0 * $0) }
}
let norm = task("norm") { (point: Point) -> Int in
  TaskRunContext.current?.logger.info("norm", metadata: ["point.x": "\(point.x)"])
  return point.x + point.y
}
let total = task("total") { (values: [Int]) -> Int in values.reduce(0, +) }
let label = task("label") { (value: Int) -> String in "total=\(value)" }
let skipper = task("skipper") { (value: Int) throws -> Int in
  if value > 0 { throw SkipTask("nothing to do for \(value)") }
  return value
}

let pointsFlow = Flow("points") {
  let count = Parameter("count", default: 20)
  let points = makePoints(count)
  let sum = total(norm.map(points))
  label(sum)
  skipper(sum)
}

let opaqueMaker = task("opaque") { () -> Opaque in Opaque() }
let opaqueFlow = Flow("opaque") { opaqueMaker() }

let unregistered = task("unregistered") { () -> Int in 1 }
let unregisteredFlow = Flow("unregistered") { unregistered() }

/// Runs `body` with a scheduler on loopback and `workers` in-process workers joined to it.
func withCluster(
  workers: Int = 2, threads: Int = 2, flows: [Flow] = [pointsFlow, opaqueFlow],
  token: String? = "secret", _ body: @Sendable (ClusterScheduler) async throws -> Void
) async throws {
  let scheduler = try await ClusterScheduler.start(
    .init(listen: ClusterAddress(host: "127.0.0.1", port: 0), token: token))
  try await withThrowingTaskGroup(of: Void.self) { group in
    for index in 0..<workers {
      group.addTask {
        try await ClusterWorker.run(
          connect: scheduler.address, token: token, threads: threads, flows: flows,
          name: "worker-\(index)", handleSignals: false)
      }
    }
    try await scheduler.waitForWorkers(workers, timeout: .seconds(30))
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

@Suite(.timeLimit(.minutes(1))) struct InProcessClusterTests {
  @Test func aClusterRunGivesTheSequentialResults() async throws {
    let sequential = try await pointsFlow.run(parameters: ["count": 30])
    try await withCluster { scheduler in
      let clustered = try await pointsFlow.run(
        parameters: ["count": 30], executor: .cluster(scheduler))
      #expect(clustered.state.kind == sequential.state.kind)
      #expect(clustered.taskStates == sequential.taskStates)
      #expect(
        clustered.taskRun("label")?.state.result as? String
          == "total=\((0..<30).reduce(0) { $0 + $1 + $1 * $1 })")
      #expect(clustered.taskRun("skipper")?.state.kind == .skipped)
      #expect(clustered.taskRun("skipper")?.state.message?.contains("nothing to do") == true)
      // Logs written by task bodies on workers reach the run's log with their metadata.
      let logs = clustered.logs.filter { $0.message == "norm" }
      #expect(logs.count == 30)
      #expect(logs.allSatisfy { $0.metadata["cluster.worker"]?.hasPrefix("worker-") == true })
      #expect(logs.allSatisfy { $0.metadata["point.x"] != nil })
      #expect(logs.allSatisfy { $0.metadata["task"] == "norm" && $0.metadata["map_index"] != nil })
      #expect(Set(logs.compactMap { $0.metadata["map_index"] }).count == 30)
    }
  }

  @Test func aNonCodableOutputFailsWithAnExplanation() async throws {
    try await withCluster(workers: 1) { scheduler in
      let result = try await opaqueFlow.run(executor: .cluster(scheduler))
      #expect(result.state.isFailed)
      let message = result.taskRun("opaque")?.state.message ?? ""
      #expect(message.contains("not Codable"), "\(message)")
      #expect(message.contains(".concurrent"))
    }
  }

  @Test func aTaskTheWorkerDoesNotKnowIsReportedBack() async throws {
    try await withCluster(workers: 1) { scheduler in
      let result = try await unregisteredFlow.run(executor: .cluster(scheduler))
      let state = result.taskRun("unregistered")?.state
      #expect(state?.kind == .failed)
      #expect(
        state?.message?.contains("has no task 'unregistered'") == true, "\(state?.message ?? "")")
      #expect((state?.error as? RemoteTaskError)?.code == .unknownTask)
    }
  }

  @Test func aWorkerWithAWrongTokenIsRefused() async throws {
    try await withCluster(workers: 1) { scheduler in
      let exit = try await ClusterWorker.run(
        connect: scheduler.address, token: "wrong", flows: [pointsFlow], handleSignals: false)
      #expect(exit.failed)
      #expect(exit.reason.message.contains("token"))
      #expect(await scheduler.workers.count == 1)
      let result = try await pointsFlow.run(executor: .cluster(scheduler))
      #expect(result.state.isSuccessful)
    }
  }

  @Test func listeningBeyondLoopbackNeedsAToken() async throws {
    do {
      _ = try await ClusterScheduler.start(.init(listen: ClusterAddress(host: "0.0.0.0", port: 0)))
      Issue.record("started without a token")
    } catch let error as ClusterError {
      #expect(error.code == .insecureListen)
      #expect(error.message.contains("token"))
    }
  }

  @Test func tlsConnectionsRunFlowsAndAPlainWorkerIsToldWhy() async throws {
    let certificate = try #require(Bundle.module.path(forResource: "test-cert", ofType: "pem"))
    let key = try #require(Bundle.module.path(forResource: "test-key", ofType: "pem"))
    let scheduler = try await ClusterScheduler.start(
      .init(
        listen: ClusterAddress(host: "127.0.0.1", port: 0), token: "t",
        tls: ClusterTLS(certificatePath: certificate, privateKeyPath: key)))
    let plain = try await ClusterWorker.run(
      connect: scheduler.address, token: "t", flows: [pointsFlow], handleSignals: false)
    #expect(plain.failed)
    #expect(plain.reason.message.contains("speaks TLS"), "\(plain.reason)")
    try await withThrowingTaskGroup(of: Void.self) { group in
      group.addTask {
        try await ClusterWorker.run(
          connect: ClusterAddress(host: "localhost", port: scheduler.address.port), token: "t",
          flows: [pointsFlow], tls: ClusterTLS(trustRootsPath: certificate),
          handleSignals: false)
      }
      try await scheduler.waitForWorkers(1, timeout: .seconds(30))
      let result = try await pointsFlow.run(
        parameters: ["count": 5], executor: .cluster(scheduler))
      #expect(result.state.isSuccessful)
      await scheduler.shutdown()
      try await group.waitForAll()
    }
  }

  @Test func addressesParse() {
    #expect(ClusterAddress("127.0.0.1:8786") == ClusterAddress(host: "127.0.0.1", port: 8786))
    #expect(ClusterAddress("[::1]:1")?.host == "::1")
    #expect(ClusterAddress("[::1]:1")?.isLoopback == true)
    #expect(ClusterAddress("10.0.0.1:80")?.isLoopback == false)
    #expect(ClusterAddress("nohost") == nil)
    #expect(ClusterAddress(":80") == nil)
    #expect(ClusterAddress("h:99999") == nil)
  }
}

let countTo = task("count_to") { (count: Int) -> [Int] in Array(0..<count) }
let contextProbe = task("probe") { (value: Int) -> [String] in
  guard let context = TaskRunContext.current else { return [] }
  return [
    context.flowRunID.uuidString, context.taskRunID.uuidString,
    "\(context.parameters["count"] as? Int ?? -1)", context.taskName, context.taskSlug,
    "\(context.attempt)", "\(context.mapIndex ?? -1)",
    "\(context.scheduledStartTime?.timeIntervalSince1970 ?? -1)", context.flowName,
  ]
}
let contextFlow = Flow("context") { contextProbe.map(countTo(Parameter("count", default: 2))) }

@Suite(.timeLimit(.minutes(1))) struct WorkerContextTests {
  @Test func aWorkersTaskContextMatchesTheLocalOne() async throws {
    try await withCluster(flows: [contextFlow]) { scheduler in
      for count in [3, 4] {  // two runs on one scheduler: each gets its own context
        let result = try await contextFlow.run(
          parameters: ["count": count], executor: .cluster(scheduler),
          scheduledStart: Date(timeIntervalSince1970: 1_700_000_000))
        #expect(result.state.kind == .success)
        for index in 0..<count {
          let run = try #require(result.taskRun("probe", mapIndex: index))
          let seen = try #require(run.state.result as? [String])
          #expect(
            seen == [
              result.flowRunID.uuidString, run.id.uuidString, "\(count)", "probe",
              "probe", "1", "\(index)", "1700000000.0", "context",
            ])
        }
      }
    }
  }
}

let printer = task("printer", logStdout: true) { (value: Int) -> Int in
  print("printed \(value) on a worker")
  return value * 3
}
let printingFlow = Flow("printing") { printer(Parameter("value", default: 1)) }

@Suite(.timeLimit(.minutes(1))) struct WorkerStdoutTests {
  @Test func whatABodyPrintsOnAWorkerReachesTheRunLog() async throws {
    try await withCluster(workers: 1, flows: [printingFlow]) { scheduler in
      let result = try await printingFlow.run(
        parameters: ["value": 5], executor: .cluster(scheduler))
      #expect(result.taskRun("printer")?.state.result as? Int == 15)
      let lines = result.logs.filter { $0.message == "printed 5 on a worker" }
      #expect(lines.count == 1, "\(result.logs.map(\.message))")
      #expect(lines.first?.metadata["cluster.worker"] == "worker-0")
      #expect(lines.first?.metadata["log.source"] == "stdout")
      #expect(lines.first?.metadata["cluster.task_attempt"] == "1")
    }
  }
}

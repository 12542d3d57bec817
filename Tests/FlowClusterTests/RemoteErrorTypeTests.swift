import FlowCluster
import FlowClusterProtocol
import FlowCore
import FlowExecutors
import Foundation
import Synchronization
import Testing

struct QuotaExceeded: Error, Codable, Equatable {
  var limit: Int
}

struct PlainFailure: Error, CustomStringConvertible {
  var description: String { "plain failure" }
}

struct NeverThrown: Error {}

/// How many times each task's body ran, in this process (the in-process workers' too).
let remoteErrorCalls = Mutex<[String: Int]>([:])

func countCall(_ name: String) {
  remoteErrorCalls.withLock { $0[name, default: 0] += 1 }
}

let quota = task(
  "quota", retries: .init(maxRetries: 2, retryIf: .errors(QuotaExceeded.self))
) { () throws -> Int in
  countCall("quota")
  throw QuotaExceeded(limit: 7)
}
let plain = task(
  "plain", retries: .init(maxRetries: 2, retryIf: .errors(PlainFailure.self))
) { () throws -> Int in
  countCall("plain")
  throw PlainFailure()
}
let other = task(
  "other", retries: .init(maxRetries: 2, retryIf: .errors(NeverThrown.self))
) { () throws -> Int in
  countCall("other")
  throw PlainFailure()
}
let downstream = task("downstream") { (a: Int, b: Int) -> Int in a + b }
let errorsFlow = Flow("remote-errors") {
  let a = quota()
  _ = plain()
  _ = other()
  downstream(a, 1)
}

@Suite(.serialized, .timeLimit(.minutes(1))) struct RemoteErrorTypeTests {
  @Test func bodyErrorsKeepTheirTypeAcrossTheCluster() async throws {
    ClusterErrorTypes.register(QuotaExceeded.self)
    remoteErrorCalls.withLock { $0 = [:] }
    try await withCluster(workers: 1, threads: 2, flows: [errorsFlow], token: nil) { scheduler in
      let result = try await errorsFlow.run(executor: .cluster(scheduler))
      // A registered Codable error arrives as itself, fields and all; its retries happen.
      let quotaState = try #require(result.taskRun("quota")?.state)
      #expect(quotaState.error as? QuotaExceeded == QuotaExceeded(limit: 7))
      #expect(result.taskRun("quota")?.attempts == 3)
      // Another error keeps its type's name: `.errors(PlainFailure.self)` still matches…
      let plainState = try #require(result.taskRun("plain")?.state)
      let standIn = try #require(plainState.error as? ClusterTaskBodyError)
      #expect(standIn.originalTypeName == String(reflecting: PlainFailure.self))
      #expect(standIn.message == "plain failure")
      #expect(result.taskRun("plain")?.attempts == 3)
      // …and a condition naming another type does not.
      #expect(result.taskRun("other")?.attempts == 1)
      // TriggerFailed names the upstream task that failed.
      let trigger = try #require(result.taskRun("downstream")?.state)
      #expect(trigger.kind == .triggerFailed)
      #expect(trigger.message?.contains("'quota' (Failed)") == true, "\(trigger)")
    }
    #expect(remoteErrorCalls.withLock { $0 } == ["quota": 3, "plain": 3, "other": 1])
  }

  @Test func anUnregisteredTypeIsNeverDecoded() {
    let info = ClusterErrorInfo(typeName: "Nowhere.Unknown", payload: Array("{}".utf8))
    #expect(ClusterErrorTypes.decode(info) == nil)
    ClusterErrorTypes.register(QuotaExceeded.self)
    let sent = ClusterErrorTypes.info(for: QuotaExceeded(limit: 3))
    #expect(sent.typeName == String(reflecting: QuotaExceeded.self))
    #expect(ClusterErrorTypes.decode(sent) as? QuotaExceeded == QuotaExceeded(limit: 3))
    #expect(ClusterErrorTypes.info(for: PlainFailure()).payload == nil)
  }
}

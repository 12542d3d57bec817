import FlowCore
import FlowLogging
import FlowState
import Foundation

/// A stand-in with the stored fields of a `TaskRun` (whose initializer is the engine's own):
/// the record the floor writes per task.
private struct TaskRunStandIn {
  let name: String
  let slug: String
  let id: UUID
  let state: RunState
  let started: Double
  let retryStarts: [Date]
  let finished: Double
  let mapIndex: Int32
  let crashed: Int32
  let loops: Int32
}

/// The median seconds of the work a sequential run of `count` no-op tasks must do with no
/// engine at all: per task a "started" and a "finished" record in a run log, its
/// `TaskRunContext` around its body, two clock reads, and its task-run record. The engine's
/// own cost is what a run takes beyond this.
nonisolated func engineFloor(_ count: Int, _ repetitions: Int) async throws -> Double {
  let slugs = (0..<count).map { "noop-\($0)" }
  let body: @Sendable ([any Sendable]) async throws -> any Sendable = { _ in 1 }
  let clock = RunEnvironment.system.clock
  return try await median(repetitions) {
    let log = RunLog(flowName: "bench", flowRunID: UUID(), level: .info)
    log.reserveCapacity(2 * count + 2)
    let run = TaskRunContext.Run(
      flowName: "bench", flowRunID: UUID(), parameters: [:], environment: .system,
      logSink: nil, scheduledStartTime: nil)
    var records: [TaskRunStandIn] = []
    records.reserveCapacity(count)
    var seed: UInt64 = 1
    for index in 0..<count {
      seed &+= 0x9E37_79B9_7F4A_7C15
      let id = withUnsafeBytes(of: (seed, ~seed)) { UUID(uuid: $0.load(as: uuid_t.self)) }
      let subject = RunLog.Subject(task: slugs[index], taskRunID: id, mapIndex: nil, attempt: 1)
      let start = clock.now()
      log.append(.taskStarted, at: start, subject: subject)
      let context = TaskRunContext(
        run: run, taskName: "noop", taskSlug: slugs[index], taskRunID: id, mapIndex: nil,
        attempt: 1)
      let value = try await TaskRunContext.$current.withValue(context) { try await body([]) }
      let end = clock.now()
      log.append(.taskFinished(.success, nil), at: end, subject: subject)
      records.append(
        TaskRunStandIn(
          name: "noop", slug: slugs[index], id: id,
          state: RunState(.success, message: "Task run succeeded.", result: value),
          started: start.timeIntervalSinceReferenceDate, retryStarts: [],
          finished: end.timeIntervalSinceReferenceDate, mapIndex: -1, crashed: 0, loops: 1))
    }
    precondition(records.count == count)
  }
}

import FlowCore
import FlowExecutors
import FlowState
import FlowTesting
import Foundation
import Synchronization
import Testing

/// What a body saw in its context.
private struct Seen: Sendable {
  let flowName: String
  let flowRunID: UUID
  let taskName: String
  let taskSlug: String
  let taskRunID: UUID
  let mapIndex: Int?
  let attempt: Int
  let region: String?
  let limit: Int?
}

private func capture(_ log: Log<Seen>) {
  guard let context = TaskRunContext.current else { return }
  log.append(
    Seen(
      flowName: context.flowName, flowRunID: context.flowRunID, taskName: context.taskName,
      taskSlug: context.taskSlug, taskRunID: context.taskRunID, mapIndex: context.mapIndex,
      attempt: context.attempt, region: context.parameters["region"] as? String,
      limit: context.parameters["limit"] as? Int))
}

@Suite("TaskRunContext inside a body", .timeLimit(.minutes(1)))
struct TaskRunContextTests {
  @Test("a body sees its flow, slug, map index, run IDs and parameters", arguments: bothExecutors)
  func contextValues(executor: FlowExecutor) async throws {
    let log = Log<Seen>()
    let probe = task("probe") { () -> Int in
      capture(log)
      return 0
    }
    let each = task("each") { (x: Int) -> Int in
      capture(log)
      return x
    }
    let flow = Flow("context-flow") {
      _ = Parameter<String>(required: "region")
      _ = Parameter("limit", default: 5)
      probe()
      probe()
      each.map(.constant([7, 8]))
    }
    let result = try await flow.run(
      parameters: ["region": "eu"], executor: executor, environment: testEnvironment())
    #expect(result.state.kind == .success)
    let seen = log.all.sorted {
      ($0.taskSlug, $0.mapIndex ?? -1) < ($1.taskSlug, $1.mapIndex ?? -1)
    }
    #expect(seen.map(\.taskSlug) == ["each", "each", "probe", "probe-2"])
    #expect(seen.map(\.taskName) == ["each", "each", "probe", "probe"])
    #expect(seen.map(\.mapIndex) == [0, 1, nil, nil])
    #expect(seen.allSatisfy { $0.flowName == "context-flow" })
    #expect(seen.allSatisfy { $0.flowRunID == result.flowRunID })
    #expect(seen.allSatisfy { $0.attempt == 1 })
    #expect(seen.allSatisfy { $0.region == "eu" })
    #expect(seen.allSatisfy { $0.limit == 5 })
    for entry in seen {
      let run = try result.run(entry.taskSlug, mapIndex: entry.mapIndex)
      #expect(entry.taskRunID == run.id)
    }
    #expect(Set(seen.map(\.taskRunID)).count == 4)
  }

  @Test("there is no context outside a running body")
  func noContextOutside() async throws {
    #expect(TaskRunContext.current == nil)
    let direct = task("direct") { () -> Bool in TaskRunContext.current == nil }
    #expect(try await direct.run())
  }

  @Test("the same seed gives the same run IDs")
  func seededIDs() async throws {
    let work = task("work") { () -> Int in 1 }
    let flow = Flow("ids") {
      work()
      work()
    }
    let first = try await flow.run(environment: testEnvironment(seed: 9))
    let again = try await flow.run(environment: testEnvironment(seed: 9))
    let other = try await flow.run(environment: testEnvironment(seed: 10))
    #expect(first.flowRunID == again.flowRunID)
    #expect(first.taskRuns.map(\.id) == again.taskRuns.map(\.id))
    #expect(first.flowRunID != other.flowRunID)
  }
}

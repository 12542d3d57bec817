import FlowClusterProtocol
import FlowCore
import Foundation
import Testing

@testable import FlowCluster

let double = task("double") { (value: Int) -> Int in
  TaskRunContext.current?.logger.info("doubling", metadata: ["value": "\(value)"])
  return value * 2
}
let skipping = task("skipping") { (value: Int) throws -> Int in throw SkipTask("no \(value)") }
let failing = task("failing") { (value: Int) throws -> Int in
  throw CocoaError(.featureUnsupported)
}
let registryFlow = Flow("registry") {
  let value = Parameter("value", default: 1)
  double(value)
  skipping(value)
  failing(value)
}

/// An input as its serializer's JSON (the wire's fallback form).
func json(_ text: String) -> [UInt8] { [0] + Array(text.utf8) }

/// An `Int` in the wire's compact form.
func compact(_ value: Int) -> [UInt8] {
  try! ClusterValueCoding.encode(value, ResultSerializer.automatic(for: Int.self)!)
}

@Suite struct TaskRegistryTests {
  let registry = ClusterTaskRegistry(flows: [registryFlow])

  func run(_ task: String, _ inputs: [[UInt8]], flow: String = "registry") async
    -> ClusterTaskResult
  {
    await registry.execute(
      ClusterAssignment(taskID: 9, flow: flow, task: task, inputs: inputs), worker: "w",
      environment: .system)
  }

  @Test func aRegisteredTaskRunsOnEncodedInputsAndShipsItsLogs() async {
    let result = await run("double", [json("21")])
    #expect(result.taskID == 9)
    #expect(result.outcome == .success(compact(42)))
    #expect(result.logs.map(\.message) == ["doubling"])
    #expect(result.logs.first?.metadata["value"] == "21")
    #expect(result.logs.first?.level == "info")
  }

  @Test func tasksAreLookedUpByFlowAndSlug() {
    #expect(registry.contains(flow: "registry", task: "double"))
    #expect(registry.name(flow: "registry", task: "double") == "double")
    #expect(registry.timeout(flow: "registry", task: "double") == nil)
    #expect(registry.name(flow: "registry", task: "missing") == nil)
    #expect(registry.name(flow: "other", task: "double") == nil)
    #expect(registry.tasks(inFlow: "registry")?.count == 3)
    #expect(registry.tasks(inFlow: "other") == nil)
  }

  @Test func anUnknownTaskIsAnErrorNeverCode() async {
    let result = await run("rm -rf", [], flow: "registry")
    guard case .failure(let code, let message) = result.outcome else {
      Issue.record("ran an unknown task")
      return
    }
    #expect(code == "unknownTask")
    #expect(message.contains("'registry'"))
    #expect(message.contains("same build"))
    let otherFlow = await run("double", [json("1")], flow: "other")
    #expect(otherFlow.outcome != .success(compact(2)))
  }

  @Test func badInputsAreReportedNotCrashed() async {
    let wrongCount = await run("double", [])
    guard case .failure(let code, _) = wrongCount.outcome else {
      Issue.record("accepted missing inputs")
      return
    }
    #expect(code == "decodeFailed")
    let garbage = await run("double", [json("\"x\"")])
    guard case .failure(let code2, _) = garbage.outcome else {
      Issue.record("decoded garbage")
      return
    }
    #expect(code2 == "decodeFailed")
  }

  @Test func skipsAndFailuresKeepTheirMeaning() async {
    #expect(
      await run("skipping", [json("3")]).outcome == .failure(code: "skip", message: "no 3"))
    guard case .failure(let code, _) = await run("failing", [json("3")]).outcome else {
      Issue.record("no failure")
      return
    }
    #expect(code == "taskFailed")
  }
}

import FlowCore
import FlowExecutors
import FlowTesting
import Foundation
import Testing

/// The run recorder stores the engine's steps in the compact binary form of
/// `FlowRunStepCoding`; older recorders stored JSON. Both must read back to the same steps and
/// replay.
@Suite("Recorded engine steps: binary and JSON", .timeLimit(.minutes(1)))
struct RecordedStepEncodingTests {
  /// The steps of a run with parameters, mapping, retries, a skip and a failure.
  static func steps(_ executor: FlowExecutor) async throws -> (Flow, [FlowRunStep]) {
    let flow = replayFlow(extraTask: true)
    let recorder = FlowRunRecorder(flowName: flow.name)
    _ = try await flow.run(
      executor: executor,
      environment: .testing(
        seed: 5, clock: TestClock(now: Date(timeIntervalSince1970: 1e9), autoAdvance: true)),
      observer: recorder.observer)
    return (flow, recorder.history.steps)
  }

  @Test(
    "every step round-trips through the binary form and replays",
    arguments: [FlowExecutor.sequential, .concurrent(width: 3)])
  func binaryRoundTrip(executor: FlowExecutor) async throws {
    let (flow, steps) = try await Self.steps(executor)
    #expect(steps.count > 10)
    let sorted = JSONEncoder()
    sorted.outputFormatting = .sortedKeys
    var decoded: [FlowRunStep] = []
    for step in steps {
      let binary = FlowRunStepCoding.binary(step)
      #expect(binary.first == FlowRunStepCoding.binaryMarker)
      let back = try FlowRunStepCoding.decode(binary)
      #expect(try sorted.encode(back) == sorted.encode(step), "step \(step.sequence)")
      // Read back and written again: the same bytes.
      #expect(FlowRunStepCoding.binary(back) == binary, "step \(step.sequence)")
      decoded.append(back)
    }
    try FlowRunReplayer.replay(FlowRunHistory(flowName: flow.name, steps: decoded), flow: flow)
  }

  @Test("JSON steps (what older recorders stored) still read back and replay")
  func jsonStillReads() async throws {
    let (flow, steps) = try await Self.steps(.sequential)
    let decoded = try steps.map { try FlowRunStepCoding.decode(JSONEncoder().encode($0)) }
    #expect(decoded.map(\.sequence) == steps.map(\.sequence))
    try FlowRunReplayer.replay(FlowRunHistory(flowName: flow.name, steps: decoded), flow: flow)
  }

  @Test("a damaged binary step is a clear error, never a crash", arguments: [1, 2, 5, 9, 17])
  func damaged(cut: Int) async throws {
    let (_, steps) = try await Self.steps(.sequential)
    let binary = FlowRunStepCoding.binary(steps[1])
    #expect(throws: FlowRunStepDecodingError.self) {
      try FlowRunStepCoding.decode(binary.prefix(min(cut, binary.count - 1)))
    }
    var garbage = binary
    garbage.replaceSubrange(
      1..<garbage.count, with: repeatElement(UInt8(0xFF), count: garbage.count - 1))
    #expect(throws: FlowRunStepDecodingError.self) { try FlowRunStepCoding.decode(garbage) }
  }
}

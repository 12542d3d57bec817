import FlowCore
import FlowExecutors
import FlowTesting
import Foundation
import Testing

/// The run recorder writes the engine's steps with `CompactJSONEncoder`: what it writes must
/// read back with `JSONDecoder` to the same steps and replay.
@Suite("Compact JSON of the engine's steps", .timeLimit(.minutes(1)))
struct CompactStepEncodingTests {
  @Test(
    "every step of a run with parameters, mapping, retries, a skip and a failure round-trips",
    arguments: [FlowExecutor.sequential, .concurrent(width: 3)])
  func roundTrip(executor: FlowExecutor) async throws {
    let flow = replayFlow(extraTask: true)
    let recorder = FlowRunRecorder(flowName: flow.name)
    _ = try await flow.run(
      executor: executor,
      environment: .testing(
        seed: 5, clock: TestClock(now: Date(timeIntervalSince1970: 1e9), autoAdvance: true)),
      observer: recorder.observer)
    let steps = recorder.history.steps
    #expect(steps.count > 10)
    let sorted = JSONEncoder()
    sorted.outputFormatting = .sortedKeys
    var decoded: [FlowRunStep] = []
    for step in steps {
      let compact = try CompactJSONEncoder().encode(step)
      let back = try JSONDecoder().decode(FlowRunStep.self, from: compact)
      #expect(try sorted.encode(back) == sorted.encode(step), "step \(step.sequence)")
      decoded.append(back)
    }
    try FlowRunReplayer.replay(FlowRunHistory(flowName: flow.name, steps: decoded), flow: flow)
  }

  @Test("strings are escaped, dates, data and non-finite numbers handled like JSONEncoder")
  func values() throws {
    struct Sample: Codable, Equatable {
      var text: String
      var date: Date
      var data: Data
      var nested: [String: [Int?]]
      var number: Double
    }
    let sample = Sample(
      text: "quote \" backslash \\ newline \n tab \t bell \u{7} é 🎉",
      date: Date(timeIntervalSinceReferenceDate: 12.5), data: Data([0, 1, 255]),
      nested: ["a": [1, nil, 3], "b": []], number: -0.125)
    let compact = try CompactJSONEncoder().encode(sample)
    #expect(try JSONDecoder().decode(Sample.self, from: compact) == sample)
    var infinite = sample
    infinite.number = .infinity
    #expect(throws: EncodingError.self) { try CompactJSONEncoder().encode(infinite) }
  }
}

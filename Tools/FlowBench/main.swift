import FlowCore
import FlowExecutors
import Foundation

// flow-bench: engine overhead, measured against a baseline loop in the same run.
// Usage: swift run -c release flow-bench [--quick] [--json]

let arguments = Set(CommandLine.arguments.dropFirst())
for argument in arguments where !["--quick", "--json"].contains(argument) {
  FileHandle.standardError.write(
    Data("flow-bench: unknown option \(argument); use --quick, --json\n".utf8))
  exit(2)
}
let quick = arguments.contains("--quick")
let taskCount = quick ? 10_000 : 100_000
let repetitions = quick ? 2 : 5

/// The best of `repetitions` timings of `body`, in seconds. Bodies are `@Sendable` and
/// nonisolated, so that no main-actor hop lands inside a measurement.
nonisolated func best(_ body: @Sendable () async throws -> Void) async rethrows -> Double {
  var times: [Double] = []
  for _ in 0..<repetitions {
    let start = ContinuousClock.now
    try await body()
    let elapsed = ContinuousClock.now - start
    times.append(
      Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18)
  }
  return times.min()!
}

let noop = task("noop") { () -> Int in 1 }
func buildFlow() -> Flow {
  Flow("bench") { for _ in 0..<taskCount { noop() } }
}

// Baseline: the floor of calling `taskCount` type-erased async bodies in a loop.
let bodies: [@Sendable () async throws -> any Sendable] = Array(repeating: { 1 }, count: taskCount)
let baseline = try await best {
  var sum = 0
  for body in bodies { sum &+= try await body() as! Int }
  precondition(sum == taskCount)
}

let build = await best { _ = buildFlow() }
let flow = buildFlow()
let sequential = try await best {
  let result = try await flow.run(executor: .sequential)
  precondition(result.state.isSuccessful && result.taskRuns.count == taskCount)
}
let width = ProcessInfo.processInfo.activeProcessorCount
let concurrent = try await best {
  let result = try await flow.run(executor: .concurrent(width: width))
  precondition(result.state.isSuccessful && result.taskRuns.count == taskCount)
}

let figures: [(key: String, value: Double, unit: String, target: String)] = [
  ("tasks", Double(taskCount), "", ""),
  ("baseline_us_per_call", baseline / Double(taskCount) * 1e6, "µs", ""),
  ("graph_build_ms", build * 1e3, "ms", quick ? "" : "≤ 200"),
  ("sequential_us_per_task", sequential / Double(taskCount) * 1e6, "µs", "≤ 2"),
  ("sequential_vs_baseline", sequential / baseline, "×", ""),
  ("concurrent_tasks_per_s", Double(taskCount) / concurrent, "/s", "≥ 200,000"),
  ("concurrent_width", Double(width), "", ""),
]
if arguments.contains("--json") {
  let fields = figures.map { "\"\($0.key)\": \(String(format: "%.3f", $0.value))" }
  print("{" + fields.joined(separator: ", ") + "}")
} else {
  print("workload                   value        target")
  for figure in figures {
    let value = String(format: "%.3f", figure.value) + " " + figure.unit
    print(
      figure.key.padding(toLength: 26, withPad: " ", startingAt: 0) + " "
        + value.padding(toLength: 12, withPad: " ", startingAt: 0) + " " + figure.target)
  }
}

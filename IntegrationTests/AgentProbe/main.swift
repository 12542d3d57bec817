import FlowCLI
import FlowCore
import FlowResults
import Foundation

// A flow executable for the agent integration tests.
// `agent-probe`: `first` → `slow` → `last`, each checkpointed under --results-dir, each
// appending "<n> <task>" to `<results-dir>/ran` when its body runs (n is the run's parameter);
// `slow` sleeps `delay-ms`, so that a test can kill an agent mid-run.
// `agent-probe-durable`: the same tasks without a result store of their own: the agent's
// durable outputs (under <results-dir>/durable, on by default) keep them from running twice.
// `tick`: one fast task, for `serve` on an every-second schedule.

func note(_ line: String, in directory: String) {
  let url = URL(fileURLWithPath: directory).appendingPathComponent("ran")
  let data = Data((line + "\n").utf8)
  // O_APPEND: lines from several agent processes never interleave.
  let descriptor = open(url.path, O_WRONLY | O_APPEND | O_CREAT, 0o644)
  guard descriptor >= 0 else { return }
  _ = data.withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
  close(descriptor)
}

await FlowCommandLine(name: "agent-probe", defaultResultsDirectory: "probe-results") {
  context in
  let directory = context.resultsDirectory ?? "probe-results"
  try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
  let store = LocalResultStore(path: directory)
  let first = task("first") { (n: Int) -> Int in
    note("\(n) first", in: directory)
    return n
  }
  let slow = task("slow") { (n: Int, delay: Int) async throws -> Int in
    note("\(n) slow", in: directory)
    try await SystemWallClock().sleep(for: .milliseconds(Int64(delay)))
    return n
  }
  let last = task("last") { (n: Int) -> Int in
    note("\(n) last", in: directory)
    return n
  }
  let tick = task("tick") { () -> Int in 1 }
  return [
    Flow("agent-probe", resultStore: store) {
      let n = Parameter<Int>(required: "n")
      let delay = Parameter("delay-ms", default: 600)
      _ = last(slow(first(n), delay))
    },
    Flow("agent-probe-durable") {
      let n = Parameter<Int>(required: "n")
      let delay = Parameter("delay-ms", default: 600)
      _ = last(slow(first(n), delay))
    },
    Flow("tick") { _ = tick() },
  ]
}.main()

import FlowCLI
import FlowCore
import FlowResults
import Foundation

// A flow executable for the crash-and-resume integration test: `first` → `slow` → `last`, each
// checkpointed under --results-dir, each appending its name to `<results-dir>/ran` when its
// body runs; `slow` waits while `<results-dir>/hold` exists (so the test can kill it there).

func note(_ name: String, in directory: String) {
  let url = URL(fileURLWithPath: directory).appendingPathComponent("ran")
  let line = Data((name + "\n").utf8)
  if let handle = try? FileHandle(forWritingTo: url) {
    _ = try? handle.seekToEnd()
    try? handle.write(contentsOf: line)
    try? handle.close()
  } else {
    try? line.write(to: url)
  }
}

await FlowCommandLine(name: "recording-probe", defaultResultsDirectory: "probe-results") {
  context in
  let directory = context.resultsDirectory ?? "probe-results"
  try FileManager.default.createDirectory(
    atPath: directory, withIntermediateDirectories: true)
  let store = LocalResultStore(path: directory)
  let first = task("first") { () -> Int in
    note("first", in: directory)
    return 1
  }
  let slow = task("slow") { (x: Int) async throws -> Int in
    note("slow", in: directory)
    let hold = URL(fileURLWithPath: directory).appendingPathComponent("hold").path
    while FileManager.default.fileExists(atPath: hold) {
      try await SystemWallClock().sleep(for: .milliseconds(50))
    }
    return x + 1
  }
  let last = task("last") { (x: Int) -> Int in
    note("last", in: directory)
    return x * 10
  }
  return [Flow("probe", resultStore: store) { _ = last(slow(first())) }]
}.main()

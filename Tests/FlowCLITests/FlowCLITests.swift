import FlowCore
import FlowExecutors
import FlowScheduling
import Foundation
import Synchronization
import Testing

@testable import FlowCLI

/// What a command wrote, by stream.
final class Captured: Sendable {
  private let text = Mutex((out: "", err: ""))

  var output: FlowCommandOutput {
    FlowCommandOutput { [self] chunk, stream in
      text.withLock {
        if stream == .standardOutput { $0.out += chunk } else { $0.err += chunk }
      }
    }
  }

  var out: String { text.withLock { $0.out } }
  var err: String { text.withLock { $0.err } }
}

/// Values the flows' tasks saw, in order.
final class Recorder: Sendable {
  private let values = Mutex<[String]>([])
  func record(_ value: String) { values.withLock { $0.append(value) } }
  var all: [String] { values.withLock { $0 } }
}

struct Options: Codable, Sendable, Equatable {
  let depth: Int
  let tags: [String]
}

func commandLine(_ recorder: Recorder) -> FlowCommandLine {
  FlowCommandLine(name: "demo", abstract: "A demo.") { _ in
    let echo = task("echo") {
      (size: Int, ratio: Double, name: String, flags: [Int], options: Options, seed: Int?) in
      recorder.record(
        "\(size) \(ratio) \(name) \(flags) \(options.depth)/\(options.tags) \(seed as Any)")
    }
    let fail = task("explode") { (reason: String) throws -> Int in
      throw CocoaError(.featureUnsupported, userInfo: [NSLocalizedDescriptionKey: reason])
    }
    let tick = task("tick") { () -> Int in
      recorder.record("tick")
      return 1
    }
    return [
      Flow("main") {
        echo(
          Parameter("batch-size", default: 10), Parameter("ratio", default: 0.5),
          Parameter("name", default: "x"), Parameter("flags", default: [1]),
          Parameter("options", default: Options(depth: 1, tags: [])),
          Parameter("seed", default: Int?.none))
      },
      Flow("broken") {
        let reason = Parameter<String>(required: "reason")
        fail(reason)
      },
      Flow("ticking", schedule: .every(.milliseconds(200))) { tick() },
    ]
  }
}

func execute(_ arguments: String...) async -> (
  status: Int32, captured: Captured, recorder: Recorder
) {
  let recorder = Recorder()
  let captured = Captured()
  let status = await commandLine(recorder).execute(
    arguments
      + (arguments.first == "run" || arguments.first == "schedule"
        ? ["--log-level", "critical"] : []),
    output: captured.output, handlingSignals: false,
    environment: unrecorded)
  return (status, captured, recorder)
}

@Suite("FlowCLI", .timeLimit(.minutes(1)))
struct FlowCLITests {
  @Test("with no arguments, the first flow runs once with its defaults")
  func defaultRun() async {
    let recorder = Recorder()
    let captured = Captured()
    let status = await commandLine(recorder).execute(
      [], output: captured.output, handlingSignals: false,
      environment: unrecorded)
    #expect(status == 0, "\(captured.err)")
    #expect(recorder.all == ["10 0.5 x [1] 1/[] nil"])
    #expect(captured.err.contains("Flow run 'main': Success"))
  }

  @Test("values are parsed by the parameter's declared type, JSON for structured ones")
  func typedValues() async {
    let (status, captured, recorder) = await execute(
      "run", "main", "--param", "batch-size=500", "--param", "ratio=0.25", "--param", "name=eu",
      "--param", "flags=[3, 4]", "--param", #"options={"depth": 7, "tags": ["a"]}"#, "--param",
      "seed=42")
    #expect(status == 0, "\(captured.err)")
    #expect(recorder.all == ["500 0.25 eu [3, 4] 7/[\"a\"] Optional(42)"])
  }

  @Test("a parameter file gives values; --param wins over it")
  func parameterFile() async throws {
    let file = FileManager.default.temporaryDirectory
      .appendingPathComponent("params-\(ProcessInfo.processInfo.globallyUniqueString).json")
    try Data(#"{"batch-size": 7, "name": "from-file", "flags": [9]}"#.utf8).write(to: file)
    defer { try? FileManager.default.removeItem(at: file) }
    let (status, captured, recorder) = await execute(
      "run", "--param-file", file.path, "--param", "name=cli")
    #expect(status == 0, "\(captured.err)")
    #expect(recorder.all == ["7 0.5 cli [9] 1/[] nil"])
  }

  @Test(
    "bad input is a usage error (64) whose message names what is wrong",
    arguments: [
      (
        ["run", "--param", "batch-size=abc"],
        "parameter 'batch-size' expects a value of type Int, and 'abc' is not one"
      ),
      (
        ["run", "--param", "nope=1"],
        "flow 'main' has no parameter 'nope'; its parameters are 'batch-size' (Int), 'ratio' (Double), 'name' (String)"
      ),
      (
        ["run", "--param", "batch-size"],
        "--param 'batch-size' has no '='; write --param NAME=VALUE"
      ),
      (
        ["run", "--param-file", "/nonexistent/p.json"],
        "--param-file: cannot read '/nonexistent/p.json'"
      ),
      (
        ["run", "--executor", "dask"],
        "The value 'dask' is invalid for '--executor <executor>'"
      ),
      (["run", "--workers", "-2"], "--workers must be at least 1, got -2"),
      (["run", "--threads", "0"], "--threads must be at least 1, got 0"),
      (
        ["run", "--executor", "sequential", "--workers", "4"],
        "--workers and --threads apply to --executor concurrent"
      ),
      (["run", "--log-level", "loud"], "'loud' is not a log level"),
      (
        ["run", "--log-format", "xml"], "The value 'xml' is invalid for '--log-format <log-format>'"
      ),
      (
        ["run", "nowhere"],
        "demo has no flow named 'nowhere'; its flows are 'main', 'broken', 'ticking'"
      ),
      (["run", "broken"], "flow 'broken' needs a value for its required parameter 'reason'"),
      (["schedule", "main"], "flow 'main' has no schedule"),
      (["schedule", "ticking", "--max-runs", "0"], "--max-runs must be at least 1, got 0"),
      (["visualize", "--format", "gif"], "The value 'gif' is invalid for '--format <format>'"),
      (["visualize", "--format", "png"], "--format png is an image: give --output FILE"),
      (["frobnicate"], "demo has no flow named 'frobnicate'"),
    ])
  func usageErrors(arguments: [String], message: String) async {
    let recorder = Recorder()
    let captured = Captured()
    let status = await commandLine(recorder).execute(
      arguments, output: captured.output, handlingSignals: false,
      environment: unrecorded)
    #expect(status == 64)
    #expect(captured.err.contains(message), "stderr: \(captured.err)")
    #expect(recorder.all.isEmpty)
  }

  @Test("a malformed or non-object parameter file is a usage error")
  func malformedParameterFile() async throws {
    let directory = FileManager.default.temporaryDirectory
    let malformed = directory.appendingPathComponent("bad-\(UUID().uuidString).json")
    let array = directory.appendingPathComponent("array-\(UUID().uuidString).json")
    let typed = directory.appendingPathComponent("typed-\(UUID().uuidString).json")
    try Data("{\"batch-size\": ".utf8).write(to: malformed)
    try Data("[1, 2]".utf8).write(to: array)
    try Data(#"{"batch-size": "many"}"#.utf8).write(to: typed)
    defer {
      for file in [malformed, array, typed] { try? FileManager.default.removeItem(at: file) }
    }
    let first = await execute("run", "--param-file", malformed.path)
    #expect(first.status == 64)
    #expect(first.captured.err.contains("'\(malformed.path)' is not valid JSON"))
    let second = await execute("run", "--param-file", array.path)
    #expect(second.status == 64)
    #expect(second.captured.err.contains("must hold a JSON object of parameter values"))
    let third = await execute("run", "--param-file", typed.path)
    #expect(third.status == 64)
    #expect(
      third.captured.err.contains(
        "--param-file '\(typed.path)': parameter 'batch-size' expects a value of type Int"))
  }

  @Test("a failed run exits 1 and prints the final state and the failing tasks")
  func failedRun() async {
    let (status, captured, _) = await execute("run", "broken", "--param", "reason=boom")
    #expect(status == 1)
    #expect(captured.err.contains("Flow run 'broken': Failed"))
    #expect(captured.err.contains("Failing tasks:\n  explode: Failed"))
    #expect(captured.err.contains("boom"))
  }

  @Test("the concurrent executor takes --workers and --threads")
  func concurrent() async {
    let (status, captured, recorder) = await execute(
      "run", "--executor", "concurrent", "--workers", "2", "--threads", "3")
    #expect(status == 0, "\(captured.err)")
    #expect(recorder.all.count == 1)
    #expect(RunOptionsProbe.width(["--workers", "2", "--threads", "3"]) == 6)
    #expect(RunOptionsProbe.width(["--executor", "sequential"]) == 1)
    #expect(RunOptionsProbe.width([]) == 1)
  }

  @Test("schedule runs the flow at its fire times until --max-runs")
  func schedule() async {
    let (status, captured, recorder) = await execute("schedule", "ticking", "--max-runs", "2")
    #expect(status == 0, "\(captured.err)")
    #expect(recorder.all == ["tick", "tick"])
    #expect(captured.err.contains("Scheduling flow 'ticking': every"))
  }

  @Test("visualize prints DOT or Mermaid without running anything, or writes a file")
  func visualize() async throws {
    let dot = await execute("visualize")
    #expect(dot.status == 0)
    #expect(dot.captured.out.hasPrefix("digraph \"main\" {"))
    #expect(dot.recorder.all.isEmpty)
    let mermaid = await execute("visualize", "broken", "--format", "mermaid")
    #expect(mermaid.captured.out.hasPrefix("flowchart TD"))
    #expect(mermaid.captured.out.contains("explode"))
    let file = FileManager.default.temporaryDirectory.appendingPathComponent(
      "graph-\(UUID().uuidString).dot")
    defer { try? FileManager.default.removeItem(at: file) }
    let written = await execute("visualize", "--output", file.path)
    #expect(written.status == 0)
    #expect(try String(contentsOf: file, encoding: .utf8).hasPrefix("digraph"))
  }

  @Test("png and svg go through Graphviz's dot, or name the package to install")
  func images() async throws {
    let file = FileManager.default.temporaryDirectory.appendingPathComponent(
      "graph-\(UUID().uuidString).svg")
    defer { try? FileManager.default.removeItem(at: file) }
    let result = await execute("visualize", "--format", "svg", "--output", file.path)
    if Graphviz.executable() == nil {
      #expect(result.status == 1)
      #expect(result.captured.err.contains("apt-get install graphviz"))
      #expect(!FileManager.default.fileExists(atPath: file.path))
    } else {
      #expect(result.status == 0)
      #expect(try String(contentsOf: file, encoding: .utf8).contains("<svg"))
    }
    #expect(Graphviz.executable(environment: ["PATH": "/nonexistent"]) == nil)
  }

  @Test("list shows each flow's parameters with types and defaults, and its schedule")
  func list() async {
    let (status, captured, _) = await execute("list")
    #expect(status == 0)
    let out = captured.out
    #expect(out.contains("main (default)\n  schedule: none"))
    #expect(out.contains("  --param batch-size=<Int>  (default 10)"))
    #expect(out.contains("  --param name=<String>  (default \"x\")"))
    #expect(out.contains("  --param flags=<Array<Int>>  (default [1])"))
    #expect(out.contains("  --param seed=<Optional<Int>>  (default null)"))
    #expect(out.contains("  --param reason=<String>  (required)"))
    #expect(out.contains("ticking\n  schedule: every"))
    #expect(out.contains("  tasks: tick"))
  }

  @Test("--help goes to standard output with status 0")
  func help() async {
    let (status, captured, _) = await execute("--help")
    #expect(status == 0)
    #expect(captured.out.contains("USAGE: demo"))
    #expect(captured.out.contains("visualize"))
  }
}

/// The executor width `run` would use for some options.
enum RunOptionsProbe {
  static func width(_ arguments: [String]) -> Int? {
    (try? RunOptions.parse(arguments))?.flowExecutor().width
  }
}

/// The process's environment with recording off: tests never write to the real ~/.flow.
let unrecorded = ProcessInfo.processInfo.environment.merging(["FLOW_DATABASE": "none"]) { $1 }

import Foundation
import Testing

/// Runs the `iris-flow` sample as a real process, as a newcomer would.
@Suite("iris-flow sample, end to end", .timeLimit(.minutes(2)))
struct IrisSampleTests {
  struct Output {
    let status: Int32
    let stdout: String
    let stderr: String
  }

  /// The sample binary, built next to the test bundle because this target depends on it.
  static func binary() throws -> URL {
    let candidates = [
      Bundle.main.bundleURL,
      URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent(),
    ]
    let found = candidates.map { $0.appendingPathComponent("iris-flow") }
      .first { FileManager.default.isExecutableFile(atPath: $0.path) }
    return try #require(found, "iris-flow not found next to \(candidates.map(\.path))")
  }

  func run(_ arguments: String...) throws -> Output {
    let process = Process()
    process.executableURL = try Self.binary()
    process.arguments = arguments
    let out = Pipe()
    let err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    let stdout = out.fileHandleForReading.readDataToEndOfFile()
    let stderr = err.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    return Output(
      status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
      stderr: String(decoding: stderr, as: UTF8.self))
  }

  @Test("summarises each species on both executors", arguments: ["sequential", "concurrent"])
  func summary(executor: String) throws {
    let output = try run("--executor", executor)
    #expect(output.status == 0, "stderr: \(output.stderr)")
    #expect(output.stdout.contains("setosa         50      5.006      3.428      1.462      0.246"))
    #expect(output.stdout.contains("virginica      50      6.588      2.974      5.552      2.026"))
    #expect(output.stdout.contains("summarize_species[2]: Success (attempts: 1)"))
    #expect(output.stdout.contains("Flow run Success(\"All reference tasks succeeded.\")"))
  }

  @Test("a parameter changes the result")
  func parameter() throws {
    let output = try run("--min-sepal-length", "6.0")
    #expect(output.status == 0)
    #expect(output.stdout.contains("setosa          0"))
    #expect(output.stdout.contains("versicolor     24      6.375"))
    #expect(output.stdout.contains("virginica      43      6.742"))
  }

  @Test("a missing data file fails after the retries, with exit status 1")
  func missingFile() throws {
    let output = try run("--data", "/nonexistent/iris.csv", "--executor", "sequential")
    #expect(output.status == 1)
    #expect(output.stdout.contains("load_data: Failed (attempts: 3)"))
    #expect(output.stdout.contains("species_names: TriggerFailed"))
  }

  @Test("a malformed data file names the bad line")
  func malformedFile() throws {
    let file = FileManager.default.temporaryDirectory
      .appendingPathComponent("iris-\(ProcessInfo.processInfo.globallyUniqueString).csv")
    try
      "sepal_length,sepal_width,petal_length,petal_width,species\n5.1,3.5,1.4,0.2,setosa\n5.1,abc,1,1,setosa\n"
      .write(to: file, atomically: true, encoding: .utf8)
    defer { try? FileManager.default.removeItem(at: file) }
    let output = try run("--data", file.path)
    #expect(output.status == 1)
    #expect(output.stdout.contains("iris data, line 3: expected 4 numbers and a species"))
  }

  @Test("bad options are usage errors, not crashes")
  func badOptions() throws {
    let executor = try run("--executor", "bogus")
    #expect(executor.status == 2)
    #expect(executor.stderr.contains("--executor takes sequential or concurrent, not bogus"))
    let number = try run("--min-sepal-length", "abc")
    #expect(number.status == 2)
    #expect(number.stderr.contains("--min-sepal-length takes a number, not abc"))
    let unknown = try run("--frobnicate", "1")
    #expect(unknown.status == 2)
    #expect(unknown.stderr.contains("unknown option --frobnicate"))
  }

  @Test("a second run with a results directory reads the checkpointed tasks instead of running")
  func resultsDirectory() throws {
    let directory = FileManager.default.temporaryDirectory
      .appendingPathComponent("iris-results-\(ProcessInfo.processInfo.globallyUniqueString)")
    defer { try? FileManager.default.removeItem(at: directory) }
    let first = try run("--results-dir", directory.path)
    #expect(first.status == 0)
    #expect(first.stdout.contains("summarize_species[1]: Success (attempts: 1)"))
    #expect(first.stdout.contains("report: Success (attempts: 1)"))
    let second = try run("--results-dir", directory.path)
    #expect(second.status == 0)
    for child in 0..<3 {
      #expect(second.stdout.contains("summarize_species[\(child)]: Cached (attempts: 0)"))
    }
    #expect(second.stdout.contains("report: Cached (attempts: 0)"))
    #expect(second.stdout.contains("setosa         50      5.006      3.428      1.462      0.246"))
    let files = try FileManager.default.subpathsOfDirectory(atPath: directory.path).sorted()
    #expect(files.contains("iris/summaries/virginica-0.0.json"))
    #expect(files.contains("iris/report-0.0.txt"))
  }

  @Test("--log-level info logs every transition to standard error, in Prefect's style")
  func consoleLog() throws {
    let output = try run("--log-level", "info", "--executor", "sequential")
    #expect(output.status == 0)
    #expect(
      output.stderr.contains(
        "| INFO    | Beginning Flow run for 'iris-summary'"))
    #expect(output.stderr.contains("| INFO    | Task 'load_data': Starting task run..."))
    #expect(
      output.stderr.contains(
        "| INFO    | Task 'summarize_species[2]': Finished task run for task with final state: 'Success'"
      ))
    #expect(output.stderr.contains("| INFO    | Flow run SUCCESS: all reference tasks succeeded\n"))
    #expect(!output.stdout.contains("| INFO"))
  }

  @Test("--log-format json writes one JSON object per record")
  func jsonLog() throws {
    let output = try run("--log-level", "info", "--log-format", "json")
    #expect(output.status == 0)
    let lines = output.stderr.split(separator: "\n")
    #expect(lines.count >= 10)
    for line in lines {
      let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: String]
      #expect(object?["flow"] == "iris-summary")
      #expect(object?["level"] != nil && object?["message"] != nil && object?["time"] != nil)
    }
    let bad = try run("--log-level", "loud")
    #expect(bad.status == 2)
    #expect(bad.stderr.contains("'loud' is not a log level"))
  }

  @Test("the graph renders without running anything")
  func graph() throws {
    let dot = try run("--graph", "dot")
    #expect(dot.status == 0)
    #expect(dot.stdout.hasPrefix("digraph \"iris-summary\" {"))
    #expect(dot.stdout.contains("summarize_species (mapped)"))
    #expect(!dot.stdout.contains("Flow run"))
    let mermaid = try run("--graph", "mermaid")
    #expect(mermaid.stdout.hasPrefix("flowchart TD"))
  }
}

import FlowCore
import FlowExecutors
import FlowLogging
import FlowTesting
import Foundation
import Logging
import Testing

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// Every test that redirects standard output lives here, one at a time: standard output
/// belongs to the whole process.
@Suite("logStdout", .serialized)
struct StdoutCaptureTests {
  @Test("print, puts and FileHandle.standardOutput all reach the task's log, not stdout")
  func capturesEveryWriter() async throws {
    let token = "token-\(UInt64.random(in: 0...UInt64.max))"
    let chatty = task("chatty", logStdout: true) { () -> Int in
      print("\(token) print")
      puts("\(token) puts")  // C stdio, to stdout
      FileHandle.standardOutput.write(Data("\(token) filehandle\nno newline at the end".utf8))
      TaskRunContext.current!.logger.info("\(token) logger")
      return 1
    }
    let flow = Flow("stdout") { chatty() }
    // Stand in for the terminal: point standard output at a file for the whole run.
    let (outside, result) = try await withStandardOutputInFile {
      let result = try await flow.run(environment: .testing(seed: 1, clock: TestClock(now: start)))
      print("\(token) after the run")  // proves the stand-in sees what is not captured
      return result
    }
    let records = result.logs.filter { $0.message.hasPrefix(token) || $0.message.hasPrefix("no") }
    // Lines come after the records the body logged, in the order they were printed.
    #expect(
      records.map(\.message) == [
        "\(token) logger", "\(token) print", "\(token) puts", "\(token) filehandle",
        "no newline at the end",
      ])
    #expect(records.allSatisfy { $0.metadata["task"] == "chatty" && $0.metadata["attempt"] == "1" })
    #expect(records.allSatisfy { $0.level == .info })
    #expect(outside.contains("\(token) after the run"))
    #expect(!outside.contains("\(token) print"))
    #expect(!outside.contains("\(token) puts"))
    #expect(!outside.contains("\(token) filehandle"))
  }

  @Test("without logStdout, what a task prints stays on stdout and out of the log")
  func notCapturedByDefault() async throws {
    let token = "plain-\(UInt64.random(in: 0...UInt64.max))"
    let plain = task("plain") { () -> Int in
      print(token)
      return 1
    }
    let flow = Flow("plain") { plain() }
    let (outside, result) = try await withStandardOutputInFile {
      try await flow.run(environment: .testing(seed: 1, clock: TestClock(now: start)))
    }
    #expect(outside.contains(token))
    #expect(!result.logs.contains { $0.message.contains(token) })
  }

  @Test("what a failing task printed before it failed is kept in its log, per attempt")
  func failingTask() async throws {
    let shaky = task("shaky", retries: .init(maxRetries: 1), logStdout: true) {
      () throws -> Int in
      let attempt = TaskRunContext.current!.attempt
      print("trying, attempt \(attempt)")
      if attempt == 1 { throw Flaky() }
      return attempt
    }
    let flow = Flow("shaky") { shaky() }
    let result = try await flow.run(
      environment: .testing(seed: 1, clock: TestClock(now: start, autoAdvance: true)))
    let lines = result.logs.filter { $0.message.hasPrefix("trying") }
    #expect(lines.map(\.message) == ["trying, attempt 1", "trying, attempt 2"])
    #expect(lines.map { $0.metadata["attempt"] } == ["1", "2"])
    #expect(result.state.isSuccessful)
  }

  @Test("the console and JSON-lines handlers write one line per record to their stream")
  func handlersWrite() async throws {
    let clock = TestClock(now: start.addingTimeInterval(61))
    let (text, _) = try await withStandardOutputInFile {
      var console = Logger(label: "console") { _ in
        ConsoleLogHandler(
          level: .info, stream: .standardOutput, timeZone: TimeZone(identifier: "UTC")!,
          clock: clock)
      }
      console[metadataKey: "task"] = "load_data"
      console.debug("below the level")
      console.info("Starting task run...", metadata: ["map_index": "3"])
      var json = Logger(label: "json") { _ in
        JSONLinesLogHandler(level: .info, stream: .standardOutput, clock: clock)
      }
      json[metadataKey: "flow"] = "etl"
      json.warning("quote \" and\nnewline", metadata: ["flow": "override"])
    }
    let lines = text.split(separator: "\n").map(String.init)
    #expect(
      lines == [
        "└── 08:01:01 | INFO    | Task 'load_data[3]': Starting task run...",
        #"{"flow":"override","level":"warning","message":"quote \" and\nnewline","#
          + #""time":"2027-01-15T08:01:01.000Z"}"#,
      ])
  }

  @Test("two concurrent logStdout tasks never mix their lines: captures are serialised")
  func concurrentTasksDoNotMix() async throws {
    let count = 300
    let left = task("left", logStdout: true) { () async -> Int in await printLines("left", count) }
    let right = task("right", logStdout: true) { () async -> Int in
      await printLines("right", count)
    }
    let flow = Flow("two-printers") {
      left()
      right()
    }
    let result = try await flow.run(executor: .concurrent(width: 2))
    #expect(result.state.isSuccessful)
    for name in ["left", "right"] {
      let mine = result.logs.filter { $0.metadata["task"] == name }.map(\.message)
      let printed = mine.filter { $0.hasPrefix("left-") || $0.hasPrefix("right-") }
      #expect(printed == (0..<count).map { "\(name)-\($0)" })
    }
  }
}

/// Prints `count` lines `name-0`, `name-1`…, alternating `print` and `FileHandle`, yielding
/// between lines so that a concurrent task gets its turn.
private func printLines(_ name: String, _ count: Int) async -> Int {
  for line in 0..<count {
    if line.isMultiple(of: 2) {
      print("\(name)-\(line)")
    } else {
      FileHandle.standardOutput.write(Data("\(name)-\(line)\n".utf8))
    }
    await Task.yield()
  }
  return count
}

/// Runs `body` with standard output (descriptor 1) pointed at a temporary file; returns what
/// reached the file and the body's result.
private func withStandardOutputInFile<T>(
  _ body: () async throws -> T
) async throws -> (String, T) {
  let url = FileManager.default.temporaryDirectory.appendingPathComponent(
    "flow-logging-test-\(UInt64.random(in: 0...UInt64.max))")
  #expect(FileManager.default.createFile(atPath: url.path, contents: nil))
  defer { try? FileManager.default.removeItem(at: url) }
  let file = open(url.path, O_WRONLY)
  fflush(nil)
  let saved = dup(STDOUT_FILENO)
  dup2(file, STDOUT_FILENO)
  let value: Result<T, any Error>
  do { value = .success(try await body()) } catch { value = .failure(error) }
  fflush(nil)
  dup2(saved, STDOUT_FILENO)
  close(saved)
  close(file)
  let text = try String(contentsOf: url, encoding: .utf8)
  return (text, try value.get())
}

import FlowCore
import FlowExecutors
import FlowResults
import FlowState
import FlowTesting
import Foundation
import Testing

/// Every placeholder of a target template, checked by the exact file names written to disk.
@Suite("Target placeholders render into file names", .timeLimit(.minutes(2)))
struct TargetTemplateTests {
  /// Runs a one-task flow whose task returns 1 and checkpoints to `target`; returns the files
  /// written and the run.
  private func render(
    _ target: String, scheduledStart: Date? = nil, clockAt now: Date = fixedStart
  ) async throws -> (files: [String], run: FlowRunResult) {
    let dir = uniqueDirectory("render")
    defer { removeDirectory(dir) }
    let store = LocalResultStore(directory: dir)
    let one = task("one") { () -> Int in 1 }.checkpoint(to: store, target: target)
    let flow = Flow("render") { one() }
    let result = try await flow.run(
      environment: environment(clock: TestClock(now: now)), scheduledStart: scheduledStart)
    #expect(result.taskRun("one")?.state.kind == .success)
    let written = files(in: dir)
    for file in written {
      #expect(try store.read(Int.self, at: file) == 1)
    }
    return (written, result)
  }

  @Test("the tutorial's {date:%a_%b_%d_%Y_%H:%M:%S}/{task_name}_output on a fixed clock")
  func tutorialFormat() async throws {
    let (written, _) = try await render("{date:%a_%b_%d_%Y_%H:%M:%S}/{task_name}_output")
    #expect(written == ["Thu_Mar_05_2026_14:07:09/one_output"])
  }

  @Test(
    "each strftime directive, in UTC",
    arguments: [
      ("%a", "Thu"), ("%A", "Thursday"), ("%b", "Mar"), ("%B", "March"), ("%d", "05"),
      ("%e", " 5"), ("%H", "14"), ("%I", "02"), ("%j", "064"), ("%m", "03"), ("%M", "07"),
      ("%p", "PM"), ("%S", "09"), ("%y", "26"), ("%Y", "2026"), ("%Z", "UTC"), ("%z", "+0000"),
      ("%F", "2026-03-05"), ("%T", "14:07:09"), ("%s", "1772719629"), ("%%", "%"),
      ("run-%Y%m%d-%H%M", "run-20260305-1407"), ("no directives", "no directives"),
    ])
  func directive(format: String, expected: String) async throws {
    let (written, _) = try await render("dates/{date:\(format)}")
    #expect(written == ["dates/\(expected)"])
  }

  @Test(
    "directives at the edges of the year and of the day",
    arguments: [
      // 2026-12-31 23:59:59 UTC and 2026-01-01 00:00:00 UTC
      (1_798_761_599.0, "%j %a %I %p %H", "365 Thu 11 PM 23"),
      (1_767_225_600.0, "%j %a %I %p %H", "001 Thu 12 AM 00"),
      (1_767_225_600.0, "%e|%d|%y", " 1|01|26"),
    ])
  func edges(seconds: Double, format: String, expected: String) async throws {
    let (written, _) = try await render(
      "{date:\(format)}", clockAt: Date(timeIntervalSince1970: seconds))
    #expect(written == [expected])
  }

  @Test("{date:...} and {scheduled_start_time} use `scheduledStart:`, not the clock")
  func scheduledStart() async throws {
    let scheduled = Date(timeIntervalSince1970: 1_800_000_000)  // Fri 2027-01-15 08:00:00 UTC
    let (written, _) = try await render(
      "{date:%a_%b_%d_%Y_%H:%M:%S}/{scheduled_start_time}", scheduledStart: scheduled)
    #expect(written == ["Fri_Jan_15_2027_08:00:00/2027-01-15T08:00:00Z"])
  }

  @Test("{scheduled_start_time} defaults to the clock's time at the start of the run")
  func scheduledStartDefault() async throws {
    let (written, _) = try await render("at-{scheduled_start_time}")
    #expect(written == ["at-2026-03-05T14:07:09Z"])
  }

  @Test("{flow_name}, {task_name} and {task_slug}, with a second call of one task")
  func names() async throws {
    let dir = uniqueDirectory("names")
    defer { removeDirectory(dir) }
    let store = LocalResultStore(directory: dir)
    let add = task("add") { (x: Int) -> Int in x + 1 }
      .checkpoint(to: store, target: "{flow_name}/{task_name}/{task_slug}.json")
    let flow = Flow("naming") { add(add(1)) }
    let result = try await flow.run(environment: environment())
    #expect(result.state.kind == .success)
    #expect(files(in: dir) == ["naming/add/add-2.json", "naming/add/add.json"])
    #expect(try store.read(Int.self, at: "naming/add/add.json") == 2)
    #expect(try store.read(Int.self, at: "naming/add/add-2.json") == 3)
  }

  @Test("{flow_run_id} and {task_run_id} are the run's lower-case UUIDs")
  func runIDs() async throws {
    let (written, result) = try await render("{flow_run_id}/{task_run_id}")
    let run = try #require(result.taskRun("one"))
    let flowRunID = result.flowRunID.uuidString.lowercased()
    let taskRunID = run.id.uuidString.lowercased()
    #expect(written == ["\(flowRunID)/\(taskRunID)"])
    #expect(flowRunID != taskRunID)
  }

  @Test("{map_index} is 0, 1, 2 for mapped children and empty for an unmapped task")
  func mapIndex() async throws {
    let dir = uniqueDirectory("map-index")
    defer { removeDirectory(dir) }
    let store = LocalResultStore(directory: dir)
    let square = task("square") { (x: Int) -> Int in x * x }
      .checkpoint(to: store, target: "squares/{task_name}-{map_index}")
    let total = task("total") { (xs: [Int]) -> Int in xs.reduce(0, +) }
      .checkpoint(to: store, target: "total{map_index}.json")
    let flow = Flow("mapping") { total(square.map(.constant([3, 4, 5]))) }
    let result = try await flow.run(environment: environment())
    #expect(result.state.kind == .success)
    #expect(
      files(in: dir) == [
        "squares/square-0", "squares/square-1", "squares/square-2", "total.json",
      ])
    #expect(try store.read(Int.self, at: "squares/square-2") == 25)
    #expect(try store.read(Int.self, at: "total.json") == 50)
  }

  @Test("{parameters[NAME]} renders the given value, or the default")
  func parameters() async throws {
    let dir = uniqueDirectory("parameters")
    defer { removeDirectory(dir) }
    let store = LocalResultStore(directory: dir)
    let fetch = task("fetch") { (region: String, size: Int) -> String in "\(region):\(size)" }
      .checkpoint(to: store, target: "{parameters[region]}/batch-{parameters[batch-size]}")
    let flow = Flow("params") {
      fetch(Parameter<String>(required: "region"), Parameter("batch-size", default: 100))
    }
    _ = try await flow.run(parameters: ["region": "eu"], environment: environment())
    #expect(files(in: dir) == ["eu/batch-100"])
    _ = try await flow.run(
      parameters: ["region": "us", "batch-size": 7], environment: environment(seed: 2))
    #expect(files(in: dir) == ["eu/batch-100", "us/batch-7"])
    #expect(try store.read(String.self, at: "us/batch-7") == "us:7")
  }

  @Test("the task's own inputs by the names given with `.inputs(...)`")
  func inputs() async throws {
    let dir = uniqueDirectory("inputs")
    defer { removeDirectory(dir) }
    let store = LocalResultStore(directory: dir)
    let join = task("join") { (count: Int, word: String) -> String in
      String(repeating: word, count: count)
    }.inputs("count", "word").checkpoint(to: store, target: "{word}/{count}-{word}.txt")
    let flow = Flow("inputs") { join(Parameter("n", default: 3), "ab") }
    _ = try await flow.run(environment: environment())
    #expect(files(in: dir) == ["ab/3-ab.txt"])
    #expect(try store.read(String.self, at: "ab/3-ab.txt") == "ababab")
  }

  @Test("inputs of mapped children render per child")
  func mappedInputs() async throws {
    let dir = uniqueDirectory("mapped-inputs")
    defer { removeDirectory(dir) }
    let store = LocalResultStore(directory: dir)
    let label = task("label") { (x: Int, prefix: String) -> String in "\(prefix)\(x)" }
      .inputs("x", "prefix").checkpoint(to: store, target: "{prefix}{x}@{map_index}")
    let flow = Flow("mapped-inputs") { label.map(.constant([10, 20]), unmapped("p")) }
    let result = try await flow.run(environment: environment())
    #expect(result.state.kind == .success)
    #expect(files(in: dir) == ["p10@0", "p20@1"])
  }

  @Test(
    "{{ and }} are literal braces",
    arguments: [
      ("{{literal}}-{task_name}", "{literal}-one"),
      ("a{{b}}c", "a{b}c"),
      ("{{{task_name}}}", "{one}"),
      ("}}{{", "}{"),
    ])
  func literalBraces(template: String, expected: String) async throws {
    let (written, _) = try await render(template)
    #expect(written == [expected])
  }

  @Test("text without placeholders is used as written, with subdirectories")
  func plainText() async throws {
    let (written, _) = try await render("data/processed/model.json")
    #expect(written == ["data/processed/model.json"])
  }
}

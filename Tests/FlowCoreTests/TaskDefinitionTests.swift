import FlowCore
import FlowState
import Testing

private struct NegativeInput: Error, Equatable {
  let value: Int
}

@Suite("Task definitions")
struct TaskDefinitionTests {
  @Test("run calls the body directly with typed inputs")
  func runTyped() async throws {
    let label = task("label") { (count: Int, unit: String, scale: Double) in
      "\(Double(count) * scale) \(unit)"
    }
    #expect(try await label.run(3, "kg", 1.5) == "4.5 kg")
    #expect(try await label.run(0, "m", 2) == "0.0 m")
  }

  @Test("a task without inputs runs with no arguments")
  func zeroInputs() async throws {
    let answer = task("answer") { () -> Int in 42 }
    #expect(try await answer.run() == 42)
  }

  @Test("a task returning Void runs its body")
  func voidOutput() async throws {
    let counter = CallCounter()
    let touch = task("touch") { () in counter.increment() }
    try await touch.run()
    try await touch.run()
    #expect(counter.value == 2)
  }

  @Test("an async throwing body returns its value or throws its error")
  func asyncThrowing() async throws {
    let root = task("root") { (x: Int) async throws -> Int in
      await Task.yield()
      guard x >= 0 else { throw NegativeInput(value: x) }
      return Int(Double(x).squareRoot())
    }
    #expect(try await root.run(81) == 9)
    await #expect(throws: NegativeInput(value: -4)) { try await root.run(-4) }
  }

  @Test("each run calls the body again: no caching")
  func everyRunCallsBody() async throws {
    let counter = CallCounter()
    let count = task("count") { () in
      counter.increment()
      return counter.value
    }
    #expect(try await count.run() == 1)
    #expect(try await count.run() == 2)
    #expect(counter.value == 2)
  }

  @Test("running a body directly gives it no task-run context")
  func noContextWhenRunDirectly() async throws {
    let hasContext = task("has-context") { () in TaskRunContext.current != nil }
    #expect(try await hasContext.run() == false)
  }

  @Test("task(...) keeps the name and the options")
  func options() async throws {
    let handler: StateHandler = { $0.new }
    let fetch = task(
      "fetch", retries: RetryPolicy(maxRetries: 3, delay: .seconds(5)), timeout: .seconds(30),
      trigger: .allFinished, skipOnUpstreamSkip: false, stateHandlers: [handler],
      tags: ["io", "network"]
    ) { (url: String) in url.count }
    #expect(fetch.name == "fetch")
    #expect(fetch.options.retries.maxRetries == 3)
    #expect(fetch.options.retries.maxAttempts == 4)
    #expect(fetch.options.retries.delay == .seconds(5))
    #expect(fetch.options.timeout == .seconds(30))
    #expect(fetch.options.trigger.name == "allFinished")
    #expect(fetch.options.skipOnUpstreamSkip == false)
    #expect(fetch.options.stateHandlers.count == 1)
    #expect(fetch.options.tags == ["io", "network"])
    #expect(try await fetch.run("abc") == 3)
  }

  @Test("task(...) defaults: no retries, no timeout, allSuccessful, skip on upstream skip")
  func defaultOptions() {
    let plain = task("plain") { () in 0 }
    #expect(plain.options.retries.maxAttempts == 1)
    #expect(plain.options.timeout == nil)
    #expect(plain.options.trigger.name == "allSuccessful")
    #expect(plain.options.skipOnUpstreamSkip)
    #expect(plain.options.stateHandlers.isEmpty)
    #expect(plain.options.tags.isEmpty)
    let defaults = TaskOptions()
    #expect(defaults.retries.maxAttempts == 1)
    #expect(defaults.timeout == nil)
    #expect(defaults.trigger.name == "allSuccessful")
    #expect(defaults.skipOnUpstreamSkip)
  }

  @Test("TaskDefinition's initializer takes options directly")
  func initializer() async throws {
    let options = TaskOptions(retries: RetryPolicy(maxRetries: 1), tags: ["direct"])
    let join = TaskDefinition<String, String, String>("join", options: options) { a, b in
      a + b
    }
    #expect(join.name == "join")
    #expect(join.options.retries.maxRetries == 1)
    #expect(join.options.tags == ["direct"])
    #expect(try await join.run("a", "b") == "ab")
  }

  @Test("options can be changed on a copy without touching the original")
  func optionsAreValues() {
    let original = task("job") { () in 0 }
    var changed = original
    changed.options.timeout = .seconds(1)
    changed.options.tags = ["changed"]
    #expect(original.options.timeout == nil)
    #expect(original.options.tags.isEmpty)
    #expect(changed.options.timeout == .seconds(1))
  }

  @Test("run works on many concurrent calls")
  func concurrentRuns() async throws {
    let counter = CallCounter()
    let work = task("work") { (x: Int) in
      counter.increment()
      return x * 2
    }
    let results = try await withThrowingTaskGroup(of: Int.self) { group in
      for x in 0..<50 { group.addTask { try await work.run(x) } }
      return try await group.reduce(into: []) { $0.append($1) }
    }
    #expect(results.sorted() == (0..<50).map { $0 * 2 })
    #expect(counter.value == 50)
  }
}

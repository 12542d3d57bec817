import FlowCore
import FlowExecutors
import FlowState
import FlowTesting
import Foundation
import Synchronization
import Testing

@Suite("Mapping tasks over collections", .timeLimit(.minutes(1)))
struct MappingTests {
  @Test(
    "one child per element, in index order, reduced into an array downstream",
    arguments: bothExecutors)
  func mapAndReduce(executor: FlowExecutor) async throws {
    let calls = Counter()
    let square = task("square") { (x: Int) -> Int in
      calls.increment()
      return x * x
    }
    let total = task("total") { (values: [Int]) in values.reduce(0, +) }
    var squares: Ref<[Int]>!
    var sum: Ref<Int>!
    let flow = Flow("map") {
      let xs = Parameter("xs", default: [1, 2, 3, 4])
      let mapped = square.map(xs)
      squares = mapped
      sum = total(mapped)
    }
    let result = try await flow.run(executor: executor, environment: testEnvironment())
    let children = result.mappedRuns("square")
    #expect(children.map(\.mapIndex) == [0, 1, 2, 3])
    #expect(children.map { $0.state.value(as: Int.self) } == [1, 4, 9, 16])
    #expect(children.allSatisfy { $0.state.kind == .success && $0.attempts == 1 })
    #expect(children.map(\.label) == ["square[0]", "square[1]", "square[2]", "square[3]"])
    #expect(Set(children.map(\.id)).count == 4)
    #expect(calls.count == 4)
    let parent = try result.run("square")
    #expect(parent.state.kind == .mapped)
    #expect(parent.mapIndex == nil)
    #expect(try result.result(of: squares) == [1, 4, 9, 16])
    #expect(try result.result(of: sum) == 30)
    // Task runs are in flow order, children right after their parent.
    #expect(
      result.taskRuns.map(\.label) == [
        "square", "square[0]", "square[1]", "square[2]", "square[3]", "total",
      ])
    #expect(result.state.kind == .success)
  }

  @Test("nil outputs of children are results and keep their positions", arguments: bothExecutors)
  func mappedNilOutputs(executor: FlowExecutor) async throws {
    let oddOnly = task("oddOnly") { (x: Int) -> Int? in x.isMultiple(of: 2) ? nil : x }
    let describe = task("describe") { (values: [Int?]) in
      values.map { $0.map(String.init) ?? "-" }.joined(separator: ",")
    }
    var described: Ref<String>!
    var odds: Ref<[Int?]>!
    let flow = Flow("nil-map") {
      let mapped = oddOnly.map(.constant([1, 2, 3, 4]))
      odds = mapped
      described = describe(mapped)
    }
    let result = try await flow.run(executor: executor, environment: testEnvironment())
    #expect(result.mappedRuns("oddOnly").allSatisfy { $0.state.kind == .success })
    #expect(try result.result(of: odds) == [1, nil, 3, nil])
    #expect(try result.result(of: described) == "1,-,3,-")
  }

  @Test("a map over a task's output, with a different parameter value")
  func mapOverTaskOutput() async throws {
    let range = task("range") { (n: Int) in Array(0..<n) }
    let triple = task("triple") { (x: Int) in x * 3 }
    var tripled: Ref<[Int]>!
    let flow = Flow("map") {
      let n = Parameter("n", default: 2)
      tripled = triple.map(range(n))
    }
    let result = try await flow.run(parameters: ["n": 5], environment: testEnvironment())
    #expect(try result.result(of: tripled) == [0, 3, 6, 9, 12])
    #expect(result.mappedRuns("triple").count == 5)
  }

  @Test("unmapped references and unmapped literals are passed whole to every child")
  func unmappedInputs() async throws {
    let seen = Log<(Int, Int, String)>()
    let combine = task("combine") { (x: Int, offset: Int, tag: String) -> String in
      seen.append((x, offset, tag))
      return "\(tag)\(x + offset)"
    }
    var combined: Ref<[String]>!
    let flow = Flow("unmapped") {
      let offset = Parameter("offset", default: 100)
      combined = combine.map(.constant([1, 2, 3]), unmapped(offset), unmapped("#"))
    }
    let result = try await flow.run(parameters: ["offset": 10], environment: testEnvironment())
    #expect(try result.result(of: combined) == ["#11", "#12", "#13"])
    #expect(seen.all.map(\.1) == [10, 10, 10])
    #expect(seen.all.map(\.2) == ["#", "#", "#"])
    #expect(result.mappedRuns("combine").count == 3)
  }

  @Test("mapping over a mapped output is elementwise", arguments: bothExecutors)
  func elementwiseMap(executor: FlowExecutor) async throws {
    let seen = Log<(Int, Int)>()
    let square = task("square") { (x: Int) in x * x }
    let label = task("label") { (x: Int) -> String in
      seen.append((TaskRunContext.current?.mapIndex ?? -1, x))
      return "v\(x)"
    }
    var labels: Ref<[String]>!
    let flow = Flow("chain") {
      labels = label.map(square.map(.constant([1, 2, 3])))
    }
    let result = try await flow.run(executor: executor, environment: testEnvironment())
    #expect(try result.result(of: labels) == ["v1", "v4", "v9"])
    let pairs = seen.all.sorted { $0.0 < $1.0 }
    #expect(pairs.map(\.0) == [0, 1, 2])
    #expect(pairs.map(\.1) == [1, 4, 9])
    #expect(result.mappedRuns("label").map(\.mapIndex) == [0, 1, 2])
  }

  @Test(
    "a failed child of the first map fails only the matching child of the second",
    arguments: bothExecutors)
  func elementwiseFailure(executor: FlowExecutor) async throws {
    let calls = Counter()
    let check = task("check") { (x: Int) throws -> Int in
      if x == 20 { throw Boom(code: x) }
      return x
    }
    let halve = task("halve") { (x: Int) -> Int in
      calls.increment()
      return x / 2
    }
    let flow = Flow("chain") { halve.map(check.map(.constant([10, 20, 30]))) }
    let result = try await flow.run(executor: executor, environment: testEnvironment())
    #expect(result.mappedRuns("check").map(\.state.kind) == [.success, .failed, .success])
    let halves = result.mappedRuns("halve")
    #expect(halves.map(\.state.kind) == [.success, .triggerFailed, .success])
    #expect(halves.map { $0.state.value(as: Int.self) } == [5, nil, 15])
    #expect(calls.count == 2)
    #expect(result.kind("halve") == .mapped)
    #expect(result.state.kind == .failed)
    #expect(result.state.message?.contains("halve[1]") == true)
  }

  @Test("mapped inputs of unequal lengths fail the parent and name both lengths")
  func unequalLengths() async throws {
    let calls = Counter()
    let pair = task("pair") { (a: Int, b: String) -> String in
      calls.increment()
      return "\(a)\(b)"
    }
    let flow = Flow("pairs") {
      let numbers = Parameter("numbers", default: [1, 2, 3])
      let letters = Parameter("letters", default: ["a", "b"])
      pair.map(numbers, letters)
    }
    let result = try await flow.run(environment: testEnvironment())
    let parent = try result.run("pair")
    #expect(parent.state.kind == .failed)
    let message = try #require(parent.state.message)
    #expect(message.contains("'numbers' has 3"))
    #expect(message.contains("'letters' has 2"))
    #expect(result.mappedRuns("pair").isEmpty)
    #expect(calls.count == 0)
    #expect(result.state.kind == .failed)
  }

  @Test(
    "mapping over an empty array: Mapped, no children, downstream gets []", arguments: bothExecutors
  )
  func emptyMap(executor: FlowExecutor) async throws {
    let calls = Counter()
    let square = task("square") { (x: Int) -> Int in
      calls.increment()
      return x * x
    }
    let count = task("count") { (values: [Int]) in values.count }
    var counted: Ref<Int>!
    var squares: Ref<[Int]>!
    let flow = Flow("empty") {
      let mapped = square.map(.constant([]))
      squares = mapped
      counted = count(mapped)
    }
    let result = try await flow.run(executor: executor, environment: testEnvironment())
    #expect(result.kind("square") == .mapped)
    #expect(result.mappedRuns("square").isEmpty)
    #expect(try result.result(of: squares) == [])
    #expect(try result.result(of: counted) == 0)
    #expect(calls.count == 0)
    #expect(result.state.kind == .success)
  }

  @Test(
    "a failing child: siblings succeed, the default-trigger reduce is TriggerFailed",
    arguments: bothExecutors)
  func failingChild(executor: FlowExecutor) async throws {
    let reduces = Counter()
    let check = task("check") { (x: Int) throws -> Int in
      if x == 2 { throw Boom(code: 2) }
      return x
    }
    let total = task("total") { (values: [Int]) -> Int in
      reduces.increment()
      return values.reduce(0, +)
    }
    let flow = Flow("reduce") { total(check.map(.constant([1, 2, 3]))) }
    let result = try await flow.run(executor: executor, environment: testEnvironment())
    let children = result.mappedRuns("check")
    #expect(children.map(\.state.kind) == [.success, .failed, .success])
    #expect(children[1].state.error as? Boom == Boom(code: 2))
    #expect(result.kind("check") == .mapped)
    #expect(result.kind("total") == .triggerFailed)
    #expect(try result.run("total").state.message?.contains("\"allSuccessful\"") == true)
    #expect(reduces.count == 0)
    #expect(result.state.kind == .failed)
  }

  @Test(
    "with a failed child the mapped task has no result; taking it is TriggerFailed",
    arguments: bothExecutors)
  func failedChildLeavesNoResult(executor: FlowExecutor) async throws {
    let calls = Counter()
    let check = task("check") { (x: Int) throws -> Int in
      if x == 2 { throw Boom(code: 2) }
      return x
    }
    let gather = task("gather", trigger: .allFinished) { (values: [Int]) -> [Int] in
      calls.increment()
      return values
    }
    let report = task("report", trigger: .allFinished) { () -> String in "reported" }
    var checked: Ref<[Int]>!
    let flow = Flow("partial") {
      let mapped = check.map(.constant([1, 2, 3]))
      checked = mapped
      gather(mapped)
      report().after(mapped)
    }
    let result = try await flow.run(executor: executor, environment: testEnvironment())
    #expect(result.kind("check") == .mapped)
    #expect(try result.run("check").state.message?.contains("1 did not succeed") == true)
    let error = #expect(throws: ResultAccessError.self) { try result.result(of: checked) }
    #expect(error?.description.contains("'check'") == true)
    let gathered = try result.run("gather")
    #expect(gathered.state.kind == .triggerFailed)
    #expect(gathered.state.message?.contains(".after(...)") == true)
    #expect(calls.count == 0)
    // Waiting with `.after` instead of taking the output works.
    #expect(result.kind("report") == .success)
  }

  @Test("skipped children are left out of the reduced output", arguments: bothExecutors)
  func skippedChildrenFilter(executor: FlowExecutor) async throws {
    let evens = task("evens") { (x: Int) throws -> Int in
      if !x.isMultiple(of: 2) { throw SkipTask("odd") }
      return x
    }
    let collect = task("collect", skipOnUpstreamSkip: false) { (values: [Int]) in values }
    let strict = task("strict") { (values: [Int]) in values }
    var collected: Ref<[Int]>!
    var filtered: Ref<[Int]>!
    let flow = Flow("filter") {
      let mapped = evens.map(.constant([1, 2, 3, 4]))
      filtered = mapped
      collected = collect(mapped)
      strict(mapped)
    }
    let result = try await flow.run(executor: executor, environment: testEnvironment())
    #expect(
      result.mappedRuns("evens").map(\.state.kind) == [.skipped, .success, .skipped, .success])
    #expect(try result.result(of: filtered) == [2, 4])
    #expect(try result.result(of: collected) == [2, 4])
    // By default a skipped upstream child skips the reduce.
    #expect(result.kind("strict") == .skipped)
    #expect(result.state.kind == .success)
  }

  @Test("children retry individually", arguments: bothExecutors)
  func childrenRetryIndividually(executor: FlowExecutor) async throws {
    let attemptsByIndex = Mutex<[Int: Int]>([:])
    let fetch = task("fetch", retries: RetryPolicy(maxRetries: 2)) { (x: Int) throws -> Int in
      let index = TaskRunContext.current?.mapIndex ?? -1
      let attempt = attemptsByIndex.withLock { counts in
        counts[index, default: 0] += 1
        return counts[index]!
      }
      // Child i fails its first i attempts.
      if attempt <= index { throw TransientError() }
      return x * 10
    }
    var fetched: Ref<[Int]>!
    let flow = Flow("retry-map") { fetched = fetch.map(.constant([1, 2, 3])) }
    let result = try await flow.run(executor: executor, environment: testEnvironment())
    let children = result.mappedRuns("fetch")
    #expect(children.map(\.attempts) == [1, 2, 3])
    #expect(children.allSatisfy { $0.state.kind == .success })
    #expect(attemptsByIndex.withLock { $0 } == [0: 1, 1: 2, 2: 3])
    #expect(try result.result(of: fetched) == [10, 20, 30])
    #expect(result.state.kind == .success)
  }
}

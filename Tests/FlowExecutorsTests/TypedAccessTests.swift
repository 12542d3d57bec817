import FlowCore
import FlowExecutors
import FlowState
import FlowTesting
import Foundation
import Testing

@Suite("Typed access: references from the builder, literals as constants, parameter numbers")
struct TypedAccessTests {
  @Test("Flow.building hands back the builder's references; taskRun(of:) and mappedRuns(of:)")
  func buildingReturnsReferences() async throws {
    let double = task("double") { (x: Int) in x * 2 }
    let sum = task("sum") { (xs: [Int]) in xs.reduce(0, +) }
    let (flow, refs) = Flow.building("typed") {
      let doubled = double.map([1, 2, 3])
      return (doubled: doubled, total: sum(doubled))
    }
    for executor in bothExecutors {
      let result = try await flow.run(executor: executor, environment: testEnvironment())
      #expect(try result.result(of: refs.total) == 12)
      #expect(try result.result(of: refs.doubled) == [2, 4, 6])
      #expect(try result.taskRun(of: refs.total).state.kind == .success)
      #expect(try result.taskRun(of: refs.doubled).state.kind == .mapped)
      #expect(try result.taskRun(of: refs.doubled, mapIndex: 1).state.value(as: Int.self) == 4)
      #expect(try result.mappedRuns(of: refs.doubled).map(\.mapIndex) == [0, 1, 2])
    }
  }

  @Test("taskRun(of:) refuses a reference of another flow and a constant, saying why")
  func taskRunOfForeignReference() async throws {
    let one = task("one") { () in 1 }
    let (first, _) = Flow.building("first") { one() }
    let (_, foreign) = Flow.building("second") { one() }
    let (withConstant, constant) = Flow.building("constant") { () -> Ref<Int> in
      let value: Ref<Int> = 5
      one().after(value)
      return value
    }
    let result = try await first.run(environment: testEnvironment())
    #expect(throws: ResultAccessError.self) { try result.taskRun(of: foreign) }
    let other = try await withConstant.run(environment: testEnvironment())
    let error = #expect(throws: ResultAccessError.self) { try other.taskRun(of: constant) }
    #expect(error?.description.contains("parameter or a constant") == true)
  }

  @Test("array and dictionary literals are constants, as other literals are")
  func collectionLiteralsAreConstants() async throws {
    let total = task("total") { (xs: [Int]) in xs.reduce(0, +) }
    let lookup = task("lookup") { (table: [String: Int], key: String) in table[key] ?? -1 }
    let square = task("square") { (x: Int) in x * x }
    let (flow, refs) = Flow.building("literals") {
      (total([1, 2, 3]), lookup(["a": 1, "b": 2], "b"), square.map([2, 3]))
    }
    let result = try await flow.run(environment: testEnvironment())
    #expect(try result.result(of: refs.0) == 6)
    #expect(try result.result(of: refs.1) == 2)
    #expect(try result.result(of: refs.2) == [4, 9])
  }

  @Test("a whole number is accepted for a Double parameter; a fraction is not for an Int")
  func integerForDoubleParameter() async throws {
    let scale = task("scale") { (x: Double) in x * 2 }
    let count = task("count") { (n: Int) in n }
    let (flow, refs) = Flow.building("numbers") {
      (scale(Parameter("ratio", default: 0.5)), count(Parameter("n", default: 1)))
    }
    let result = try await flow.run(parameters: ["ratio": 3], environment: testEnvironment())
    #expect(try result.result(of: refs.0) == 6.0)
    let error = await #expect(throws: FlowValidationError.self) {
      try await flow.run(parameters: ["n": 2.5], environment: testEnvironment())
    }
    #expect(error?.code == .parameterType)
    #expect(error?.description.contains("parameter 'n' expects a value of type Int") == true)
  }

  @Test("setReferenceTasks() with no tasks restores the default: the terminal tasks")
  func emptyReferenceTasksRestoreDefault() async throws {
    let ok = task("ok") { () in 1 }
    let fails = task("fails") { (_: Int) throws -> Int in throw Boom() }
    let flow = Flow("reset") {
      let first = ok()
      setReferenceTasks(first)
      _ = fails(first)
      setReferenceTasks()
    }
    #expect(flow.referenceTasks == ["fails"])
    let result = try await flow.run(environment: testEnvironment())
    #expect(result.state.kind == .failed)
  }
}

import FlowCore
import Testing

/// Bugs found by these tests and fixed; each test keeps its bug from coming back. Crashes are
/// observed in a child process with an exit test.
@Suite("Regressions")
struct RegressionTests {
  @Test(
    "Parameter<String>(required:) declares a required parameter; the unlabelled form is a literal")
  func requiredStringParameter() {
    let greet = task("greet") { (region: String) in "hello \(region)" }
    let flow = Flow("strings") {
      let region = Parameter<String>(required: "region")
      greet(region)
    }
    #expect(flow.parameters.map(\.name) == ["region"])
    #expect(flow.parameters.first?.isRequired == true)
    #expect(flow.graphviz().contains(#"n0 [label="region: String", shape=ellipse"#))
    #expect(throws: FlowValidationError.self) { try flow.resolveParameters([:]) }
    // Swift reads `T("literal")` as the literal `"literal" as T` (SE-0213): a constant.
    let literal = Flow("literal") { greet(Parameter<String>("region")) }
    #expect(literal.parameters.isEmpty)
  }

  @Test("a reference from another flow passed to a task is a foreignReference problem")
  func foreignReferenceArgument() async {
    await #expect(processExitsWith: .success) {
      let make = task("make") { () in 1 }
      let inc = task("inc") { (x: Int) in x + 1 }
      var escaped: Ref<Int>?
      _ = Flow("first") { escaped = make() }
      let ref = escaped!
      let second = Flow("second") {
        make()
        inc(ref)
      }
      do throws(FlowValidationError) {
        try second.validate()
        fatalError("expected a foreignReference problem")
      } catch {
        precondition(error.code == .foreignReference, "\(error.code)")
        precondition(error.culprits == ["inc"], "\(error.culprits)")
      }
    }
  }

  @Test(
    "constant backoff returns the configured delay exactly",
    arguments: [9, 30, 45].map { Duration.milliseconds($0) })
  func constantBackoffIsExact(delay: Duration) {
    let policy = RetryPolicy(maxRetries: 3, delay: delay)
    #expect(policy.delay(afterAttempt: 1, random: SystemRandomSource()) == delay)
  }

  @Test("exponential backoff from a zero delay stays zero for late attempts, not a crash")
  func zeroDelayLateAttempt() async {
    await #expect(processExitsWith: .success) {
      let policy = RetryPolicy(maxRetries: 5000, backoff: .exponential())
      let delay = policy.delay(afterAttempt: 1100, random: SystemRandomSource())
      precondition(delay == .zero, "\(delay)")
    }
  }
}

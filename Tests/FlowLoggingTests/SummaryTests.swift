import FlowCore
import FlowExecutors
import FlowTesting
import Foundation
import Testing

@Suite("End-of-run summary")
struct SummaryTests {
  @Test("a mapped run's summary lists every task run with its final state, attempts and duration")
  func mapped() async throws {
    let load = task("load") { () -> [Int] in [1, 2, 3] }
    let work = task("work", retries: .init(maxRetries: 1, delay: .seconds(10))) {
      (seconds: Int) async throws -> Int in
      let context = TaskRunContext.current!
      let clock = context.environment.clock
      try await clock.sleep(until: clock.now().addingTimeInterval(Double(seconds)))
      if seconds == 2, context.attempt == 1 { throw Flaky() }
      return seconds
    }
    let flow = Flow("mapped-summary") { work.map(load()) }
    let clock = TestClock(now: start, autoAdvance: true)
    let result = try await flow.run(environment: .testing(seed: 9, clock: clock))
    // work[1]: 2 s, failed; 10 s retry delay; 2 s again.
    #expect(
      result.summary == """
        task                  state         attempts  duration
        load                  Success              1    0.000s
        work                  Mapped               0         -
        work[0]               Success              1    1.000s
        work[1]               Success              2   14.000s
        work[2]               Success              1    3.000s
        Flow run 'mapped-summary': Success("All reference tasks succeeded.")
        """)
  }

  @Test("long task names widen the first column; failures and skips show their state")
  func widths() async throws {
    let name = "a_task_with_a_rather_long_name"
    let long = task(name) { () throws -> Int in throw Flaky() }
    let skipped = task("skipped") { () throws -> Int in throw SkipTask("no") }
    let flow = Flow("widths") {
      long()
      skipped()
    }
    let result = try await flow.run(environment: .testing(seed: 1, clock: TestClock(now: start)))
    let lines = result.summary.split(separator: "\n").map(String.init)
    #expect(lines.count == 4)
    #expect(
      lines[0] == "task" + String(repeating: " ", count: 28) + "state         attempts  duration")
    #expect(lines[1] == name + "  Failed               1    0.000s")
    #expect(
      lines[2] == "skipped" + String(repeating: " ", count: 25) + "Skipped              1    0.000s"
    )
    #expect(lines[3].hasPrefix("Flow run 'widths': Failed("))
  }
}

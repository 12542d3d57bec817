// Every ```swift block of the DocC articles (Modules/*/Docs.docc), verbatim (formatting aside),
// so that CI compiles them; `CodeBlocksTests` checks that none is missing. A `Package.swift`
// block is checked by `PackageManifestTests` instead.

import FlowCluster
import FlowCore
import FlowExecutors
import FlowTesting
import Foundation
import Synchronization
import Testing

func articleGettingStarted() async throws {
  let extractNumbers = task("extract") { (count: Int) -> [Int] in Array(1...count) }
  let square = task("square", retries: .init(maxRetries: 2, delay: .seconds(1))) { (x: Int) in x * x
  }
  let total = task("total") { (xs: [Int]) in xs.reduce(0, +) }

  let (numbers, sum) = Flow.building("numbers") {
    let count = Parameter("count", default: 10)  // `--param count=20` on the command line
    return total(square.map(extractNumbers(count)))  // one `square` run per element
  }

  let result = try await numbers.run(parameters: ["count": 4], executor: .concurrent(width: 4))
  print(result.state)  // Success("All reference tasks succeeded.")
  print(try result.result(of: sum))  // 30
  print(result.summary)  // every task run: state, attempts, duration
  print(numbers.mermaid(run: result))  // the graph, coloured by the run's states
}

@Test("Getting started prints the sum of squares") func gettingStarted() async throws {
  try await articleGettingStarted()
}

func makeFlows() -> [Flow] {
  let greet = task("greet") { (name: String) in "Hello, \(name)!" }
  return [Flow("hello") { greet(Parameter("name", default: "world")) }]
}
// main.swift:  await FlowCommandLine(name: "my-flows") { _ in makeFlows() }.main()

@Test func greets() async throws {
  let flow = makeFlows()[0]
  let result = try await flow.run(parameters: ["name": "Ada"], environment: .testing(seed: 1))
  #expect(result.state.kind == .success)
  #expect(result.taskRun("greet")?.state.value(as: String.self) == "Hello, Ada!")
}

struct TransientError: Error {}

@Test func retriesAfterTenMinutes() async throws {
  let attempts = Mutex(0)
  let flaky = task("flaky", retries: .init(maxRetries: 1, delay: .seconds(600))) {
    () throws -> Int in
    let attempt = attempts.withLock {
      $0 += 1
      return $0
    }
    if attempt == 1 { throw TransientError() }
    return attempt
  }
  let flow = Flow("flaky") { flaky() }
  let clock = TestClock(now: Date(timeIntervalSince1970: 0))
  async let result = flow.run(environment: .testing(seed: 7, clock: clock))
  await clock.waitForSleepers(1)  // the engine waits out the retry delay
  await clock.advance(by: .seconds(600))  // exactly ten virtual minutes later
  #expect(try await result.state.kind == .success)
}

@Test func sameResultsUnderFaults() async throws {
  let expected = try await myFlow.run()  // .sequential
  try await SimulationSeeds.run(0..<50) { seed in
    let report = await myFlow.runOnSimulatedCluster(seed: seed, options: .init(faults: .all))
    guard report.violations.isEmpty else {
      throw SimulationError(.invariantViolated, report.jsonLine)
    }
    #expect(report.result?.taskStates == expected.taskStates)
  }
}

func runOnClusters(flow: Flow, secret: String) async throws {
  // One machine: two worker processes of this executable on loopback, stopped with the run.
  let local = try await flow.run(executor: .localCluster(workers: 2, threadsPerWorker: 4))
  print(local.state)

  // Several machines: listen, and start once 3 workers (started by hand) have joined.
  let shared = try await flow.run(
    executor: .cluster(address: ClusterAddress("0.0.0.0:8786")!, token: secret, minimumWorkers: 3))
  print(shared.state)
}

// Every ```swift block of README.md, verbatim (formatting aside), so that CI compiles them.
// `CodeBlocksTests` fails when a block of the README is not found here. Each block sits in a
// function of its own; the stand-ins the README leaves to the reader (`Row`, `readRows`,
// `Model`, `extract`, `berlin`, `myFlow`) are defined in `DocumentationSupport.swift`.

import FlowCluster
import FlowCore
import FlowExecutors
import FlowResults
import FlowScheduling
import FlowStoreSQLite
import FlowTesting
import Foundation
import Logging
import ServiceLifecycle

func readmeAPIInAFewLines() async throws {
  let load = task(
    "load", retries: .init(maxRetries: 3, delay: .seconds(10), backoff: .exponential())
  ) {
    (path: String) async throws -> [Row] in try await readRows(path)  // Row, readRows: your own
  }
  let score = task("score") { (row: Row, model: String) -> Double in row.value * 2 }
  let report = task("report", trigger: .allFinished) { (scores: [Double]) in scores.reduce(0, +) }

  let (flow, total) = Flow.building("scoring") {  // the flow, and what the closure returns
    let path = Parameter("path", default: "data.csv")  // a typed parameter
    let rows = load(path)  // a typed reference: nothing runs yet
    return report(score.map(rows, unmapped("linear")))  // one run per row; a literal is a constant
  }

  let result = try await flow.run(
    parameters: ["path": "other.csv"], executor: .concurrent(width: 8))
  print(result.state)  // Success("All reference tasks succeeded.")
  let sum = try result.result(of: total)  // typed access to any task's output: a Double
  let run = try result.taskRun(of: total)  // its task run: state, attempts, duration
  print(flow.graphviz(run: result))  // Graphviz DOT (or .mermaid), coloured by state
  _ = (sum, run)
}

func readmeResults() async throws {
  let store = LocalResultStore(path: "data/processed")
  let train = task("train") { (rows: [Row], depth: Int) -> Model in Model(rows: rows, depth: depth)
  }
  .inputs("rows", "depth")
  .checkpoint(to: store, target: "{date:%Y-%m-%d}/{task_name}-{depth}.json")
  let score = task("score") { (model: Model) -> Double in model.score() }
    .cached(for: .seconds(3600), validator: .allInputs, in: store)
  let flow = Flow("training") { score(train(Parameter("rows", default: [Row]()), 4)) }

  let failed = try await flow.run()
  let resumed = try await flow.run(resuming: failed.flowRunID)  // reuses every checkpoint
  let model = try store.read(Model.self, at: "2026-11-21/train-4.json")  // from another flow
  _ = (resumed, model)
}

func readmeBranchingAndOutcomes() async throws -> String {
  let trainTree = task("train_tree") { (rows: [Row]) -> Model in Model(rows: rows, depth: 4) }
  let trainLinear = task("train_linear") { (rows: [Row]) -> Model in Model(rows: rows, depth: 0) }
  let evaluate = task("evaluate") { (model: Model) -> Double in model.score() }
  let notify = task("notify", trigger: .allFinished) { (score: Outcome<Double>) -> String in
    if let value = score.value { return "score \(value)" }
    return "evaluation ended \(score.kind): \(score.message ?? "")"  // e.g. Failed: its error
  }

  let (models, message) = Flow.building("choose-model") {
    let kind = Parameter("model", default: "tree")
    let rows = Parameter("rows", default: [Row]())
    let model = merge(  // the branch that ran
      when(kind, equals: "tree") { trainTree(rows) },  // Skipped unless model == "tree"
      when(kind, equals: "linear") { trainLinear(rows) })
    return notify(evaluate(model).outcome)  // runs even when evaluate fails
  }
  let linear = try await models.run(parameters: ["model": "linear"])
  print(try linear.result(of: message))  // "score …"; train_tree ended Skipped
  return try linear.result(of: message)
}

func readmeLoopsAndMaps() async throws -> (fibonacci: Int, iterations: Int) {
  let fibonacci = task("fibonacci") { (limit: Int) throws -> Int in
    let pair = TaskRunContext.current?.loopPayload([Int].self) ?? [0, 1]  // nil in iteration 1
    if pair[1] > limit { return pair[0] }  // this output flows downstream
    throw LoopAgain([pair[1], pair[0] + pair[1]])  // run again with a new payload
  }.looping(max: 100)
  let words = task("words") { (line: String) -> [String] in
    line.split(separator: " ").map(String.init)
  }
  let length = task("length") { (word: String) throws -> Int in
    guard !word.isEmpty else { throw SkipTask("empty word") }
    return word.count
  }
  let summary = task("summary", trigger: .allFinished, skipOnUpstreamSkip: false) {
    (lengths: [Outcome<Int>]) -> String in  // position i is map index i
    lengths.enumerated().map { "\($0): \($1.value.map(String.init) ?? $1.kind.name)" }
      .joined(separator: ", ")
  }

  let (loops, refs) = Flow.building("loops-and-maps") {
    let lengths = length.map(flatten(words.map(["a bc", "def"])))  // over "a", "bc", "def"
    return (fibonacci(1_000), summary(lengths.outcomes()))
  }
  let run = try await loops.run()
  print(try run.result(of: refs.0), try run.taskRun(of: refs.0).loopIterations)  // 987 17
  return (try run.result(of: refs.0), try run.taskRun(of: refs.0).loopIterations)
}

func readmeTestClock(flow: Flow) async throws {
  let clock = TestClock(now: Date(timeIntervalSince1970: 1_700_000_000))
  async let result = flow.run(environment: .testing(seed: 7, clock: clock))
  await clock.waitForSleepers(1)  // the engine waits for the retry
  await clock.advance(by: .seconds(600))  // exactly ten virtual minutes later
  print(try await result.state)
}

func readmeLogging(flow: Flow) async throws {
  let result = try await flow.run()
  for record in result.logs { print(record.time, record.level, record.message, record.metadata) }
  print(result.droppedLogCount)  // records dropped past 100,000 (oldest first)
  print(result.summary)  // task, final state, attempts, duration; then the flow's state
}

func readmeSchedules() async throws {
  let flow = Flow("etl", schedule: try .cron("*/15 * * * *", timeZone: berlin)) { extract() }
  let service = FlowScheduleService(
    flow: flow,
    options: ScheduleRunnerOptions(
      overlap: .bufferOne, catchUpWindow: .seconds(300),
      pauseAfterFailures: 3)
  ) { request, result in print(request.scheduledDate, result.state) }
  // SIGTERM or SIGINT: the current run finishes, then the service and the group return.
  try await ServiceGroup(
    configuration: .init(
      services: [.init(service: service, successTerminationBehavior: .gracefullyShutdownGroup)],
      gracefulShutdownSignals: [.sigterm, .sigint], logger: Logger(label: "etl"))
  ).run()
  print(service.summary!)
}

func readmeCluster(flow: Flow, secret: String) async throws {
  // One machine: N worker processes of this executable on loopback, stopped when the run ends.
  // The executable must handle `worker --connect HOST:PORT --token T` (FlowCLI does; in your own
  // main, call `ClusterWorker.run(connect:token:threads:resources:flows:)`).
  let local = try await flow.run(executor: .localCluster(workers: 2, threadsPerWorker: 4))

  // Several machines: the scheduler listens; workers started by hand connect with the token.
  let shared = try await flow.run(
    executor: .cluster(
      address: ClusterAddress("0.0.0.0:8786")!, token: secret, minimumWorkers: 5,
      tls: ClusterTLS(certificatePath: "cert.pem", privateKeyPath: "key.pem")))
  // on each worker machine:  my-flows worker --connect sched.example:8786 --token $SECRET --threads 4
  _ = (local, shared)
}

// The README shows this as a Swift Testing test; here it is only compiled (500 seeds of 50 tasks).
func survivesFaults() async throws {
  try await SimulationSeeds.run(0..<500) { seed in  // prints the seed and the rerun line on failure
    let report = await ClusterSimulation.run(
      seed: seed,
      options: .init(workers: 4, flow: myFlow, standIns: .init(failureRate: 0.05), faults: .all))
    guard report.violations.isEmpty else {
      throw SimulationError(.invariantViolated, report.jsonLine)
    }
  }
}

// The README's `sameResultsUnderFaults` is the article's, in ArticleExamples.swift, where it runs.

func readmeRecordAndReplay() async throws {
  let recorder = FlowRunRecorder(flowName: myFlow.name)
  let result = try await myFlow.run(observer: recorder.observer)  // every step, as it happens
  try recorder.history.json().write(to: URL(filePath: "run.json"))

  // Later, or in a test after changing the flow: the same decisions, or the first difference.
  let recorded = try FlowRunHistory.decode(json: Data(contentsOf: URL(filePath: "run.json")))
  do {
    _ = try FlowRunReplayer.replay(recorded, flow: myFlow)
  } catch let error as FlowReplayError {
    print(error)  // the first differing event, with the recorded and the replayed actions
  }
  print(result.state)
}

func readmeRunHistory(flow: Flow) async throws {
  let store = try await SQLiteRunStore.open(path: "/var/lib/flow/flow.sqlite")
  let result = try await flow.run(recorder: RunRecorder(store: store))
  _ = result
}

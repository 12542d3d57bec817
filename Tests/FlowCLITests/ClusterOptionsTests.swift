import FlowCluster
import FlowCore
import FlowExecutors
import FlowTesting
import Foundation
import Testing

@testable import FlowCLI

@Suite("FlowCLI cluster options, worker and simulate", .timeLimit(.minutes(1)))
struct ClusterOptionsTests {
  @Test(
    "bad cluster options are usage errors (64) whose message names what is wrong",
    arguments: [
      (
        ["run", "--executor", "cluster", "--workers", "-1"], "--workers must be at least 1, got -1"
      ),
      (["run", "--executor", "cluster", "--threads", "0"], "--threads must be at least 1, got 0"),
      (
        ["run", "--listen", "example.org"],
        "--listen must be HOST:PORT (e.g. 0.0.0.0:8786 or 127.0.0.1:8786), got 'example.org'"
      ),
      (["run", "--listen", "127.0.0.1:70000"], "--listen must be HOST:PORT"),
      (["run", "--listen", ":8786"], "--listen must be HOST:PORT"),
      (
        ["run", "--executor", "cluster", "--listen", "0.0.0.0:8786"],
        "--listen 0.0.0.0:8786 is reachable from other machines"
      ),
      (["run", "--listen", "10.0.0.5:8786", "--token", ""], "give a shared secret with --token T"),
      (
        ["run", "--executor", "concurrent", "--token", "s3cret"],
        "--token applies to --executor cluster, not --executor concurrent"
      ),
      (
        ["run", "--executor", "sequential", "--listen", "127.0.0.1:8786"],
        "--listen applies to --executor cluster, not --executor sequential"
      ),
      (
        ["run", "--executor", "cluster", "--connect", "10.0.0.5:8786"],
        "--connect 10.0.0.5:8786 is for workers (`worker --connect HOST:PORT`)"
      ),
      (
        ["run", "--listen", "127.0.0.1:8786", "--threads", "2"],
        "--threads with --listen: each worker started by hand sets its own"
      ),
      (
        ["run", "--listen", "127.0.0.1:8786", "--tls-certificate", "cert.pem"],
        "TLS needs both --tls-certificate FILE and --tls-key FILE"
      ),
      (["worker"], "Missing expected argument '--connect <host:port>'"),
      (
        ["worker", "--connect", "scheduler"],
        "--connect must be HOST:PORT (e.g. 10.0.0.5:8786), got 'scheduler'"
      ),
      (
        ["worker", "--connect", "127.0.0.1:8786", "--threads", "0"],
        "--threads must be at least 1, got 0"
      ),
      (
        ["worker", "--connect", "127.0.0.1:8786", "--resources", "GPU"],
        "--resources takes NAME=AMOUNT with a non-negative amount (e.g. GPU=2), got 'GPU'"
      ),
      (
        ["worker", "--connect", "127.0.0.1:8786", "--resources", "GPU=-1"],
        "--resources takes NAME=AMOUNT"
      ),
      (
        ["worker", "--connect", "127.0.0.1:8786", "--log-level", "loud"],
        "--log-level must be one of"
      ),
      (["simulate"], "give exactly one of --seed S and --seeds A..B"),
      (
        ["simulate", "--seed", "1", "--seeds", "0..3"],
        "give exactly one of --seed S and --seeds A..B"
      ),
      (
        ["simulate", "--seeds", "5..2"],
        "--seeds takes A..B or A..<B with A ≤ B (e.g. 0..99), got '5..2'"
      ),
      (["simulate", "--seed", "1", "--workers", "0"], "--workers must be 1-1000, got 0"),
      (["simulate", "--seed", "1", "--faults", "meteor"], "--faults:"),
      (
        ["simulate", "--seed", "1", "--failure-rate", "2"], "--failure-rate must be between 0 and 1"
      ),
      (
        ["simulate", "--seed", "1", "--task-duration", "soon"], "--task-duration takes 100ms or 2s"
      ),
      (["simulate", "nowhere", "--seed", "1"], "demo has no flow named 'nowhere'"),
    ])
  func usageErrors(arguments: [String], message: String) async {
    let recorder = Recorder()
    let captured = Captured()
    let status = await commandLine(recorder).execute(
      arguments, output: captured.output, handlingSignals: false,
      environment: unrecorded)
    #expect(status == 64)
    #expect(captured.err.contains(message), "stderr: \(captured.err)")
    #expect(recorder.all.isEmpty)
  }

  @Test("the cluster options pick a local cluster or a listening scheduler")
  func executorChoice() throws {
    let local = try RunOptions.parse(["--executor", "cluster", "--workers", "3", "--threads", "2"])
    #expect(local.flowExecutor().name == "localCluster(workers: 3, threadsPerWorker: 2)")
    let defaults = try RunOptions.parse(["--executor", "cluster"])
    #expect(defaults.flowExecutor().name == "localCluster(workers: 2, threadsPerWorker: 1)")
    let listening = try RunOptions.parse(["--listen", "0.0.0.0:8786", "--token", "s3cret"])
    #expect(listening.executorChoice == .cluster)
    #expect(listening.flowExecutor().name == "cluster(0.0.0.0:8786)")
    let loopback = try RunOptions.parse(["--listen", "[::1]:8786"])
    #expect(loopback.flowExecutor().name == "cluster([::1]:8786)")
  }

  @Test("a worker that cannot reach its scheduler exits 1 and says where it tried")
  func workerCannotConnect() async throws {
    // A port that was free a moment ago: bind, read it, close.
    let scheduler = try await ClusterScheduler.start(
      .init(listen: ClusterAddress(host: "127.0.0.1", port: 0)))
    let address = scheduler.address
    await scheduler.shutdown()
    let (status, captured, _) = await execute(
      "worker", "--connect", "\(address)", "--connect-retry", "0")
    #expect(status == 1)
    #expect(captured.err.contains("demo worker: cannot connect to the scheduler at \(address)"))
    #expect(captured.err.contains("--connect-retry SECONDS"), "\(captured.err)")
    // Bounded: with a retry window it tries again with backoff, then names the attempts.
    let (again, retried, _) = await execute(
      "worker", "--connect", "\(address)", "--connect-retry", "1")
    #expect(again == 1)
    #expect(
      retried.err.contains("cannot connect to the scheduler at \(address) after "), "\(retried.err)"
    )
    #expect(retried.err.contains("attempts over 1"), "\(retried.err)")
  }

  @Test("`worker` registers the executable's flows and runs their tasks for a scheduler")
  func workerRunsTheExecutablesFlows() async throws {
    let scheduler = try await ClusterScheduler.start(
      .init(listen: ClusterAddress(host: "127.0.0.1", port: 0), token: "s3cret"))
    let workerRecorder = Recorder()
    let captured = Captured()
    try await withThrowingTaskGroup(of: Int32.self) { group in
      group.addTask {
        await commandLine(workerRecorder).execute(
          ["worker", "--connect", "\(scheduler.address)", "--token", "s3cret"],
          output: captured.output, handlingSignals: false,
          environment: unrecorded)
      }
      do {
        try await scheduler.waitForWorkers(1, timeout: .seconds(20))
        let flows = try commandLine(Recorder()).flows(FlowCommandContext(resultsDirectory: nil))
        let result = try await flows[0].run(
          parameters: ["batch-size": 3, "name": "remote"], executor: .cluster(scheduler))
        #expect(result.state.isSuccessful, "\(result.state)")
      } catch {
        await scheduler.shutdown()
        throw error
      }
      await scheduler.shutdown()
      let status = try await group.next()
      #expect(status == 0, "worker stderr: \(captured.err)")
    }
    // The body ran in the worker's copy of the flows, with the values sent over the wire.
    #expect(workerRecorder.all == ["3 0.5 remote [1] 1/[] nil"])
  }

  @Test("simulate runs the executable's flow on the simulated cluster: one JSON line per seed")
  func simulate() async {
    let first = await execute(
      "simulate", "main", "--seeds", "0..2", "--workers", "2", "--faults", "all")
    #expect(first.status == 0, "\(first.captured.err)")
    let lines = first.captured.out.split(separator: "\n")
    #expect(lines.count == 3)
    for (seed, line) in lines.enumerated() {
      #expect(line.hasPrefix("{\"seed\":\(seed),"))
      #expect(line.contains("\"invariants\":\"ok\""))
      #expect(line.contains("\"state\":\"Success\""))
    }
    // Same seed, same trace; no task body ran.
    let again = await execute("simulate", "main", "--seed", "1", "--workers", "2")
    #expect(again.captured.out.split(separator: "\n").first == lines[1])
    #expect(first.recorder.all.isEmpty)
  }

  @Test("simulate --run-bodies runs the flow's real bodies through the engine, one line per seed")
  func simulateRunBodies() async {
    let first = await execute(
      "simulate", "ticking", "--seeds", "0..1", "--workers", "2", "--faults", "all",
      "--run-bodies")
    #expect(first.status == 0, "\(first.captured.err)")
    let lines = first.captured.out.split(separator: "\n")
    #expect(lines.count == 2)
    for (seed, line) in lines.enumerated() {
      #expect(line.hasPrefix("{\"seed\":\(seed),"))
      #expect(line.contains("\"invariants\":\"ok\""))
      #expect(line.contains("\"state\":\"Success\""))
    }
    #expect(first.recorder.all.contains("tick"))  // the body ran, on a simulated worker
    let again = await execute(
      "simulate", "ticking", "--seed", "1", "--workers", "2", "--faults", "all", "--run-bodies")
    #expect(again.captured.out.split(separator: "\n").first == lines[1])
    let refused = await execute(
      "simulate", "ticking", "--seed", "1", "--run-bodies", "--failure-rate", "0.5")
    #expect(refused.status == 64)
    #expect(refused.captured.err.contains("--failure-rate applies to the stand-in bodies"))
  }

  @Test("simulate keeps the flow's graph with stand-in bodies: edges, retries, mapped children")
  func simulationStandIns() async throws {
    let plan = task("plan") { () -> [Int] in [1, 2] }
    let work = task("work", retries: RetryPolicy(maxRetries: 2, delay: .seconds(1))) {
      (value: Int) -> Int in value
    }
    let double = task("double") { (value: Int) -> Int in value * 2 }
    let total = task("total") { (values: [Int]) -> Int in values.reduce(0, +) }
    let flow = Flow("mapped") {
      let items = plan()
      let worked = work.map(items)
      total(double.map(worked))
    }
    let standIn = flow.withStandInBodies(.init(failureRate: 0, mapWidth: 2))
    #expect(standIn.name == "mapped")
    #expect(standIn.tasks.map(\.slug) == flow.tasks.map(\.slug))
    #expect(standIn.tasks.map(\.upstream) == flow.tasks.map(\.upstream))
    #expect(standIn.tasks.map(\.isMapped) == flow.tasks.map(\.isMapped))
    func environment() -> RunEnvironment {
      RunEnvironment(clock: TestClock(autoAdvance: true), random: SeededRandomSource(seed: 1))
    }
    let result = try await standIn.run(environment: environment())
    #expect(result.state.kind == .success)
    let labels = Set(result.taskRuns.map(\.label))
    #expect(
      labels.isSuperset(of: ["plan", "work[0]", "work[1]", "double[0]", "double[1]", "total"]))
    // Every attempt fails: `plan` has no retries, `work` its own two.
    let onlyWork = Flow("work-only") { work.map(plan()) }
    let failing = try await onlyWork.withStandInBodies(.init(failureRate: 1, mapWidth: 2)).run(
      environment: environment())
    #expect(failing.state.kind == .failed)
    #expect(failing.taskRun("plan")?.attempts == 1)
    let succeeding = Flow("work-only") { work.map(.constant([1, 2, 3])) }
    let retried = try await succeeding.withStandInBodies(.init(failureRate: 1)).run(
      environment: environment())
    #expect(retried.mappedRuns("work").map(\.attempts) == [3, 3, 3])
  }
}

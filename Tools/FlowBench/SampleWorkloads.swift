import FlowCore
import FlowExecutors
import FlowSimulationBenchmark
import FlowTesting
import Foundation
import TicketModel

// The ticket sample over every row, and the simulator under every fault.

/// The ticket sample's flow, end to end in-process (reading the bundled zip, extracting and
/// parsing the CSV, the model, four metrics, the summary), with `batch-size` `all`; the
/// baseline is the least any reader of the data must do: read the bundled zip, inflate its CSV
/// member and read every byte of it once (counting lines).
func ticketWorkload(_ sizes: Sizes) async throws -> Figure {
  let flow = TicketModel.flow(schedule: nil)
  let time = try await median(sizes.sampleRepetitions) {
    // The flow's last task prints the summary line: keep it off the table (and the JSON).
    let result = try await withStandardOutputDiscarded {
      try await flow.run(
        parameters: ["batch-size": BatchSize.all],
        executor: .concurrent(width: width))
    }
    let rows = result.taskRun("get_trial_summary")?.state.value(as: TrialSummary.self)?.numObs
    precondition(result.state.isSuccessful && rows == ticketRows, "\(result.summary)")
  }
  guard let archive = TicketData.bundledArchive else {
    throw BenchError(message: "the ticket sample's bundled zip is missing; rebuild flow-bench")
  }
  let baseline = try await median(sizes.sampleRepetitions) {
    let csv = try TicketData.unzipIfNeeded(
      [UInt8](try Data(contentsOf: archive)), source: archive.path)
    let lines = csv.withUnsafeBufferPointer { buffer in
      var lines = 0
      for byte in buffer where byte == 0x0A { lines += 1 }
      return lines
    }
    precondition(lines > ticketRows)
  }
  return Figure(value: time * 1e3, baseline: baseline * 1e3)
}

/// Rows of the bundled incident log that have both dates.
let ticketRows = 141_712

/// Runs `body` with file descriptor 1 pointed at /dev/null.
nonisolated func withStandardOutputDiscarded<T>(
  _ body: () async throws -> T
) async rethrows -> T {
  fflush(nil)
  let saved = dup(1)
  let null = open("/dev/null", O_WRONLY)
  dup2(null, 1)
  close(null)
  defer {
    fflush(nil)
    dup2(saved, 1)
    close(saved)
  }
  return try await body()
}

/// Simulated events per wall second: the `flow demo` workload on a simulated 4-worker cluster
/// under every fault (FlowTesting's `SimulationBenchmark.cluster`); the baseline is the
/// simulation kernel alone (nodes passing messages over a simulated LAN, no cluster logic).
func simulationWorkload(_ sizes: Sizes) async throws -> Figure {
  var values: [Double] = []
  var baselines: [Double] = []
  for _ in 0..<sizes.repetitions {
    values.append(await SimulationBenchmark.cluster(seeds: sizes.simulationSeeds).eventsPerSecond)
    baselines.append(SimulationBenchmark.kernel(events: sizes.kernelEvents).eventsPerSecond)
  }
  return Figure(value: middle(values), baseline: middle(baselines))
}

import FlowScheduling
import FlowSimulation
import Foundation

/// Speed measurements of the simulator, for benchmarks (`flow-bench`, `flow simulate
/// --benchmark`). This file reads the real clock, hence its `System` prefix.
public enum SimulationBenchmark {
  /// What a measurement found.
  public struct Measurement: Sendable, CustomStringConvertible {
    /// What was measured.
    public let name: String
    /// Events that fired.
    public let events: Int
    /// Simulated time covered.
    public let simulatedSeconds: Double
    /// Wall-clock time taken.
    public let wallSeconds: Double
    /// Processor time the process used meanwhile (less than the wall time on a busy machine).
    public let cpuSeconds: Double

    /// Events per wall second.
    public var eventsPerSecond: Double { Double(events) / max(wallSeconds, 1e-9) }

    /// One JSON object on one line.
    public var description: String {
      "{\"name\":\"\(name)\",\"events\":\(events),"
        + "\"simulated_seconds\":\(String(format: "%.1f", simulatedSeconds)),"
        + "\"wall_seconds\":\(String(format: "%.3f", wallSeconds)),"
        + "\"cpu_seconds\":\(String(format: "%.3f", cpuSeconds)),"
        + "\"events_per_s\":\(Int(eventsPerSecond)),"
        + "\"events_per_cpu_s\":\(Int(Double(events) / max(cpuSeconds, 1e-9)))}"
    }
  }

  /// The kernel alone: `nodes` nodes exchanging messages over a simulated LAN until `events`
  /// events have fired.
  public static func kernel(events: Int = 2_000_000, nodes: Int = 8, seed: UInt64 = 1)
    -> Measurement
  {
    let sim = Simulator(seed: seed, traceRetention: 0)
    let network = SimulatedNetwork<Int>(simulator: sim, nodeCount: nodes)
    var random = sim.randomStream("bench")
    network.onDeliver = { [unowned network] _, to, hops in
      network.send(hops + 1, from: to, to: (to + 1 + random.int(below: nodes - 1)) % nodes)
    }
    for node in 0..<nodes { network.send(0, from: node, to: (node + 1) % nodes) }
    return measure("sim_kernel", sim) { sim.runSynchronously(maxEvents: events) }
  }

  /// The `flow demo` workload on a simulated cluster under every fault, for `seeds` seeds.
  public static func cluster(seeds: Int = 200, options: ClusterSimulation.Options = .init())
    async -> Measurement
  {
    var events = 0
    var simulated = 0.0
    let start = ContinuousClock.now
    let cpu = processorSeconds()
    for seed in 0..<seeds {
      let report = await ClusterSimulation.run(seed: UInt64(seed), options: options)
      events += report.events
      simulated += report.simulatedSeconds
    }
    return Measurement(
      name: "sim_cluster", events: events, simulatedSeconds: simulated,
      wallSeconds: (ContinuousClock.now - start).timeInterval, cpuSeconds: processorSeconds() - cpu)
  }

  /// One simulated day of a flow scheduled every minute on `workers` workers, with crashes and
  /// pauses; workers heartbeat every `heartbeat` (the cluster's default is 500 ms, and
  /// heartbeats are most of the events of a long simulation).
  public static func scheduledDay(
    workers: Int = 8, heartbeat: Duration = .milliseconds(500), seed: UInt64 = 1
  ) async -> Measurement {
    let options = ScheduledClusterSimulation.Options(
      schedule: .every(.seconds(60)), duration: .seconds(86_400), flow: .simulationDemo(),
      standIns: .init(failureRate: 0.05, mapWidth: 10),
      taskDuration: .uniform(.seconds(1) ... .seconds(20)),
      cluster: .init(
        workers: workers,
        scheduler: .init(heartbeatInterval: heartbeat, heartbeatTTL: heartbeat * 10)),
      meanFaultGap: .seconds(1800),
      faultLength: .uniform(.seconds(1) ... .seconds(300)))
    let start = ContinuousClock.now
    let cpu = processorSeconds()
    let report = await ScheduledClusterSimulation.run(seed: seed, options: options)
    return Measurement(
      name: "sim_scheduled_day_heartbeat_\(Int(heartbeat / .milliseconds(1)))ms",
      events: report.events, simulatedSeconds: report.simulatedSeconds,
      wallSeconds: (ContinuousClock.now - start).timeInterval, cpuSeconds: processorSeconds() - cpu)
  }

  private static func measure(_ name: String, _ sim: Simulator, _ body: () -> Void)
    -> Measurement
  {
    let start = ContinuousClock.now
    let cpu = processorSeconds()
    body()
    let wall = (ContinuousClock.now - start).timeInterval
    return Measurement(
      name: name, events: sim.eventsProcessed, simulatedSeconds: Double(sim.nowNanoseconds) / 1e9,
      wallSeconds: wall, cpuSeconds: processorSeconds() - cpu)
  }

  /// Processor time used by this process so far.
  private static func processorSeconds() -> Double {
    Double(clock()) / Double(CLOCKS_PER_SEC)
  }
}

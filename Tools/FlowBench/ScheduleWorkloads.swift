import FlowCore
import FlowExecutors
import FlowOrchestration
import FlowStorePostgres
import FlowStoreSQLite
import Foundation
import Logging
import PostgresNIO

// Scheduling and takeover with real scheduler and agent services against a real store: a new
// database on the bench's PostgreSQL server when FLOW_BENCH_POSTGRES_URL is set, else a
// temporary SQLite file.

/// A deployment store of the bench's own, and how to hear of due runs (PostgreSQL's NOTIFY).
struct ScratchStore: Sendable {
  let store: any DeploymentStore
  /// Calls its argument for each notification until cancelled (nil: no notifications).
  let listen: (@Sendable (@escaping @Sendable (Date?) -> Void) async throws -> Void)?
}

/// Runs `body` with a new database on the bench's PostgreSQL server (dropped afterwards), or
/// with a temporary SQLite file without one.
func withScratchStore<T: Sendable>(_ body: (ScratchStore) async throws -> T) async throws -> T {
  guard let url = benchPostgresURL else {
    let directory = FileManager.default.temporaryDirectory.appendingPathComponent(
      "flow-bench-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: directory) }
    let store = try await SQLiteRunStore.open(
      path: directory.appendingPathComponent("runs.db").path)
    do {
      let result = try await body(ScratchStore(store: store, listen: nil))
      await store.close()
      return result
    } catch {
      await store.close()
      throw error
    }
  }
  guard let base = URLComponents(string: url) else {
    throw BenchError(message: "FLOW_BENCH_POSTGRES_URL is not a URL: \(url)")
  }
  let name = "flow_bench_\(UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased())"
  let logger = Logger(label: "flow-bench") { _ in SwiftLogNoOpLogHandler() }
  let connection = try await PostgresConnection.connect(
    configuration: .init(
      host: base.host ?? "127.0.0.1", port: base.port ?? 5432, username: base.user ?? "flow",
      password: base.password, database: String(base.path.dropFirst()), tls: .disable),
    id: 1, logger: logger)
  try await connection.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(name)"), logger: logger)
  var components = base
  components.path = "/\(name)"
  let result: Result<T, any Error>
  do {
    result = .success(
      try await PostgresRunStore.withStore(url: components.string!) { store in
        try await body(
          ScratchStore(store: store, listen: { wake in try await store.listenForDueTimes(wake) }))
      })
  } catch {
    result = .failure(error)
  }
  _ = try? await connection.query(
    PostgresQuery(unsafeSQL: "DROP DATABASE \(name) WITH (FORCE)"), logger: logger)
  try? await connection.close()
  return try result.get()
}

/// The value at `fraction` (0.99: the 99th percentile) of `values`, nearest rank.
func percentile(_ values: [Double], _ fraction: Double) -> Double {
  let sorted = values.sorted()
  guard !sorted.isEmpty else { return .nan }
  let rank = Int((fraction * Double(sorted.count)).rounded(.up)) - 1
  return sorted[min(max(rank, 0), sorted.count - 1)]
}

private let quietLogger = Logger(label: "bench") { _ in SwiftLogNoOpLogHandler() }

private func noopFlow(_ name: String) -> Flow {
  Flow(name) {
    let noop = task("noop") { () -> Int in 1 }
    _ = noop()
  }
}

/// `count` agents on `store` until cancelled, woken by its notifications when it has them
/// (PostgreSQL's NOTIFY: as agents on other machines are); returns their wake signals, which
/// an in-process scheduler raises without them (SQLite: one machine, as `serve` does).
@discardableResult
private func runAgents(
  _ scratch: ScratchStore, flows: [Flow], count: Int, options: (Int) -> AgentMachine.Options,
  group: inout ThrowingTaskGroup<Void, any Error>
) -> [AgentWakeSignal] {
  var wakes: [AgentWakeSignal] = []
  for agent in 0..<count {
    let wake = AgentWakeSignal()
    wakes.append(wake)
    let service = AgentService(
      store: scratch.store, flows: flows, options: options(agent),
      settings: .init(logger: quietLogger), wake: wake)
    group.addTask { try await service.run() }
  }
  if let listen = scratch.listen {
    let signals = wakes
    group.addTask { try await listen { due in for signal in signals { signal.raise(dueAt: due) } } }
  }
  return wakes
}

/// Schedule lateness, fire time to Running (the claim's time on the store's clock), p99 in ms:
/// `sizes.scheduledDeployments` deployments every `sizes.scheduleInterval` seconds (their fire
/// times spread evenly over the interval), one scheduler service and four agents (limit 8,
/// the default 5 s poll; NOTIFY on PostgreSQL, woken by the scheduler in the same process on
/// SQLite, as `serve` does). The fire times of a `sizes.scheduleWindow`
/// window after a warm-up are measured. Baseline: p99 of one agent's claim round-trip on the
/// same store (the floor of any lateness).
func scheduleLatenessWorkload(_ sizes: Sizes) async throws -> Figure {
  try await withScratchStore { scratch in
    let store = scratch.store
    let clock = SystemWallClock()
    let flow = noopFlow("bench-scheduled")
    _ = try await store.createProject(ProjectRecord(name: "bench", createdAt: clock.now()))

    // The baseline: claim round-trips of one due run each, on this store.
    let claimFlow = noopFlow("bench-claim")
    let claimDeployment = try await store.registerDeployment(
      DeploymentRegistration(project: "bench", name: "claims", flow: claimFlow.record, id: UUID()),
      now: clock.now())
    for n in 0..<100 {
      _ = try await store.createDeploymentRun(
        DeploymentRunRequest(
          runID: UUID(), deploymentID: claimDeployment.id, scheduledAt: clock.now(),
          idempotencyKey: "\(n)", now: clock.now()))
    }
    let timer = ContinuousClock()
    var claimTimes: [Double] = []
    for _ in 0..<100 {
      let start = timer.now
      let claimed = try await store.claim(
        LeaseClaim(
          agentID: "baseline",
          flows: [FlowKey(name: claimFlow.name, version: claimFlow.record.version)],
          limit: 1, leaseDuration: .seconds(300), now: clock.now()))
      claimTimes.append(seconds(timer.now - start) * 1000)
      guard claimed.count == 1 else { throw BenchError(message: "a baseline claim got no run") }
    }

    // The deployments: fire times spread evenly over the interval (anchors are stored to
    // the whole second: about 17 fire times a second for 1,000 a minute).
    let interval = sizes.scheduleInterval
    let count = sizes.scheduledDeployments
    let anchor = clock.now()
    for n in 0..<count {
      _ = try await store.registerDeployment(
        DeploymentRegistration(
          project: "bench", name: "every-\(n)", flow: flow.record,
          schedule: .interval(
            seconds: interval,
            anchor: anchor.addingTimeInterval(interval * Double(n) / Double(count))),
          id: UUID()),
        now: clock.now())
    }
    let started = clock.now()
    let warmUp = 3.0
    let from = started.addingTimeInterval(warmUp)
    let through = from.addingTimeInterval(sizes.scheduleWindow)
    try await withThrowingTaskGroup(of: Void.self) { group in
      let wakes = runAgents(
        scratch, flows: [flow], count: 4, options: { .init(agentID: "agent-\($0)", limit: 8) },
        group: &group)
      let local = scratch.listen == nil
      let scheduler = DeploymentSchedulerService(
        store: store,
        // Two intervals ahead (the default hour would create 60 runs per deployment first).
        options: .init(horizon: .seconds(2 * interval)), logger: quietLogger,
        created: { run in
          guard local else { return }
          for wake in wakes { wake.raise(dueAt: run.scheduledAt) }
        })
      group.addTask {
        do {
          try await scheduler.run()
        } catch {
          FileHandle.standardError.write(Data("the bench's scheduler failed: \(error)\n".utf8))
          throw error
        }
      }
      try await clock.sleep(until: through.addingTimeInterval(2))
      group.cancelAll()
    }
    let all = try await store.deploymentRuns(DeploymentRunQuery(limit: 1_000_000))
    let runs = all.filter {
      $0.flowName == flow.name && $0.scheduledAt >= from && $0.scheduledAt <= through
    }
    let measured = clock.now()
    var lateness: [Double] = []
    // The latest run: its fire time after the start, and how long before it it was created.
    var latest = (lateness: -Double.infinity, fire: 0.0, ahead: 0.0)
    for run in runs {
      let claimedAt = try await store.leaseHistory(runID: run.id).first?.claimedAt ?? measured
      lateness.append(claimedAt.timeIntervalSince(run.scheduledAt) * 1000)
      if lateness.last! > latest.lateness {
        latest = (
          lateness.last!, run.scheduledAt.timeIntervalSince(started),
          run.scheduledAt.timeIntervalSince(run.createdAt)
        )
      }
    }
    let expected = Double(count) * sizes.scheduleWindow / interval
    guard Double(runs.count) >= expected * 0.9 else {
      throw BenchError(
        message: "only \(runs.count) runs in the window of about \(Int(expected)) fire times "
          + "(\(all.count) runs in all)")
    }
    FileHandle.standardError.write(
      Data(
        ("schedule_lateness_p99_ms: \(runs.count) fire times of \(count) deployments every "
          + "\(format(interval)) s; lateness p50 \(format(percentile(lateness, 0.5))) ms, p99 "
          + "\(format(percentile(lateness, 0.99))) ms, max \(format(latest.lateness)) ms (fire time "
          + "\(format(latest.fire)) s after the start, created \(format(latest.ahead)) s ahead); "
          + "claim round-trip p50 \(format(percentile(claimTimes, 0.5))) ms\n").utf8))
    return Figure(value: percentile(lateness, 0.99), baseline: percentile(claimTimes, 0.99))
  }
}

/// How long after a lost lease runs out its run is held by another agent, at worst, in ms
/// (store times: the takeover claim minus the lost lease's expiry). A holder claims runs
/// and falls silent (as a killed agent does) while three idle agents run (1 s heartbeat,
/// 3 s lease: the defaults' 1:3 scaled down; the default 5 s poll). Baseline: the heartbeat.
func leaseTakeoverWorkload(_ sizes: Sizes) async throws -> Figure {
  try await withScratchStore { scratch in
    let store = scratch.store
    let clock = SystemWallClock()
    let flow = noopFlow("bench-takeover")
    let key = FlowKey(name: flow.name, version: flow.record.version)
    let heartbeat = Duration.seconds(1)
    let lease = Duration.seconds(3)
    _ = try await store.createProject(ProjectRecord(name: "bench", createdAt: clock.now()))
    let deployment = try await store.registerDeployment(
      DeploymentRegistration(project: "bench", name: "takeover", flow: flow.record, id: UUID()),
      now: clock.now())
    var delays: [Double] = []
    for round in 0..<sizes.takeoverRounds {
      var ids: [UUID] = []
      for n in 0..<4 {
        ids.append(
          try await store.createDeploymentRun(
            DeploymentRunRequest(
              runID: UUID(), deploymentID: deployment.id, scheduledAt: clock.now(),
              idempotencyKey: "\(round)-\(n)", now: clock.now())
          ).run.id)
      }
      // The holder that dies: it claims and is never heard of again.
      let held = try await store.claim(
        LeaseClaim(
          agentID: "dead-\(round)", flows: [key], limit: 4, leaseDuration: lease, now: clock.now()))
      guard held.count == 4 else {
        throw BenchError(message: "the dying holder got \(held.count) runs")
      }
      try await withThrowingTaskGroup(of: Void.self) { group in
        runAgents(
          scratch, flows: [flow], count: 3,
          options: {
            .init(
              agentID: "live-\(round)-\($0)", limit: 4, leaseDuration: lease, heartbeat: heartbeat,
              safetyMargin: .milliseconds(300))
          }, group: &group)
        let deadline = clock.now().addingTimeInterval(30)
        for id in ids {
          while try await store.deploymentRun(id: id)?.state != "Success" {
            guard clock.now() < deadline else {
              throw BenchError(message: "run \(id) was not taken over within 30 s")
            }
            try await clock.sleep(for: .milliseconds(10))
          }
        }
        group.cancelAll()
      }
      for id in ids {
        let history = try await store.leaseHistory(runID: id)
        guard history.count >= 2 else {
          throw BenchError(message: "run \(id) ended without a takeover")
        }
        delays.append(history[1].claimedAt.timeIntervalSince(history[0].expiresAt) * 1000)
      }
    }
    let heartbeatMS = seconds(heartbeat) * 1000
    FileHandle.standardError.write(
      Data(
        ("lease_takeover_ms: \(delays.count) runs taken over; after the lost lease ran out: p50 "
          + "\(format(percentile(delays, 0.5))) ms, max \(format(delays.max() ?? .nan)) ms; after "
          + "the holder fell silent (lease \(format(seconds(lease))) s + that): max "
          + "\(format(seconds(lease) * 1000 + (delays.max() ?? .nan))) ms\n").utf8))
    return Figure(value: delays.max() ?? .nan, baseline: heartbeatMS)
  }
}

/// The scheduling rows (SQLite without FLOW_BENCH_POSTGRES_URL, PostgreSQL with it).
let scheduleWorkloads: [Workload] = [
  Workload(
    key: "schedule_lateness_p99_ms", unit: "ms", target: .atMost(100),
    baseline: "p99 of one claim round-trip on the same store",
    measure: scheduleLatenessWorkload),
  Workload(
    key: "lease_takeover_ms", unit: "ms", target: .timesBaseline(atMost: 2),
    baseline: "the agents' heartbeat interval (1 s)", measure: leaseTakeoverWorkload),
]

import FlowCore
import Foundation
import Testing

/// The deployment store's behaviour, the same on every adapter: projects, versioned
/// deployments, idempotent runs, leases with fencing epochs, cancellation.
@Suite("Deployment store conformance", .timeLimit(.minutes(2)))
struct DeploymentStoreConformanceTests {
  static let schema =
    #"{"properties":{"size":{"default":3,"type":"integer","x-swift-type":"Int"},"#
    + #""name":{"type":"string","x-swift-type":"String"}},"required":["name"],"type":"object"}"#

  static func flow(_ version: String = "v1", name: String = "etl") -> FlowRecord {
    FlowRecord(
      name: name, version: version, graphJSON: "{\"v\":\"\(version)\"}",
      parameterSchemaJSON: schema)
  }

  static func registration(
    _ version: String = "v1", name: String = "nightly", labels: [String] = [],
    crashRetries: Int = 1, id: UUID = uuid(100)
  ) -> DeploymentRegistration {
    DeploymentRegistration(
      project: "data", name: name, flow: flow(version),
      schedule: .interval(seconds: 60), defaultParameters: ["name": "\"ann\""], labels: labels,
      crashRetries: crashRetries, id: id)
  }

  /// A store with project `data` and deployment `nightly` (flow etl@v1).
  func withDeployment(
    _ kind: StoreKind, labels: [String] = [], crashRetries: Int = 1,
    _ body: (any DeploymentStore, DeploymentRecord) async throws -> Void
  ) async throws {
    try await kind.withStore { store in
      let store = try #require(store as? any DeploymentStore)
      _ = try await store.createProject(ProjectRecord(name: "data", createdAt: instant(0)))
      let deployment = try await store.registerDeployment(
        Self.registration(labels: labels, crashRetries: crashRetries), now: instant(0))
      try await body(store, deployment)
    }
  }

  func run(
    _ store: any DeploymentStore, _ deployment: DeploymentRecord, _ n: Int, at seconds: Double,
    key: String? = nil, parameters: [String: String] = [:]
  ) async throws -> DeploymentRunCreation {
    try await store.createDeploymentRun(
      DeploymentRunRequest(
        runID: uuid(n), deploymentID: deployment.id, scheduledAt: instant(seconds),
        parameters: parameters, idempotencyKey: key ?? "k\(n)", now: instant(0)))
  }

  func claim(
    _ store: any DeploymentStore, agent: String = "a1", at seconds: Double, limit: Int = 10,
    labels: [String] = [], version: String = "v1"
  ) async throws -> [RunLease] {
    try await store.claimRuns(
      LeaseClaim(
        agentID: agent, labels: labels, flows: [FlowKey(name: "etl", version: version)],
        limit: limit, leaseDuration: .seconds(30), now: instant(seconds)))
  }

  @Test("projects are created once and listed by name", arguments: StoreKind.available)
  func projects(kind: StoreKind) async throws {
    try await kind.withStore { store in
      let store = try #require(store as? any DeploymentStore)
      let first = try await store.createProject(
        ProjectRecord(name: "ml", description: "models", createdAt: instant(0)))
      let again = try await store.createProject(
        ProjectRecord(name: "ml", description: "other", createdAt: instant(5)))
      #expect(again.description == "models" && same(again.createdAt, first.createdAt))
      _ = try await store.createProject(ProjectRecord(name: "etl", createdAt: instant(1)))
      #expect(try await store.projects().map(\.name) == ["etl", "ml"])
    }
  }

  @Test(
    "registering a changed graph makes a new version and keeps the old ones",
    arguments: StoreKind.available)
  func versions(kind: StoreKind) async throws {
    try await kind.withStore { store in
      let store = try #require(store as? any DeploymentStore)
      await #expect {
        _ = try await store.registerDeployment(Self.registration(), now: instant(0))
      } throws: {
        ($0 as? RunStoreError)?.code == .unknownProject
          && "\($0)".contains("flow projects create data")
      }
      _ = try await store.createProject(ProjectRecord(name: "data", createdAt: instant(0)))
      let first = try await store.registerDeployment(Self.registration(), now: instant(1))
      #expect(
        first.version == 1 && first.flowVersion == "v1" && first.qualifiedName == "data/nightly")
      #expect(
        first.schedule == .interval(seconds: 60) && first.defaultParameters == ["name": "\"ann\""])
      var same = Self.registration(labels: ["gpu"], id: uuid(999))
      same.schedule = .cron("*/5 * * * *")
      let unchanged = try await store.registerDeployment(same, now: instant(2))
      #expect(unchanged.id == first.id && unchanged.version == 1)
      #expect(unchanged.labels == ["gpu"] && unchanged.schedule == .cron("*/5 * * * *"))
      let second = try await store.registerDeployment(Self.registration("v2"), now: instant(3))
      #expect(second.id == first.id && second.version == 2 && second.flowVersion == "v2")
      let versions = try await store.deploymentVersions(deploymentID: first.id)
      #expect(versions.map(\.version) == [1, 2] && versions.map(\.flowVersion) == ["v1", "v2"])
      #expect(try await store.flow(name: "etl", version: "v1") != nil)
      #expect(try await store.flow(name: "etl", version: "v2") != nil)
      let other = try await store.registerDeployment(
        Self.registration(name: "adhoc", id: uuid(101)), now: instant(4))
      #expect(try await store.deployments(project: "data").map(\.name) == ["adhoc", "nightly"])
      #expect(try await store.deployments(project: "none").isEmpty)
      #expect(try await store.deployment(project: "data", name: "adhoc") == other)
      #expect(try await store.deployment(id: first.id)?.version == 2)
      #expect(try await store.deployment(project: "data", name: "missing") == nil)
    }
  }

  @Test(
    "a run per idempotency key, with defaults, checked against the schema",
    arguments: StoreKind.available)
  func idempotentRuns(kind: StoreKind) async throws {
    try await withDeployment(kind) { store, deployment in
      let created = try await run(store, deployment, 1, at: 10, parameters: ["size": "7"])
      #expect(created.created && created.run.state == "Scheduled")
      #expect(created.run.parameters == ["name": "\"ann\"", "size": "7"])
      #expect(created.run.flowVersion == "v1" && created.run.deploymentVersion == 1)
      let again = try await run(store, deployment, 2, at: 10, key: "k1")
      #expect(!again.created && again.run.id == uuid(1))
      let flowRun = try #require(try await store.flowRun(id: uuid(1)))
      #expect(flowRun.state == "Scheduled" && flowRun.parameters["size"] == "7")
      // The scheduler's key: one run per fire time.
      for n in [3, 4] {
        _ = try await store.createDeploymentRun(
          .scheduled(
            runID: uuid(n), deploymentID: deployment.id, fireTime: instant(60), now: instant(0)))
      }
      let scheduled = try await store.deploymentRuns(
        DeploymentRunQuery(deploymentID: deployment.id))
      #expect(scheduled.map(\.id) == [uuid(3), uuid(1)])
      #expect(
        same(try await store.latestScheduledFireTime(deploymentID: deployment.id), instant(60)))
      await #expect {
        _ = try await run(
          store, deployment, 5, at: 10, parameters: ["size": "\"ten\"", "color": "1"])
      } throws: {
        let text = "\($0)"
        return ($0 as? RunStoreError)?.code == .invalidParameters
          && text.contains("parameter 'size' expects Int, got \"ten\"")
          && text.contains("'color'")
      }
      #expect(try await store.deploymentRun(id: uuid(5)) == nil)
      await #expect {
        _ = try await store.createDeploymentRun(
          DeploymentRunRequest(
            runID: uuid(6), deploymentID: uuid(404), scheduledAt: instant(0),
            idempotencyKey: "x", now: instant(0)))
      } throws: { ($0 as? RunStoreError)?.code == .unknownDeployment }
    }
  }

  @Test(
    "claims take due runs of known flows and labels, with rising epochs",
    arguments: StoreKind.available)
  func claims(kind: StoreKind) async throws {
    try await withDeployment(kind, labels: ["gpu"]) { store, deployment in
      _ = try await run(store, deployment, 1, at: 10)
      _ = try await run(store, deployment, 2, at: 5)
      _ = try await run(store, deployment, 3, at: 100)
      #expect(try await claim(store, at: 20).isEmpty, "the agent lacks the gpu label")
      #expect(try await claim(store, at: 20, labels: ["gpu"], version: "v2").isEmpty)
      let leases = try await claim(store, at: 20, labels: ["gpu", "x"])
      #expect(leases.map(\.runID) == [uuid(2), uuid(1)] && leases.allSatisfy { $0.epoch == 1 })
      #expect(same(leases[0].expiresAt, instant(50)))
      #expect(try await claim(store, agent: "a2", at: 21, labels: ["gpu"]).isEmpty)
      let held = try #require(try await store.deploymentRun(id: uuid(1)))
      #expect(held.state == "Running" && held.leaseAgent == "a1" && held.leaseEpoch == 1)
      #expect(try await store.flowRun(id: uuid(1))?.state == "Running")
      // Renewed, the lease outlives its first expiry.
      let renewal = try await store.renewLeases(
        leases, leaseDuration: .seconds(30), now: instant(40))
      #expect(renewal.renewed.count == 2 && renewal.lost.isEmpty)
      #expect(try await claim(store, agent: "a2", at: 60, labels: ["gpu"]).isEmpty)
      var batch = RunStoreBatch()
      batch.flowRuns = [flowRun(uuid(1), flow: "etl", started: 20)]
      try await store.write(batch, fencedBy: renewal.renewed[1], now: instant(61))
      try await store.releaseLease(
        renewal.renewed[1], outcome: .finished(state: "Success", message: nil), now: instant(62))
      let done = try #require(try await store.deploymentRun(id: uuid(1)))
      #expect(done.state == "Success" && done.isFinished && done.leaseAgent == nil)
      let history = try await store.leaseHistory(runID: uuid(1))
      #expect(history.map(\.epoch) == [1] && history[0].agentID == "a1")
      #expect(same(history[0].expiresAt, instant(70)) && same(history[0].releasedAt, instant(62)))
    }
  }

  @Test(
    "a claim matches each of its flows by name and version together, and labels of any text",
    arguments: StoreKind.available)
  func claimFlowsAndLabels(kind: StoreKind) async throws {
    let labels = ["gpu/a100", "it's \"quoted\"", "zone=ü"]
    try await kind.withStore { store in
      let store = try #require(store as? any DeploymentStore)
      _ = try await store.createProject(ProjectRecord(name: "data", createdAt: instant(0)))
      let deployment = try await store.registerDeployment(
        Self.registration(labels: labels), now: instant(0))
      _ = try await run(store, deployment, 1, at: 5)
      func claim(_ flows: [FlowKey], labels: [String]) async throws -> [RunLease] {
        try await store.claimRuns(
          LeaseClaim(
            agentID: "a1", labels: labels, flows: flows, limit: 10,
            leaseDuration: .seconds(30), now: instant(10)))
      }
      // etl@v1 is due: neither etl@v2 nor other@v1 is it, though each shares a part.
      let crossed = [FlowKey(name: "etl", version: "v2"), FlowKey(name: "other", version: "v1")]
      #expect(try await claim(crossed, labels: labels).isEmpty)
      let both = [FlowKey(name: "other", version: "v1"), FlowKey(name: "etl", version: "v1")]
      #expect(try await claim(both, labels: Array(labels.dropLast())).isEmpty)
      let leases = try await claim(both, labels: labels + ["spare"])
      #expect(leases.map(\.runID) == [uuid(1)])
    }
  }

  @Test(
    "an expired lease is Crashed, taken over with the next epoch, and its writes are fenced",
    arguments: StoreKind.available)
  func fencing(kind: StoreKind) async throws {
    try await withDeployment(kind, crashRetries: 1) { store, deployment in
      _ = try await run(store, deployment, 1, at: 0)
      let first = try #require(try await claim(store, at: 1).first)
      // Past the lease: a renewal is refused and the writes are fenced, before and after a
      // takeover.
      let late = try await store.renewLeases([first], leaseDuration: .seconds(30), now: instant(31))
      #expect(late.lost == [uuid(1)] && late.renewed.isEmpty)
      let second = try #require(try await claim(store, agent: "a2", at: 32).first)
      #expect(second.epoch == 2 && second.agentID == "a2")
      let crashed = try #require(try await store.deploymentRun(id: uuid(1)))
      #expect(crashed.crashes == 1 && crashed.state == "Running" && !crashed.isFinished)
      var batch = RunStoreBatch()
      batch.flowRuns = [flowRun(uuid(1), flow: "etl", started: 1, state: "Success", ended: 33)]
      await #expect {
        try await store.write(batch, fencedBy: first, now: instant(33))
      } throws: {
        ($0 as? RunStoreError)?.code == .staleLease && "\($0)".contains("epoch 2")
      }
      #expect(try await store.flowRun(id: uuid(1))?.state != "Success")
      await #expect {
        try await store.releaseLease(first, outcome: .returned, now: instant(33))
      } throws: { ($0 as? RunStoreError)?.code == .staleLease }
      try await store.write(batch, fencedBy: second, now: instant(33))
      #expect(try await store.flowRun(id: uuid(1))?.state == "Success")
      // The second agent dies too: past the crash-retry limit the run ends Crashed.
      #expect(try await claim(store, agent: "a3", at: 100).isEmpty)
      let final = try #require(try await store.deploymentRun(id: uuid(1)))
      #expect(final.state == "Crashed" && final.isFinished && final.crashes == 2)
      #expect(try await store.flowRun(id: uuid(1))?.state == "Crashed")
      let history = try await store.leaseHistory(runID: uuid(1))
      #expect(history.map(\.epoch) == [1, 2] && history.map(\.agentID) == ["a1", "a2"])
      #expect(history[0].endedAt <= history[1].claimedAt, "two live leases overlapped")
    }
  }

  @Test(
    "one transaction of several runs' writes fences off only the run whose lease is stale",
    arguments: StoreKind.available)
  func batchFencing(kind: StoreKind) async throws {
    try await withDeployment(kind, crashRetries: 3) { store, deployment in
      for n in 1...3 { _ = try await run(store, deployment, n, at: 0) }
      let mine = try await claim(store, at: 1)
      #expect(mine.map(\.epoch) == [1, 1, 1])
      // Run 2's lease runs out and another agent takes it over (epoch 2); runs 1 and 3 are
      // renewed and stay this agent's.
      let kept = try await store.renewLeases(
        [mine[0], mine[2]], leaseDuration: .seconds(60), now: instant(20))
      #expect(kept.renewed.count == 2)
      let taken = try await store.claim(
        LeaseClaim(
          agentID: "a2", flows: [FlowKey(name: "etl", version: "v1")], limit: 10,
          leaseDuration: .seconds(30), now: instant(40)))
      #expect(taken.map(\.lease.runID) == [mine[1].runID] && taken[0].lease.epoch == 2)
      #expect(taken[0].run.state == "Running" && taken[0].run.leaseAgent == "a2")
      #expect(taken[0].run.parameters == ["name": "\"ann\""] && taken[0].run.crashes == 1)
      func records(_ id: UUID, state: String) -> RunStoreBatch {
        var batch = RunStoreBatch()
        batch.flowRuns = [flowRun(id, flow: "etl", started: 1, state: state, ended: 41)]
        batch.transitions = [
          TransitionRecord(
            flowRunID: id, sequence: 1, slug: nil, mapIndex: -1, from: "Running", to: state,
            time: instant(41), message: nil)
        ]
        return batch
      }
      let results = try await store.write(
        [
          FencedWrite(lease: kept.renewed[0], batch: records(mine[0].runID, state: "Success")),
          FencedWrite(lease: mine[1], batch: records(mine[1].runID, state: "Success")),
          FencedWrite(
            lease: kept.renewed[1], batch: records(mine[2].runID, state: "Failed"),
            release: .finished(state: "Failed", message: "boom")),
          FencedWrite(lease: kept.renewed[1], batch: records(mine[2].runID, state: "Success")),
        ], now: instant(41))
      #expect(results.count == 4 && results[0] == nil && results[2] == nil)
      #expect(results[1]?.code == .staleLease && "\(results[1]!)".contains("epoch 2"))
      #expect(
        results[3]?.code == .staleLease, "a write after the run's release in the same list")
      #expect(try await store.flowRun(id: mine[0].runID)?.state == "Success")
      #expect(try await store.transitions(flowRunID: mine[0].runID).count == 1)
      // The fenced run's records are untouched: nothing of the stale write landed.
      #expect(try await store.flowRun(id: mine[1].runID)?.state == "Running")
      #expect(try await store.transitions(flowRunID: mine[1].runID).isEmpty)
      let released = try #require(try await store.deploymentRun(id: mine[2].runID))
      #expect(released.state == "Failed" && released.message == "boom" && released.isFinished)
      #expect(try await store.flowRun(id: mine[2].runID)?.state == "Failed")
      let history = try await store.leaseHistory(runID: mine[2].runID)
      #expect(history.count == 1 && same(history[0].releasedAt, instant(41)))
      #expect(
        try await store.leaseHistory(runID: mine[1].runID).allSatisfy { $0.releasedAt == nil })
      // The run taken over still writes under its new lease.
      #expect(
        try await store.write(
          [FencedWrite(lease: taken[0].lease, release: .returned)], now: instant(42)
        )
        .allSatisfy { $0 == nil })
      #expect(try await store.deploymentRun(id: mine[1].runID)?.state == "Scheduled")
    }
  }

  @Test("an interval schedule keeps its anchor", arguments: StoreKind.available)
  func intervalAnchor(kind: StoreKind) async throws {
    try await kind.withStore { store in
      let store = try #require(store as? any DeploymentStore)
      _ = try await store.createProject(ProjectRecord(name: "data", createdAt: instant(0)))
      var registration = Self.registration()
      registration.schedule = .interval(seconds: 60, anchor: instant(7))
      let deployment = try await store.registerDeployment(registration, now: instant(0))
      // It was read back as nil (dates written as ISO 8601, read as numbers): no runs at all.
      let read = try await store.deployment(id: deployment.id)
      #expect(read?.schedule == .interval(seconds: 60, anchor: instant(7)))
      #expect(try await store.deployments(project: "data").first?.schedule?.anchor == instant(7))
    }
  }

  @Test(
    "the next claimable run: when one falls due, or another agent's lease runs out",
    arguments: StoreKind.available)
  func nextClaimable(kind: StoreKind) async throws {
    try await withDeployment(kind) { store, deployment in
      func next(_ agent: String, claimedAt: Double, now: Double) async throws -> Duration? {
        try await store.nextClaimable(
          after: LeaseClaim(
            agentID: agent, flows: [FlowKey(name: "etl", version: "v1")], limit: 10,
            leaseDuration: .seconds(30), now: instant(claimedAt)),
          now: instant(now))
      }
      #expect(try await next("a1", claimedAt: 0, now: 0) == nil)
      _ = try await run(store, deployment, 1, at: 10)
      _ = try await run(store, deployment, 2, at: 20)
      #expect(try await next("a1", claimedAt: 0, now: 1) == .seconds(9))
      #expect(try await claim(store, agent: "a1", at: 10).map(\.runID) == [uuid(1)])
      // Measured from `now`, the hint's own time; run 2 falls due at 20.
      #expect(try await next("a1", claimedAt: 10, now: 12) == .seconds(8))
      #expect(try await claim(store, agent: "a2", at: 20).map(\.runID) == [uuid(2)])
      // Only the other agent's lease counts (a1's runs out at 40, a2's at 50).
      #expect(try await next("a1", claimedAt: 21, now: 21) == .seconds(29))
      #expect(try await next("a2", claimedAt: 21, now: 21) == .seconds(19))
      // Another flow's runs are not this agent's business.
      #expect(
        try await store.nextClaimable(
          after: LeaseClaim(
            agentID: "a3", flows: [FlowKey(name: "other", version: "v1")], limit: 10,
            leaseDuration: .seconds(30), now: instant(21)),
          now: instant(21)) == nil)
    }
  }

  @Test(
    "pruning a finished deployment run removes its deployment record and lease history too",
    arguments: StoreKind.available)
  func pruneDeploymentRuns(kind: StoreKind) async throws {
    try await withDeployment(kind, labels: ["gpu"]) { store, deployment in
      _ = try await run(store, deployment, 1, at: 0)
      _ = try await run(store, deployment, 2, at: 0)
      let leases = try await claim(store, at: 1, limit: 1, labels: ["gpu"])
      try await store.releaseLease(
        leases[0], outcome: .finished(state: "Success", message: nil), now: instant(10))
      #expect(try await store.prune(endedBefore: instant(100), limit: 10) == 1)
      #expect(try await store.deploymentRun(id: uuid(1)) == nil)
      #expect(try await store.flowRun(id: uuid(1)) == nil)
      #expect(try await store.leaseHistory(runID: uuid(1)).isEmpty)
      // The unfinished run stays, and the pruned run's key may be used again.
      #expect(try await store.deploymentRun(id: uuid(2))?.state == "Scheduled")
      let again = try await run(store, deployment, 3, at: 0, key: "k1")
      #expect(again.created && again.run.id == uuid(3))
    }
  }

  @Test(
    "cancellation ends an unheld run at once and reaches a held one at its renewal",
    arguments: StoreKind.available)
  func cancellation(kind: StoreKind) async throws {
    try await withDeployment(kind) { store, deployment in
      _ = try await run(store, deployment, 1, at: 0)
      _ = try await run(store, deployment, 2, at: 0)
      let cancelled = try await store.requestCancellation(runID: uuid(2), now: instant(1))
      #expect(cancelled.state == "Cancelled" && cancelled.isFinished)
      #expect(try await store.flowRun(id: uuid(2))?.state == "Cancelled")
      let lease = try #require(try await claim(store, at: 2).first)
      #expect(lease.runID == uuid(1))
      let flagged = try await store.requestCancellation(runID: uuid(1), now: instant(3))
      #expect(flagged.state == "Running" && flagged.cancelRequested)
      let renewal = try await store.renewLeases(
        [lease], leaseDuration: .seconds(30), now: instant(4))
      #expect(renewal.cancelRequested == [uuid(1)])
      try await store.releaseLease(
        lease, outcome: .finished(state: "Cancelled", message: "by request"), now: instant(5))
      #expect(try await store.deploymentRun(id: uuid(1))?.state == "Cancelled")
      await #expect {
        _ = try await store.requestCancellation(runID: uuid(404), now: instant(6))
      } throws: { ($0 as? RunStoreError)?.code == .unknownRun }
    }
  }

  @Test(
    "pausing a schedule removes its unstarted runs and refuses new ones; resuming records when",
    arguments: StoreKind.available)
  func pauseAndResume(kind: StoreKind) async throws {
    try await withDeployment(kind) { store, deployment in
      func scheduled(_ n: Int, at seconds: Double) async throws -> DeploymentRunCreation {
        try await store.createDeploymentRun(
          .scheduled(
            runID: uuid(n), deploymentID: deployment.id, fireTime: instant(seconds),
            now: instant(0)))
      }
      for (n, seconds) in [(1, 60.0), (2, 120), (3, 180)] {
        _ = try await scheduled(n, at: seconds)
      }
      _ = try await run(store, deployment, 4, at: 100)
      // Run 1 is started by an agent; runs 2 (Late by then) and 3 have not started.
      #expect(try await claim(store, at: 65, limit: 1).map(\.runID) == [uuid(1)])
      _ = try await store.markLate(scheduledBefore: instant(130), now: instant(190))
      let paused = try await store.setSchedulePaused(
        true, deploymentID: deployment.id, now: instant(190))
      #expect(paused.removedRuns == [uuid(2), uuid(3)])
      #expect(
        paused.deployment.schedulePaused && paused.deployment.scheduleSummary.hasSuffix("(paused)"))
      #expect(try await store.deploymentRun(id: uuid(2)) == nil)
      #expect(try await store.flowRun(id: uuid(3)) == nil)
      // The started run and the run created by hand stay.
      #expect(try await store.deploymentRun(id: uuid(1))?.state == "Running")
      #expect(try await store.deploymentRun(id: uuid(4))?.state == "Late")
      #expect(
        same(try await store.latestScheduledFireTime(deploymentID: deployment.id), instant(60)))
      // The scheduler gets no more runs; people still do.
      await #expect {
        _ = try await scheduled(5, at: 240)
      } throws: { ($0 as? RunStoreError)?.code == .schedulePaused }
      #expect(try await run(store, deployment, 6, at: 240).created)
      // Pausing again changes nothing; the listing and a re-registration keep it paused.
      let again = try await store.setSchedulePaused(
        true, deploymentID: deployment.id, now: instant(200))
      #expect(again.removedRuns.isEmpty && again.deployment.schedulePaused)
      #expect(try await store.deployments(project: "data").map(\.schedulePaused) == [true])
      let reregistered = try await store.registerDeployment(
        Self.registration("v2"), now: instant(210))
      #expect(reregistered.schedulePaused && reregistered.version == 2)
      #expect(try await store.deployment(id: deployment.id)?.schedulePaused == true)
      let resumed = try await store.setSchedulePaused(
        false, deploymentID: deployment.id, now: instant(300))
      #expect(!resumed.deployment.schedulePaused && resumed.removedRuns.isEmpty)
      let read = try #require(try await store.deployment(project: "data", name: "nightly"))
      #expect(!read.schedulePaused && same(read.scheduleResumedAt, instant(300)))
      #expect(try await scheduled(7, at: 360).created)
      await #expect {
        _ = try await store.setSchedulePaused(true, deploymentID: uuid(404), now: instant(400))
      } throws: { ($0 as? RunStoreError)?.code == .unknownDeployment }
      var unscheduled = Self.registration(name: "adhoc", id: uuid(101))
      unscheduled.schedule = nil
      let adhoc = try await store.registerDeployment(unscheduled, now: instant(400))
      await #expect {
        _ = try await store.setSchedulePaused(true, deploymentID: adhoc.id, now: instant(400))
      } throws: { ($0 as? RunStoreError)?.code == .noSchedule }
    }
  }

  @Test(
    "deleting a deployment removes its unstarted runs, cancels its running one, keeps history",
    arguments: StoreKind.available)
  func deletion(kind: StoreKind) async throws {
    try await withDeployment(kind) { store, deployment in
      for n in 1...3 { _ = try await run(store, deployment, n, at: 0) }
      _ = try await store.createDeploymentRun(
        .scheduled(
          runID: uuid(4), deploymentID: deployment.id, fireTime: instant(500), now: instant(0)))
      let finished = try #require(try await claim(store, at: 1, limit: 1).first)
      try await store.releaseLease(
        finished, outcome: .finished(state: "Success", message: nil), now: instant(2))
      let held = try #require(try await claim(store, at: 3, limit: 1).first)
      #expect(finished.runID == uuid(1) && held.runID == uuid(2))
      let deletion = try await store.deleteDeployment(id: deployment.id, now: instant(10))
      #expect(deletion.deployment.qualifiedName == "data/nightly")
      #expect(deletion.removedRuns == [uuid(3), uuid(4)] && deletion.cancelledRuns == [uuid(2)])
      #expect(try await store.deployment(id: deployment.id) == nil)
      #expect(try await store.deployment(project: "data", name: "nightly") == nil)
      #expect(try await store.deployments(project: nil).isEmpty)
      #expect(try await store.deploymentVersions(deploymentID: deployment.id).isEmpty)
      // The finished run keeps its history; the unstarted ones are gone with their records.
      #expect(try await store.deploymentRun(id: uuid(1))?.state == "Success")
      #expect(try await store.flowRun(id: uuid(1)) != nil)
      #expect(try await store.deploymentRun(id: uuid(3)) == nil)
      #expect(try await store.flowRun(id: uuid(4)) == nil)
      // The held run is cancelled by its agent at its next renewal.
      let running = try #require(try await store.deploymentRun(id: uuid(2)))
      #expect(running.state == "Running" && running.cancelRequested)
      let renewal = try await store.renewLeases(
        [held], leaseDuration: .seconds(30), now: instant(11))
      #expect(renewal.cancelRequested == [uuid(2)])
      // The name can be deployed again: a new deployment, from version 1.
      let again = try await store.registerDeployment(
        Self.registration("v2", id: uuid(102)), now: instant(20))
      #expect(again.id == uuid(102) && again.version == 1 && !again.schedulePaused)
      await #expect {
        _ = try await store.deleteDeployment(id: deployment.id, now: instant(30))
      } throws: { ($0 as? RunStoreError)?.code == .unknownDeployment }
    }
  }

  @Test(
    "overdue runs are Late and still claimable; a returned run is claimed again",
    arguments: StoreKind.available)
  func lateAndReturned(kind: StoreKind) async throws {
    try await withDeployment(kind) { store, deployment in
      _ = try await run(store, deployment, 1, at: 0)
      _ = try await run(store, deployment, 2, at: 50)
      #expect(try await store.markLate(scheduledBefore: instant(10), now: instant(70)) == [uuid(1)])
      #expect(try await store.deploymentRun(id: uuid(1))?.state == "Late")
      #expect(try await store.flowRun(id: uuid(1))?.state == "Late")
      let leases = try await claim(store, at: 70)
      #expect(leases.map(\.runID) == [uuid(1), uuid(2)])
      try await store.releaseLease(leases[0], outcome: .returned, now: instant(71))
      let again = try await claim(store, agent: "a2", at: 72)
      #expect(again.map(\.runID) == [uuid(1)] && again[0].epoch == 2)
      #expect(try await store.deploymentRun(id: uuid(1))?.crashes == 0)
    }
  }

  @Test(
    "a claim takes the oldest due runs whether Crashed, Late or Scheduled, up to its limit",
    arguments: StoreKind.available)
  func oldestAcrossStates(kind: StoreKind) async throws {
    try await withDeployment(kind, crashRetries: 2) { store, deployment in
      for (n, at) in [(1, 1.0), (2, 5), (3, 10), (4, 20), (5, 3)] {
        _ = try await run(store, deployment, n, at: at)
      }
      // Run 1 is held by an agent that dies (its lease runs out at 32), run 5 stays held,
      // run 2 is Late.
      #expect(try await claim(store, at: 4, limit: 2).map(\.runID) == [uuid(1), uuid(5)])
      _ = try await store.renewLeases(
        [RunLease(runID: uuid(5), agentID: "a1", epoch: 1, expiresAt: instant(34))],
        leaseDuration: .seconds(100), now: instant(4))
      #expect(try await store.markLate(scheduledBefore: instant(6), now: instant(6)) == [uuid(2)])
      // One claim of 3 at 40: run 1 (taken over as Crashed), run 2 (Late), run 3; run 4 waits.
      let taken = try await claim(store, agent: "a2", at: 40, limit: 3)
      #expect(taken.map(\.runID) == [uuid(1), uuid(2), uuid(3)])
      #expect(taken.map(\.epoch) == [2, 1, 1])
      #expect(try await store.deploymentRun(id: uuid(1))?.crashes == 1)
      #expect(try await store.deploymentRun(id: uuid(4))?.state == "Scheduled")
      #expect(try await store.deploymentRun(id: uuid(5))?.leaseAgent == "a1")
      #expect(try await claim(store, agent: "a3", at: 41, limit: 5).map(\.runID) == [uuid(4)])
    }
  }

  @Test(
    "concurrent agents never claim one run twice; concurrent schedulers make one run per fire time",
    arguments: StoreKind.available)
  func concurrency(kind: StoreKind) async throws {
    try await withDeployment(kind) { store, deployment in
      try await withThrowingTaskGroup(of: Void.self) { group in
        for scheduler in 0..<4 {
          group.addTask {
            for fire in 0..<20 {
              _ = try await store.createDeploymentRun(
                .scheduled(
                  runID: uuid(1000 * (scheduler + 1) + fire), deploymentID: deployment.id,
                  fireTime: instant(Double(fire)), now: instant(0)))
            }
          }
        }
        try await group.waitForAll()
      }
      let runs = try await store.deploymentRuns(
        DeploymentRunQuery(deploymentID: deployment.id, limit: 1000))
      #expect(runs.count == 20)
      let claimed = try await withThrowingTaskGroup(of: [RunLease].self) { group in
        for agent in 0..<4 {
          group.addTask {
            var mine: [RunLease] = []
            for _ in 0..<5 {
              mine += try await claim(store, agent: "a\(agent)", at: 30, limit: 2)
            }
            return mine
          }
        }
        var all: [RunLease] = []
        for try await leases in group { all += leases }
        return all
      }
      #expect(claimed.count == 20)
      #expect(Set(claimed.map(\.runID)).count == 20, "a run was claimed twice")
      #expect(claimed.allSatisfy { $0.epoch == 1 })
    }
  }
}

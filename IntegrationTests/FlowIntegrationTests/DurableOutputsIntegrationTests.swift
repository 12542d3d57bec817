import FlowCore
import Foundation
import Testing

/// Durable execution across machines: an agent's runs persist their task outputs in the run
/// database, so that an agent that shares nothing with it but the database (another working
/// directory, results directory and home) takes its runs over without running those tasks
/// again.
extension SampleSuites {
  @Suite("Durable outputs in the run database", .timeLimit(.minutes(4)))
  struct DurableOutputsIntegrationTests {
    /// A "machine": its own working directory, results directory and home.
    struct Machine {
      let directory: URL
      var results: URL { directory.appendingPathComponent("results") }

      init(_ scene: AgentScene, _ name: String) throws {
        directory = scene.directory.appendingPathComponent(name)
        try FileManager.default.createDirectory(at: results, withIntermediateDirectories: true)
      }

      /// The lines the task bodies on this machine wrote.
      func sideEffects() -> [String] {
        let text =
          (try? String(
            contentsOf: results.appendingPathComponent("ran"), encoding: .utf8)) ?? ""
        return text.split(separator: "\n").map(String.init)
      }

      /// Every file under the machine's directory, relative to it.
      func files() -> [String] {
        let base = directory.standardizedFileURL.path
        let all = FileManager.default.enumerator(atPath: base)?.allObjects as? [String] ?? []
        return all.sorted()
      }

      /// Starts an agent named `name` here.
      func startAgent(_ name: String, scene: AgentScene) throws -> Process {
        let process = Process()
        process.executableURL = try SampleProcess(name: "AgentProbe").binary()
        process.arguments = [
          "agent", "--agent-name", name, "--agent-labels", scene.label, "--limit", "8",
          "--lease", "3", "--poll", "0.2", "--log-level", "critical", "--database",
          scene.location, "--results-dir", results.path,
        ]
        process.currentDirectoryURL = directory
        var environment = ProcessInfo.processInfo.environment
        environment["HOME"] = directory.path
        process.environment = environment
        let log = directory.appendingPathComponent("\(name).log")
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let handle = try FileHandle(forWritingTo: log)
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        scene.adopt(process)
        return process
      }
    }

    @Test(
      "an agent elsewhere takes over a killed agent's runs: persisted tasks do not run again",
      arguments: AgentIntegrationTests.databases)
    func takeoverOnAnotherMachine(database: String) async throws {
      let scene = try AgentScene(database: database)
      defer { scene.stop() }
      let deployed = try await scene.probe(
        [
          "deploy", "agent-probe-durable", "--name", "durable-\(scene.label)", "--labels",
          scene.label, "--crash-retries", "3",
        ])
      #expect(deployed.status == 0, "\(deployed.stderr)")
      let count = 4
      let ids = try await scene.withStore { store in
        let deployment = try #require(
          try await store.deployment(project: "default", name: "durable-\(scene.label)"))
        var ids: [UUID] = []
        for n in 0..<count {
          let run = try await store.createDeploymentRun(
            DeploymentRunRequest(
              runID: UUID(), deploymentID: deployment.id, scheduledAt: Date(),
              parameters: ["n": "\(n)", "delay-ms": "4000"], idempotencyKey: "durable-\(n)",
              now: Date()))
          ids.append(run.run.id)
        }
        return ids
      }
      let first = try Machine(scene, "machine-1")
      let second = try Machine(scene, "machine-2")
      let agent = try first.startAgent("m1", scene: scene)
      // Every run is in `slow` (a 4 s body) on the first machine, `first`'s output committed
      // with the records that say it succeeded.
      try await scene.waitFor("the first agent to start every run", timeout: 60) {
        Set(first.sideEffects().filter { $0.hasSuffix(" slow") }).count == count
      }
      try await scene.waitUntilInSlow(agent: "m1", among: ids, delay: 4)
      kill(agent.processIdentifier, SIGKILL)
      agent.waitUntilExit()
      _ = try second.startAgent("m2", scene: scene)
      let (runs, histories) = try await scene.finishedRuns(ids, timeout: 120)
      #expect(runs.allSatisfy { $0.state == "Success" }, "\(runs.map(\.state))")
      for run in runs {
        #expect(
          (histories[run.id] ?? []).map(\.agentID) == ["m1", "m2"],
          "run \(run.id) was taken over by the second machine's agent")
      }
      let ranFirst = first.sideEffects()
      let ranSecond = second.sideEffects()
      for n in 0..<count {
        #expect(ranFirst.filter { $0 == "\(n) first" }.count == 1)
        #expect(
          !ranSecond.contains("\(n) first"),
          "run \(n): `first` ran again on the second machine: \(ranSecond)")
        #expect(ranSecond.contains("\(n) slow") && ranSecond.contains("\(n) last"))
      }
      // Nothing of the outputs is in either machine's files: they are in the database.
      for machine in [first, second] {
        let files = machine.files()
        #expect(!files.contains { $0.contains("durable") }, "\(files)")
      }
      let stored = try await scene.withStore { store in
        var stored: [[String]] = []
        for id in ids { stored.append(try await store.results(flowRunID: id).map(\.location)) }
        return stored
      }
      for (id, locations) in zip(ids, stored) {
        let run = id.uuidString.lowercased()
        #expect(
          locations
            == ["first", "last", "slow"].map { "agent-probe-durable/\(run)/\($0)" })
      }
      print(
        "Durable outputs on \(database): \(count) runs taken over by another machine's agent; "
          + "`first` ran \(ranFirst.filter { $0.hasSuffix(" first") }.count)× in all")
    }
  }
}

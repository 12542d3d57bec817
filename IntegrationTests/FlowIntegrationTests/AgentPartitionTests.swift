import FlowCore
import FlowStorePostgres
import Foundation
import Testing

/// Agents on separate machines: each agent process runs in a network namespace of its own and
/// reaches a PostgreSQL server over a virtual link (a veth pair on a private /30). One link is
/// cut for longer than the lease and restored: that agent's leases are taken over, its late
/// writes are fenced, and every run ends Success exactly once.
extension SampleSuites {
  @Suite("Agents on several machines: a network partition", .timeLimit(.minutes(3)))
  struct AgentPartitionTests {
    @Test(
      "an agent cut off from PostgreSQL for longer than its lease: its runs finish elsewhere",
      .enabled(if: PartitionNetwork.available))
    func partition() async throws {
      let network = try PartitionNetwork(namespaces: 3)
      defer { network.tearDown() }
      let scene = try AgentScene(database: network.url(from: nil))
      defer { scene.stop() }
      let deployed = try await scene.probe(
        [
          "deploy", "agent-probe", "--name", "probe-\(scene.label)", "--labels", scene.label,
          "--crash-retries", "3",
        ])
      #expect(deployed.status == 0, "\(deployed.stderr)")
      let runCount = 6
      let ids = try await scene.withStore { store in
        let deployment = try #require(
          try await store.deployment(project: "default", name: "probe-\(scene.label)"))
        var ids: [UUID] = []
        for n in 0..<runCount {
          let run = try await store.createDeploymentRun(
            DeploymentRunRequest(
              runID: UUID(), deploymentID: deployment.id, scheduledAt: Date(),
              parameters: ["n": "\(n)", "delay-ms": "6000"], idempotencyKey: "part-\(n)",
              now: Date()))
          ids.append(run.run.id)
        }
        return ids
      }
      // The agent to be cut off starts first and takes two runs; the others join after.
      _ = try scene.start(
        network.agentCommand(namespace: 0, scene: scene, name: "a0", logLevel: "warning"),
        log: "a0")
      try await scene.waitFor("a0 to be in the slow task of two runs", timeout: 60) {
        let held = try await scene.withStore { store in
          try await store.deploymentRuns(DeploymentRunQuery(states: ["Running"], limit: 100))
            .filter { ids.contains($0.id) && $0.leaseAgent == "a0" }
        }
        return held.count == 2 && scene.sideEffects().filter { $0.hasSuffix(" slow") }.count >= 2
      }
      let cutOff = try await scene.withStore { store in
        try await store.deploymentRuns(DeploymentRunQuery(states: ["Running"], limit: 100))
          .filter { ids.contains($0.id) && $0.leaseAgent == "a0" }.map(\.id)
      }
      try network.setLink(0, up: false)
      for (index, name) in ["a1", "a2"].enumerated() {
        _ = try scene.start(
          network.agentCommand(namespace: index + 1, scene: scene, name: name), log: name)
      }
      // Longer than the 4 s lease: the store lets a0's leases lapse and the others take over.
      try await Task.sleep(for: .seconds(7))
      try network.setLink(0, up: true)
      let (runs, histories) = try await scene.finishedRuns(ids, timeout: 90)
      #expect(runs.allSatisfy { $0.state == "Success" }, "\(runs.map(\.state))")
      for run in runs {
        let history = histories[run.id] ?? []
        #expect(history.map(\.epoch) == Array(1...Int64(history.count)))
        for (held, next) in zip(history, history.dropFirst()) {
          #expect(
            held.endedAt <= next.claimedAt,
            "run \(run.id): epoch \(held.epoch) overlapped epoch \(next.epoch)")
        }
        // Only the last holding gave the run back: a0's lost ones never wrote an end.
        #expect(history.dropLast().allSatisfy { $0.releasedAt == nil }, "\(history)")
        if cutOff.contains(run.id) {
          #expect(history.first?.agentID == "a0", "\(history)")
          #expect(history.count >= 2 && history.last?.agentID != "a0", "\(history)")
        }
      }
      // Each run's last task ran once: a0 gave its runs up before their slow task ended.
      var counts: [String: Int] = [:]
      for line in scene.sideEffects() { counts[line, default: 0] += 1 }
      for n in 0..<runCount {
        #expect(counts["\(n) last"] == 1, "run \(n): last ran \(counts["\(n) last"] ?? 0)×")
      }
      #expect(scene.log("a0").contains("abandoning run"), "\(scene.log("a0").suffix(2000))")
      print(
        "Partition: a0 cut off for 7 s (4 s lease) holding \(cutOff.count) runs; all \(runCount) "
          + "ended Success once, a0's taken over at epochs "
          + "\(cutOff.map { id in runs.first { $0.id == id }?.leaseEpoch ?? 0 })")
    }
  }
}

/// Network namespaces with a veth pair each (host side 10.X.N.1/30, namespace side
/// 10.X.N.2/30) and a PostgreSQL server of their own listening on the host-side addresses.
/// Needs root, `ip netns` and PostgreSQL's binaries; `tearDown` removes all of it.
final class PartitionNetwork: @unchecked Sendable {
  // @unchecked: set up once in init, then only read.
  let prefix: String
  let subnet: Int
  let namespaces: Int
  private(set) var port: Int
  let directory: URL
  private let bin: String
  private var created: [String] = []
  private var serverStarted = false

  /// Why the suite cannot run here, or nil.
  static let missing: String? = {
    guard getuid() == 0 else { return "it needs root (network namespaces)" }
    guard FileManager.default.isExecutableFile(atPath: ip) else { return "it needs iproute2's ip" }
    guard ProcessInfo.processInfo.environment["FLOW_TEST_POSTGRES_URL"] != nil else {
      return "it needs PostgreSQL (FLOW_TEST_POSTGRES_URL)"
    }
    guard postgresBin != nil else { return "it needs PostgreSQL's server binaries" }
    guard (try? shell(ip, ["netns", "list"])) != nil else { return "`ip netns` does not work" }
    return nil
  }()

  /// Whether the suite can run; prints one line when it cannot.
  static let available: Bool = {
    if let missing {
      print(
        "Skipped: the agents' network-partition suite (agents in network namespaces); \(missing): "
          + "run `bash .ci/run` as root")
      return false
    }
    return true
  }()

  static let ip =
    ["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip"].first {
      FileManager.default.isExecutableFile(atPath: $0)
    } ?? "/usr/sbin/ip"

  static let postgresBin: String? = {
    let root = "/usr/lib/postgresql"
    let versions = (try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []
    return versions.compactMap(Int.init).sorted().last.map { "\(root)/\($0)/bin" }
  }()

  /// Runs `tool` to its end; throws with its output when it fails. Spawned and reaped
  /// directly, its output through a file: `Process.waitUntilExit` never returned after
  /// `pg_ctl start` here (the child was left a zombie), and a pipe would stay open in the
  /// server it leaves behind.
  @discardableResult
  static func shell(_ tool: String, _ arguments: [String]) throws -> String {
    let output = FileManager.default.temporaryDirectory.appendingPathComponent(
      "partition-\(UUID().uuidString).out")
    defer { try? FileManager.default.removeItem(at: output) }
    var actions = posix_spawn_file_actions_t()
    posix_spawn_file_actions_init(&actions)
    defer { posix_spawn_file_actions_destroy(&actions) }
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
    posix_spawn_file_actions_addopen(&actions, 1, output.path, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
    posix_spawn_file_actions_adddup2(&actions, 1, 2)
    let argv = ([tool] + arguments).map { strdup($0) } + [nil]
    defer { for pointer in argv { free(pointer) } }
    var pid: pid_t = 0
    let spawned = posix_spawn(&pid, tool, &actions, nil, argv, environ)
    guard spawned == 0 else {
      throw PartitionError(message: "could not start \(tool): error \(spawned)")
    }
    var status: Int32 = 0
    while waitpid(pid, &status, 0) == -1 && errno == EINTR {}
    let text = (try? String(contentsOf: output, encoding: .utf8)) ?? ""
    // Exited normally with status 0 (the wait status's low 7 bits are the signal, if any).
    guard status & 0x7f == 0, (status >> 8) & 0xff == 0 else {
      throw PartitionError(
        message: "\(tool) \(arguments.joined(separator: " ")) failed (wait status \(status)): "
          + text)
    }
    return text
  }

  init(namespaces: Int) throws {
    self.namespaces = namespaces
    prefix = "sf" + UUID().uuidString.prefix(6).lowercased()
    subnet = Int.random(in: 100...250)
    port = Self.serverPort()
    bin = Self.postgresBin ?? ""
    directory = URL(fileURLWithPath: "/tmp/flow-partition-\(prefix)")
    do {
      for n in 0..<namespaces { try addNamespace(n) }
      do {
        try startServer()
      } catch {
        guard serverStarted else { throw error }
        // Its port was taken on one of its addresses (PostgreSQL then starts without it): once
        // more on another port.
        stopServer()
        try? FileManager.default.removeItem(at: directory)
        port = Self.serverPort()
        try startServer()
      }
    } catch {
      tearDown()
      throw error
    }
  }

  /// A port for the server below the kernel's ephemeral range (32768 and up here): a port in
  /// that range can be the local port of any connection the tests make, and PostgreSQL starts
  /// without a listen address whose port is taken.
  private static func serverPort() -> Int { Int.random(in: 20_000...32_000) }

  private func namespace(_ n: Int) -> String { "\(prefix)-n\(n)" }
  private func hostLink(_ n: Int) -> String { "\(prefix)h\(n)" }
  private func hostAddress(_ n: Int) -> String { "10.\(subnet).\(n).1" }

  private func addNamespace(_ n: Int) throws {
    let ns = namespace(n)
    let inside = "\(prefix)i\(n)"
    try Self.shell(Self.ip, ["netns", "add", ns])
    created.append(ns)
    try Self.shell(
      Self.ip, ["link", "add", hostLink(n), "type", "veth", "peer", "name", inside])
    try Self.shell(Self.ip, ["link", "set", inside, "netns", ns])
    try Self.shell(Self.ip, ["addr", "add", "\(hostAddress(n))/30", "dev", hostLink(n)])
    try Self.shell(Self.ip, ["link", "set", hostLink(n), "up"])
    try Self.shell(
      Self.ip, ["-n", ns, "addr", "add", "10.\(subnet).\(n).2/30", "dev", inside])
    try Self.shell(Self.ip, ["-n", ns, "link", "set", inside, "up"])
    try Self.shell(Self.ip, ["-n", ns, "link", "set", "lo", "up"])
  }

  private func startServer() throws {
    try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    try Self.shell("/usr/bin/chown", ["postgres", directory.path])
    let data = directory.appendingPathComponent("data").path
    try Self.shell(
      "/usr/sbin/runuser",
      [
        "-u", "postgres", "--", "\(bin)/initdb", "-D", data, "-U", "flow", "--auth=trust",
        "--no-sync",
      ])
    let hba = URL(fileURLWithPath: data).appendingPathComponent("pg_hba.conf")
    let handle = try FileHandle(forWritingTo: hba)
    handle.seekToEndOfFile()
    handle.write(Data("host all all 10.\(subnet).0.0/16 trust\n".utf8))
    try handle.close()
    let addresses = (["127.0.0.1"] + (0..<namespaces).map(hostAddress)).joined(separator: ",")
    try Self.shell(
      "/usr/sbin/runuser",
      [
        "-u", "postgres", "--", "\(bin)/pg_ctl", "-D", data, "-l", directory.path + "/log", "-o",
        "-c listen_addresses=\(addresses) -p \(port) -k \(directory.path) -c fsync=off", "-w",
        "start",
      ])
    serverStarted = true
    try Self.shell(
      "/usr/sbin/runuser",
      [
        "-u", "postgres", "--", "\(bin)/createdb", "-h", "127.0.0.1", "-p", "\(port)", "-U", "flow",
        "flow",
      ])
  }

  private func stopServer() {
    guard serverStarted else { return }
    _ = try? Self.shell(
      "/usr/sbin/runuser",
      [
        "-u", "postgres", "--", "\(bin)/pg_ctl", "-D", directory.path + "/data", "-m",
        "immediate", "-w", "stop",
      ])
    serverStarted = false
  }

  /// The server's URL as seen from namespace `n` (nil: from this process, on loopback).
  func url(from n: Int?) -> String {
    "postgres://flow@\(n.map(hostAddress) ?? "127.0.0.1"):\(port)/flow"
  }

  /// The probe's agent command run inside namespace `n` (its lease 4 s, polling 0.2 s).
  func agentCommand(
    namespace n: Int, scene: AgentScene, name: String, logLevel: String = "critical"
  ) -> AgentScene.Command {
    AgentScene.Command(
      executable: Self.ip, prefix: ["netns", "exec", namespace(n)],
      arguments: [
        "agent", "--agent-name", name, "--agent-labels", scene.label, "--limit", "2", "--lease",
        "4", "--poll", "0.2", "--log-level", logLevel,
      ], database: url(from: n))
  }

  /// Takes namespace `n`'s link down (packets are dropped: a partition) or up again.
  func setLink(_ n: Int, up: Bool) throws {
    try Self.shell(Self.ip, ["link", "set", hostLink(n), up ? "up" : "down"])
  }

  /// Stops the server and removes the namespaces (their links go with them) and files.
  func tearDown() {
    stopServer()
    for n in 0..<namespaces { _ = try? Self.shell(Self.ip, ["link", "del", hostLink(n)]) }
    for ns in created { _ = try? Self.shell(Self.ip, ["netns", "del", ns]) }
    created = []
    try? FileManager.default.removeItem(at: directory)
  }
}

struct PartitionError: Error, CustomStringConvertible {
  let message: String
  var description: String { message }
}

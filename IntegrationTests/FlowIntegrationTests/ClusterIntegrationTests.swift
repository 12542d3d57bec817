import Foundation
import Synchronization
import Testing

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// A running `flow` process whose output is read as it comes.
final class FlowProcess: Sendable {
  final class Buffer: Sendable {
    private let data = Mutex(Data())
    func append(_ more: Data) { data.withLock { $0.append(more) } }
    var text: String { data.withLock { String(decoding: $0, as: UTF8.self) } }
  }

  let process: Process
  private let out = Buffer()
  private let err = Buffer()

  init(_ arguments: [String]) throws {
    process = Process()
    process.executableURL = try FlowProcess.binary()
    process.arguments = arguments
    let stdout = Pipe()
    let stderr = Pipe()
    process.standardOutput = stdout
    process.standardError = stderr
    // At end of file each handler removes itself: a handler left on a pipe whose descriptor
    // is closed later crashed libdispatch's event loop (signal 11 in
    // _dispatch_event_loop_drain, seen once in a CI rehearsal).
    stdout.fileHandleForReading.readabilityHandler = { [out] handle in
      let data = handle.availableData
      if data.isEmpty { handle.readabilityHandler = nil } else { out.append(data) }
    }
    stderr.fileHandleForReading.readabilityHandler = { [err] handle in
      let data = handle.availableData
      if data.isEmpty { handle.readabilityHandler = nil } else { err.append(data) }
    }
    try process.run()
  }

  static func binary() throws -> URL {
    let candidates = [
      Bundle.main.bundleURL,
      URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent(),
    ]
    let found = candidates.map { $0.appendingPathComponent("flow") }
      .first { FileManager.default.isExecutableFile(atPath: $0.path) }
    return try #require(found, "flow not found next to \(candidates.map(\.path))")
  }

  var stdout: String { out.text }
  var stderr: String { err.text }

  /// Waits (polling, up to `timeout`) for a standard-error line containing `text`; returns it.
  func line(containing text: String, timeout: Duration = .seconds(60)) async throws -> String {
    let clock = ContinuousClock()
    let deadline = clock.now.advanced(by: timeout)
    while clock.now < deadline {
      if let line = stderr.split(separator: "\n").first(where: { $0.contains(text) }) {
        return String(line)
      }
      if !process.isRunning, !stderr.contains(text) {
        Issue.record("exited before printing '\(text)'; stderr: \(stderr)")
        throw CancellationError()
      }
      try await Task.sleep(for: .milliseconds(20))
    }
    Issue.record("no '\(text)' within \(timeout); stderr: \(stderr)")
    throw CancellationError()
  }

  /// Waits for the process to exit (up to `timeout`, then kills it) and returns its status.
  func exit(timeout: Duration = .seconds(90)) async throws -> Int32 {
    let clock = ContinuousClock()
    let deadline = clock.now.advanced(by: timeout)
    while process.isRunning {
      if clock.now > deadline {
        kill(process.processIdentifier, SIGKILL)
        Issue.record("still running after \(timeout); stderr: \(stderr)")
      }
      try await Task.sleep(for: .milliseconds(20))
    }
    // Let the pipes deliver their last bytes.
    try await Task.sleep(for: .milliseconds(50))
    return process.terminationStatus
  }

  /// The JSON line the demo printed.
  func json() throws -> [String: Any] {
    let line = try #require(stdout.split(separator: "\n").last, "no output; stderr: \(stderr)")
    let object = try JSONSerialization.jsonObject(with: Data(line.utf8))
    return try #require(object as? [String: Any])
  }
}

/// Opens a TCP connection to `port` on loopback, sends `bytes`, and half-closes or closes it.
func sendRaw(_ bytes: [UInt8], port: Int, halfClose: Bool) throws {
  let fd = try openRaw(bytes, port: port)
  if halfClose {
    shutdown(fd, Int32(SHUT_WR))
  }
  // Keep a half-closed socket open until the scheduler drops it.
  var buffer = [UInt8](repeating: 0, count: 64)
  _ = recv(fd, &buffer, buffer.count, 0)
  close(fd)
}

/// A loopback TCP port that was free a moment ago (bound to port 0, read, closed).
func freePort() throws -> Int {
  #if canImport(Glibc)
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
  #else
    let fd = socket(AF_INET, SOCK_STREAM, 0)
  #endif
  try #require(fd >= 0)
  defer { close(fd) }
  var address = sockaddr_in()
  address.sin_family = sa_family_t(AF_INET)
  address.sin_port = 0
  address.sin_addr.s_addr = inet_addr("127.0.0.1")
  var length = socklen_t(MemoryLayout<sockaddr_in>.size)
  let bound = withUnsafeMutablePointer(to: &address) {
    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
      bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0
    }
  }
  try #require(bound, "cannot bind a loopback port")
  return Int(UInt16(bigEndian: address.sin_port))
}

func port(of line: String) throws -> Int {
  let address = try #require(line.split(separator: " ").last)
  return try #require(Int(address.split(separator: ":").last ?? ""))
}

@Suite("cluster: scheduler and worker processes on loopback", .serialized, .timeLimit(.minutes(3)))
struct ClusterIntegrationTests {
  @Test(
    "a local cluster of 2 workers gives exactly the sequential results",
    arguments: ["fan", "chain"])
  func sameResultsAsSequential(shape: String) async throws {
    let common = [
      "demo", "--shape", shape, "--tasks", shape == "fan" ? "60" : "100", "--failure-rate",
      "0.2", "--seed", "7",
    ]
    let sequential = try FlowProcess(common + ["--executor", "sequential"])
    let cluster = try FlowProcess(common + ["--executor", "cluster", "--workers", "2"])
    // A fan with failing tasks is a failed flow run: the demo exits 1 after its JSON line.
    let status: Int32 = shape == "fan" ? 1 : 0
    #expect(try await sequential.exit() == status, "\(sequential.stderr)")
    #expect(try await cluster.exit() == status, "\(cluster.stderr)")
    let expected = try sequential.json()
    let actual = try cluster.json()
    for key in ["state", "tasks", "succeeded", "failed", "result_sum"] {
      #expect("\(expected[key]!)" == "\(actual[key]!)", "\(key)")
    }
    if shape == "fan" { #expect((actual["failed"] as? Int ?? 0) > 0) }
    #expect(actual["crashed_attempts"] as? Int == 0)
    #expect(actual["crashed_states"] as? Int == 0)
  }

  @Test(
    "loops run on worker processes: each iteration counted and logged, the limit enforced")
  func loopsOnWorkers() async throws {
    let common = ["demo", "--shape", "loop", "--tasks", "24"]
    let sequential = try FlowProcess(common + ["--executor", "sequential"])
    let cluster = try FlowProcess(common + ["--executor", "cluster", "--workers", "2"])
    // Items 10, 11, 22 and 23 ask for 11 or 12 iterations, over the limit of 10: the flow run
    // fails, and the demo exits 1 after its JSON line.
    #expect(try await sequential.exit() == 1, "\(sequential.stderr)")
    #expect(try await cluster.exit() == 1, "\(cluster.stderr)")
    let expected = try sequential.json()
    let actual = try cluster.json()
    for key in [
      "state", "tasks", "succeeded", "failed", "result_sum", "loop_iterations", "loop_log_lines",
      "loop_limit_failures",
    ] {
      #expect("\(expected[key]!)" == "\(actual[key]!)", "\(key)")
    }
    #expect(actual["succeeded"] as? Int == 20, "\(cluster.stderr)")
    #expect(actual["loop_limit_failures"] as? Int == 4)
    // Twice 1 + (1+2) + … + (1+…+10); 2 × (1+…+10) iterations that returned, 4 × 10 stopped.
    #expect(actual["result_sum"] as? Int == 440)
    #expect(actual["loop_iterations"] as? Int == 150)
    #expect(actual["loop_log_lines"] as? Int == 150 - 24)  // every iteration after the first
  }

  @Test(
    "kill -9 of a worker mid-run: the run succeeds, lost attempts are Crashed, results arrive once")
  func workerKilled() async throws {
    let demo = try FlowProcess([
      "demo", "--tasks", "8", "--task-duration", "1500ms", "--executor", "cluster", "--workers",
      "2",
      "--threads", "2",
    ])
    let ready = try await demo.line(containing: "ready, worker pids")
    let pids = try #require(ready.split(separator: " ").last).split(separator: ",").compactMap {
      Int32($0)
    }
    try #require(pids.count == 2)
    // Tasks take 1.5 s each and are assigned as soon as the workers joined (each worker holds
    // four: two running, two prefetched), so a third of a task later both workers are busy.
    try await Task.sleep(for: .milliseconds(500))
    kill(pids[0], SIGKILL)
    #expect(try await demo.exit() == 0, "\(demo.stderr)")
    let result = try demo.json()
    #expect(result["state"] as? String == "Success", "\(demo.stderr)")
    #expect(result["tasks"] as? Int == 8)
    #expect(result["succeeded"] as? Int == 8)
    #expect(result["result_sum"] as? Int == 28)  // 0 + 1 + … + 7: each result once
    #expect((result["crashed_attempts"] as? Int ?? 0) >= 1, "\(demo.stderr)")
    // Each lost attempt moved to Crashed in its task's state history (the `work` task's state
    // handler counts them) before it ran again.
    #expect(result["crashed_states"] as? Int == result["crashed_attempts"] as? Int)
    #expect(demo.stderr.contains("crashed"))
  }

  @Test("a worker started before its scheduler waits for it (--connect-retry), then runs its tasks")
  func workerBeforeScheduler() async throws {
    let address = "127.0.0.1:\(try freePort())"
    let worker = try FlowProcess([
      "worker", "--connect", address, "--connect-retry", "120", "--log-level", "notice",
    ])
    _ = try await worker.line(containing: "scheduler not reachable yet")
    try await Task.sleep(for: .seconds(1))
    #expect(worker.process.isRunning, "\(worker.stderr)")
    let demo = try FlowProcess([
      "demo", "--tasks", "6", "--executor", "cluster", "--listen", address, "--min-workers", "1",
    ])
    #expect(try await demo.exit() == 0, "\(demo.stderr)")
    #expect(try demo.json()["succeeded"] as? Int == 6)
    #expect(try await worker.exit() == 0, "\(worker.stderr)")
  }

  @Test("a worker with a wrong token is refused; the run goes on with the others")
  func wrongToken() async throws {
    let demo = try FlowProcess([
      "demo", "--tasks", "20", "--executor", "cluster", "--listen", "127.0.0.1:0", "--token",
      "right", "--min-workers", "1",
    ])
    let listening = try await demo.line(containing: "listening on")
    let address = try #require(listening.split(separator: " ").last).description
    let intruder = try FlowProcess(["worker", "--connect", address, "--token", "wrong"])
    #expect(try await intruder.exit() == 1)
    #expect(intruder.stderr.contains("refused"), "\(intruder.stderr)")
    #expect(intruder.stderr.contains("token"))
    #expect(demo.process.isRunning)
    let worker = try FlowProcess(["worker", "--connect", address, "--token", "right"])
    #expect(try await demo.exit() == 0, "\(demo.stderr)")
    #expect(try demo.json()["succeeded"] as? Int == 20)
    #expect(demo.stderr.contains("badToken"))
    _ = try await worker.exit()
  }

  @Test("garbage, an oversized frame and a half-closed connection are dropped with a reason")
  func badPeers() async throws {
    let demo = try FlowProcess([
      "demo", "--tasks", "6", "--task-duration", "2s", "--executor", "cluster", "--listen",
      "127.0.0.1:0", "--min-workers", "1", "--log-level", "info",
    ])
    let listening = try await demo.line(containing: "listening on")
    let address = try #require(listening.split(separator: " ").last).description
    let scheduler = try port(of: listening)
    let worker = try FlowProcess(["worker", "--connect", address])
    _ = try await demo.line(containing: "worker joined", timeout: .seconds(60)) as String?
    // The run lasts long enough (6 × 2 s on one worker) for the bad peers below to reach the
    // scheduler before it ends, also on a loaded machine. An HTTP request reads as a huge length
    // prefix; a small frame of garbage as malformed.
    try sendRaw(Array("GET / HTTP/1.1\r\nHost: x\r\n\r\n".utf8), port: scheduler, halfClose: false)
    try sendRaw([0, 0, 0, 8] + Array("GARBAGE!".utf8), port: scheduler, halfClose: false)
    try sendRaw([0x7F, 0xFF, 0xFF, 0xFF, 1, 2, 3], port: scheduler, halfClose: false)
    try sendRaw([0, 0, 0, 40, 0x53, 0x46, 1], port: scheduler, halfClose: true)
    #expect(try await demo.exit() == 0, "\(demo.stderr)")
    let result = try demo.json()
    #expect(result["state"] as? String == "Success")
    #expect(result["succeeded"] as? Int == 6)
    #expect(demo.stderr.contains("malformedFrame"), "\(demo.stderr)")
    #expect(demo.stderr.contains("oversizedFrame"))
    #expect(demo.stderr.contains("truncated"))
    _ = try await worker.exit()
  }

  @Test("a scheduler told to listen beyond loopback without a token refuses to start")
  func insecureListen() async throws {
    let demo = try FlowProcess(["demo", "--executor", "cluster", "--listen", "0.0.0.0:0"])
    #expect(try await demo.exit() == 1)
    #expect(
      demo.stderr.contains("refusing to listen on 0.0.0.0:0 without a token"), "\(demo.stderr)")
  }
}

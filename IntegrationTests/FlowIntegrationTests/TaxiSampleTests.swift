import Foundation
import Testing

/// Runs the `taxi-resource-manager` sample, and a sample on `--executor cluster`, as real
/// processes (their cluster workers are real processes too).
extension SampleSuites {
  @Suite("cluster samples, end to end", .timeLimit(.minutes(3)))
  struct TaxiSampleTests {
    let sample = SampleProcess(name: "taxi-resource-manager")

    /// pandas 3.1.1 (numpy 2.4.6), computed once on the bundled
    /// `yellow_tripdata_2019-01_sample_tlc.csv`:
    /// `df[df.passenger_count > 1].groupby("VendorID").passenger_count.std()` gives
    /// `{1: 0.6898146929521506, 2: 1.5273520386705883, 4: nan}` (vendor 4 has one such trip).
    /// The exact values, sqrt((n·Σx² − (Σx)²) / (n(n−1))) from the integer sums
    /// (vendor 1: n 686, Σx 1626, Σx² 4180; vendor 2: n 2014, Σx 6789, Σx² 27581), correctly
    /// rounded, are 0.6898146929521511 and 1.5273520386705883; pandas' two-pass sum differs
    /// from them in the last bits, so the comparison allows 1e-12 relative.
    static let pandas: [String: Double?] = [
      "1": 0.6898146929521506, "2": 1.5273520386705883, "4": nil,
    ]

    /// The JSON logs' values of `key`, for messages equal to `message`.
    static func logValues(_ stderr: String, message: String, key: String) -> [String] {
      stderr.split(separator: "\n").compactMap { line -> String? in
        guard
          let object = try? JSONSerialization.jsonObject(with: Data(line.utf8))
            as? [String: Any], object["message"] as? String == message
        else { return nil }
        return object[key] as? String
      }
    }

    static func pids(_ text: String) -> Set<Int32> {
      Set(text.split(separator: ",").compactMap { Int32($0) })
    }

    /// True while a process with this ID exists (a zombie child of the sample counts as gone:
    /// the sample reaped its workers before it exited).
    static func isRunning(_ pid: Int32) -> Bool {
      kill(pid, 0) == 0
    }

    @Test("std of passenger_count per VendorID, as pandas computes it, on 2 worker processes")
    func standardDeviations() async throws {
      let output = try await sample.run(["--param", "workers=2", "--log-format", "json"])
      #expect(output.status == 0, "stderr: \(output.stderr)")
      let lines = output.stdout.split(separator: "\n")
      try #require(lines.count == 1, "stdout: \(output.stdout)")
      let object = try #require(
        try JSONSerialization.jsonObject(with: Data(lines[0].utf8)) as? [String: Any])
      #expect(Set(object.keys) == Set(Self.pandas.keys))
      for (vendor, expected) in Self.pandas {
        if let expected {
          let value = try #require(object[vendor] as? Double, "vendor \(vendor): \(object)")
          #expect(abs(value - expected) <= 1e-12 * expected, "vendor \(vendor): \(value)")
        } else {
          #expect(object[vendor] is NSNull, "vendor \(vendor) has one trip: null")
        }
      }
      // The partitions ran in the cluster's worker processes, which are gone afterwards.
      let started = Self.logValues(
        output.stderr, message: "started a local cluster", key: "cluster.worker_pids")
      let workers = Self.pids(try #require(started.first, "stderr: \(output.stderr)"))
      #expect(workers.count == 2)
      let computedBy = Self.logValues(
        output.stderr, message: "combined partitions", key: "taxi.computed_by_pids")
      let used = Self.pids(try #require(computedBy.first))
      #expect(!used.isEmpty && used.isSubset(of: workers), "\(used) ⊄ \(workers)")
      #expect(
        Self.logValues(output.stderr, message: "stopped the local cluster", key: "level")
          == ["info"])
      for pid in workers { #expect(!Self.isRunning(pid), "worker \(pid) still running") }
    }

    @Test("the clean-up stops the cluster even when the task inside fails")
    func cleanupAfterFailure() async throws {
      let output = try await sample.run([
        "--param", "workers=1", "--param", "data-path=/nonexistent/trips.csv", "--log-format",
        "json",
      ])
      #expect(output.status == 1)
      #expect(output.stdout.isEmpty)
      #expect(output.stderr.contains("cannot read the trips CSV '/nonexistent/trips.csv'"))
      #expect(output.stderr.contains("Flow run 'taxi-resource-manager': Failed"))
      let started = Self.logValues(
        output.stderr, message: "started a local cluster", key: "cluster.worker_pids")
      let workers = Self.pids(try #require(started.first, "stderr: \(output.stderr)"))
      #expect(workers.count == 1)
      #expect(
        Self.logValues(output.stderr, message: "stopped the local cluster", key: "level")
          == ["info"])
      for pid in workers { #expect(!Self.isRunning(pid), "worker \(pid) still running") }
    }

    @Test("iris-pipeline on `run --executor cluster --workers 2` gives the sequential result")
    func clusterMatchesSequential() async throws {
      let iris = SampleProcess(name: "iris-pipeline")
      let base = FileManager.default.temporaryDirectory.appendingPathComponent(
        "iris-cluster-\(UUID().uuidString)")
      defer { try? FileManager.default.removeItem(at: base) }
      var outputs: [(SampleProcess.Output, [String: Data])] = []
      for executor in [["--executor", "sequential"], ["--executor", "cluster", "--workers", "2"]] {
        let results = base.appendingPathComponent(executor[1])
        let output = try await iris.run(["run"] + executor + ["--results-dir", results.path])
        #expect(output.status == 0, "\(executor): \(output.stderr)")
        var files: [String: Data] = [:]
        let enumerator = FileManager.default.enumerator(atPath: results.path)
        while let path = enumerator?.nextObject() as? String {
          let url = results.appendingPathComponent(path)
          if let data = FileManager.default.contents(atPath: url.path) { files[path] = data }
        }
        outputs.append((output, files))
      }
      let (sequential, sequentialFiles) = outputs[0]
      let (cluster, clusterFiles) = outputs[1]
      #expect(sequential.stderr.contains("Model accuracy on test set: 96.67"))
      #expect(cluster.stderr.contains("Flow run 'main-flow': Success"), "\(cluster.stderr)")
      // Stopping the workers at the end of a run is no error (their own shutdown closed the
      // pipe they watch their parent through, and they took it for the parent's death).
      #expect(!cluster.stderr.contains(" error "), "\(cluster.stderr)")
      // The workers ran the child flows with the run's --results-dir: the same files.
      #expect(sequentialFiles.count == 4)
      #expect(clusterFiles == sequentialFiles, "persisted outputs differ")
    }

    @Test("ticket-model-evaluation: the same summary on `--executor cluster --workers 2`")
    func ticketClusterMatchesSequential() async throws {
      let ticket = SampleProcess(name: "ticket-model-evaluation")
      let common = [
        "--param", "batch-size=300", "--param", "sample-seed=11", "--log-level", "error",
      ]
      let sequential = try await ticket.run(["run"] + common)
      let cluster = try await ticket.run(
        ["run", "--executor", "cluster", "--workers", "2"] + common)
      #expect(sequential.status == 0, "\(sequential.stderr)")
      #expect(cluster.status == 0, "\(cluster.stderr)")
      // Everything but the trial's ID (drawn per run).
      func summary(_ text: String) -> Substring? {
        text.range(of: "\"data\"").map { text[$0.lowerBound...] }
      }
      let expected = try #require(summary(sequential.stdout), "stdout: \(sequential.stdout)")
      #expect(expected.contains("\"num_obs\": 300"))
      #expect(summary(cluster.stdout) == expected, "cluster stdout: \(cluster.stdout)")
    }
  }
}

/// Two processes of one sample on loopback, as on two machines: `run --listen` and `worker
/// --connect` with a token.
extension SampleSuites {
  @Suite("run --listen with a worker started by hand", .timeLimit(.minutes(2)))
  struct ListeningRunTests {
    /// A TCP port that was free a moment ago (bind to port 0, read it, close).
    static func freePort() throws -> Int {
      let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
      try #require(fd >= 0)
      defer { close(fd) }
      var address = sockaddr_in()
      address.sin_family = sa_family_t(AF_INET)
      address.sin_addr.s_addr = inet_addr("127.0.0.1")
      address.sin_port = 0
      var length = socklen_t(MemoryLayout<sockaddr_in>.size)
      let bound = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) }
      }
      try #require(bound == 0)
      let named = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
      }
      try #require(named == 0)
      return Int(UInt16(bigEndian: address.sin_port))
    }

    @Test("iris-pipeline data-engineer: scheduler with --listen and --token, one worker")
    func listenAndConnect() async throws {
      let iris = SampleProcess(name: "iris-pipeline")
      let port = try Self.freePort()
      let results = FileManager.default.temporaryDirectory.appendingPathComponent(
        "iris-listen-\(UUID().uuidString)")
      defer { try? FileManager.default.removeItem(at: results) }
      async let scheduler = iris.run([
        "run", "data-engineer", "--listen", "127.0.0.1:\(port)", "--token", "s3cret",
        "--workers", "1", "--results-dir", results.path,
      ])
      // The worker retries until the scheduler listens (it exits 1 on a refused connection).
      var worker: SampleProcess.Output?
      for _ in 0..<100 {
        let attempt = try await iris.run([
          "worker", "--connect", "127.0.0.1:\(port)", "--token", "s3cret", "--results-dir",
          results.path,
        ])
        worker = attempt
        if attempt.status == 0 || !attempt.stderr.contains("cannot connect") { break }
        try await Task.sleep(for: .milliseconds(100))
      }
      let run = try await scheduler
      #expect(run.status == 0, "scheduler: \(run.stderr)")
      #expect(run.stderr.contains("Flow run 'data-engineer': Success"))
      #expect(worker?.status == 0, "worker: \(worker?.stderr ?? "")")
      let files = try FileManager.default.contentsOfDirectory(
        atPath: results.appendingPathComponent("data-engineer").path)
      #expect(files.count == 4, "\(files)")
    }
  }
}

import FlowCluster
import FlowCore
import FlowExecutors
import Foundation
import Logging

/// A slice of the trips CSV (its header and some of its data lines), computed on one worker.
struct TaxiPartition: Codable, Sendable {
  /// The partition's position.
  var index: Int
  /// The CSV header line.
  var header: String
  /// Data lines, LF-separated.
  var lines: String
}

/// Exact per-vendor moments of `passenger_count` over one or more partitions: counts, sums and
/// sums of squares of integers, so that combining partitions loses nothing.
struct PassengerMoments: Codable, Sendable, Equatable {
  /// VendorID → (count, sum, sum of squares) of the kept trips.
  var byVendor: [Int: Moments] = [:]
  /// The IDs of the processes that computed the partitions (to show where they ran).
  var computedBy: [Int32] = []

  /// The moments of one vendor.
  struct Moments: Codable, Sendable, Equatable {
    var count = 0
    var sum = 0
    var sumOfSquares = 0
  }

  /// Adds one trip.
  mutating func add(vendor: Int, passengers: Int) {
    byVendor[vendor, default: Moments()].count += 1
    byVendor[vendor, default: Moments()].sum += passengers
    byVendor[vendor, default: Moments()].sumOfSquares += passengers * passengers
  }

  /// Adds another partition's moments (exact: integer sums).
  mutating func combine(_ other: PassengerMoments) {
    computedBy += other.computedBy
    for (vendor, moments) in other.byVendor {
      byVendor[vendor, default: Moments()].count += moments.count
      byVendor[vendor, default: Moments()].sum += moments.sum
      byVendor[vendor, default: Moments()].sumOfSquares += moments.sumOfSquares
    }
  }

  /// The sample standard deviation per vendor (pandas' `std()`, ddof 1); nil for a vendor
  /// with a single trip. The variance's numerator `n·Σx² − (Σx)²` is an exact integer, so the
  /// only roundings are one division and one square root.
  var standardDeviations: [Int: Double?] {
    byVendor.mapValues { moments in
      let n = moments.count
      guard n > 1 else { return nil }
      let numerator = n * moments.sumOfSquares - moments.sum * moments.sum
      return (Double(numerator) / Double(n * (n - 1))).squareRoot()
    }
  }
}

/// A problem with the trips data: which line, and what is wrong with it.
struct TaxiDataError: Error, CustomStringConvertible {
  let message: String
  var description: String { message }
}

/// The data-parallel client that the `local-cluster` resource hands its tasks: the running
/// cluster and an executor that runs a flow's tasks on its workers.
struct TaxiClusterClient: Sendable {
  /// The cluster (a scheduler on loopback and its worker processes).
  let cluster: LocalCluster
  /// How many worker processes it has.
  let workers: Int

  /// An executor that runs task bodies on the cluster's workers and keeps the cluster running
  /// after the run.
  var executor: FlowExecutor { .cluster(cluster) }
}

enum TaxiFlows {
  /// The bundled trips CSV (the derived TLC-header sample, see Resources/LICENSE-DATA.md).
  static var bundledData: String? {
    Bundle.module.path(forResource: "yellow_tripdata_2019-01_sample_tlc", ofType: "csv")
  }

  /// Where the sample's own messages go: standard error, at info.
  static func logger() -> Logger {
    TaskRunContext.current?.environment.logger ?? Logger(label: "taxi-resource-manager")
  }

  /// Prefect's `resource_manager` around a temporary Dask-style cluster: set-up starts a
  /// scheduler on loopback with `workers` processes of this executable (`worker --connect`),
  /// clean-up stops them, whatever happened to the tasks inside.
  static let localCluster = ResourceManager(
    "local-cluster",
    setup: { (workers: Int) async throws -> TaxiClusterClient in
      guard workers >= 1 else {
        throw TaxiDataError(
          message: "parameter 'workers' must be at least 1, got \(workers)")
      }
      let cluster = try await LocalCluster.start(workers: workers)
      logger().info(
        "started a local cluster",
        metadata: [
          "cluster.address": "\(cluster.scheduler.address)",
          "cluster.worker_pids":
            "\(cluster.processIdentifiers.map(String.init).joined(separator: ","))",
        ])
      return TaxiClusterClient(cluster: cluster, workers: workers)
    },
    cleanup: { (client: TaxiClusterClient) async throws in
      await client.cluster.stop()
      logger().info(
        "stopped the local cluster",
        metadata: [
          "cluster.worker_pids":
            "\(client.cluster.processIdentifiers.map(String.init).joined(separator: ","))"
        ])
    })

  /// Reads the trips and cuts them into `count` partitions of consecutive lines.
  static func partitions(path: String, count: Int) throws -> [TaxiPartition] {
    let text: String
    do {
      text = try String(contentsOfFile: path, encoding: .utf8)
    } catch {
      throw TaxiDataError(
        message:
          "cannot read the trips CSV '\(path)': \(error.localizedDescription); give an "
          + "existing file with --param data-path=FILE, or leave it out for the bundled sample")
    }
    var lines = text.split(omittingEmptySubsequences: true) { $0 == "\n" || $0 == "\r\n" }
    guard !lines.isEmpty else { throw TaxiDataError(message: "the trips CSV '\(path)' is empty") }
    let header = String(lines.removeFirst())
    let size = max(1, (lines.count + count - 1) / count)
    return stride(from: 0, to: lines.count, by: size).enumerated().map { index, start in
      TaxiPartition(
        index: index, header: header,
        lines: lines[start..<min(start + size, lines.count)].joined(separator: "\n"))
    }
  }

  /// One partition's moments of `passenger_count` per `VendorID`, over the trips with more
  /// than one passenger (runs on a worker).
  static let partitionMoments = task("partition_moments") {
    (partition: TaxiPartition) throws -> PassengerMoments in
    let columns = partition.header.split(separator: ",", omittingEmptySubsequences: false)
    guard let vendorColumn = columns.firstIndex(of: "VendorID"),
      let passengerColumn = columns.firstIndex(of: "passenger_count")
    else {
      throw TaxiDataError(
        message:
          "the trips CSV has no VendorID or passenger_count column (header: \(partition.header))")
    }
    var moments = PassengerMoments(computedBy: [ProcessInfo.processInfo.processIdentifier])
    for (offset, line) in partition.lines.split(separator: "\n").enumerated() {
      let fields = line.split(separator: ",", omittingEmptySubsequences: false)
      guard fields.count > max(vendorColumn, passengerColumn) else {
        throw TaxiDataError(
          message: "partition \(partition.index), line \(offset + 1): too few fields")
      }
      // Missing values are left out, as pandas' NaN is.
      guard let vendor = Int(fields[vendorColumn]),
        let passengers = Self.integer(fields[passengerColumn])
      else { continue }
      if passengers > 1 { moments.add(vendor: vendor, passengers: passengers) }
    }
    return moments
  }

  /// `2` or `2.0` as 2; nil for a missing or fractional value.
  static func integer(_ field: Substring) -> Int? {
    if let value = Int(field) { return value }
    guard let value = Double(field), value == value.rounded(), abs(value) < 1e15 else {
      return nil
    }
    return Int(value)
  }

  /// `taxi-partitions`: the data-parallel sub-flow, one mapped `partition_moments` child per
  /// partition; the client's executor runs it on the cluster's workers.
  static let partitionFlow = Flow("taxi-partitions") {
    let partitions = Parameter("partitions", default: [TaxiPartition]())
    partitionMoments.map(partitions)
  }

  /// Reads the trips, runs the partitions on the cluster and combines them exactly.
  static let passengerCountStd = task("passenger_count_std") {
    (client: TaxiClusterClient, dataPath: String, partitionCount: Int) async throws -> [Int:
      Double?] in
    guard let path = dataPath.isEmpty ? bundledData : dataPath else {
      throw TaxiDataError(message: "the bundled trips CSV is missing; rebuild the sample")
    }
    let count = partitionCount > 0 ? partitionCount : client.workers * 2
    let partitions = try partitions(path: path, count: count)
    let result = try await partitionFlow.run(
      parameters: ["partitions": partitions], executor: client.executor,
      environment: TaskRunContext.current?.environment ?? .system)
    guard result.state.isSuccessful else {
      let failing = result.taskRuns.filter { $0.state.isFailed }.map { "\($0.label): \($0.state)" }
      throw TaxiDataError(
        message: "the partitions failed on the cluster: \(failing.joined(separator: "; "))")
    }
    var total = PassengerMoments()
    var combined = 0
    for run in result.taskRuns where run.slug == "partition_moments" && run.mapIndex != nil {
      guard let moments = run.state.result as? PassengerMoments else {
        throw TaxiDataError(message: "partition \(run.label) returned no moments")
      }
      total.combine(moments)
      combined += 1
    }
    guard combined == partitions.count else {
      throw TaxiDataError(
        message: "expected \(partitions.count) partition results, got \(combined)")
    }
    logger().info(
      "combined partitions",
      metadata: [
        "taxi.partitions": "\(combined)", "taxi.workers": "\(client.workers)",
        "taxi.computed_by_pids":
          "\(Set(total.computedBy).sorted().map(String.init).joined(separator: ","))",
      ])
    return total.standardDeviations
  }

  /// One JSON object, VendorID → standard deviation (`null` where undefined), in key order.
  static func json(_ values: [Int: Double?]) -> String {
    let fields = values.keys.sorted().map { vendor -> String in
      let value = values[vendor] ?? nil
      return "\"\(vendor)\": " + (value.map { "\($0)" } ?? "null")
    }
    return "{" + fields.joined(separator: ", ") + "}"
  }

  /// Prints the result on standard output.
  static let printResult = task("print_result") { (values: [Int: Double?]) in
    FileHandle.standardOutput.write(Data((json(values) + "\n").utf8))
  }

  /// `taxi-resource-manager`: a temporary cluster around the passenger-count computation.
  static let mainFlow = Flow("taxi-resource-manager") {
    let workers = Parameter("workers", default: 3)
    let dataPath = Parameter("data-path", default: "")
    let partitionCount = Parameter("partitions", default: 0)
    localCluster(workers) { client in
      printResult(passengerCountStd(client, dataPath, partitionCount))
    }
  }

  /// Every flow of the executable; workers register them all.
  static var all: [Flow] { [mainFlow, partitionFlow] }
}

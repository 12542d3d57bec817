import FlowCore
import FlowScheduling
import Foundation

/// How many rows a trial draws: a count (with replacement) or `all` (every row, in file order).
///
/// On the command line: `--param batch-size=500` or `--param batch-size=all`.
public struct BatchSize: Sendable, Codable, Equatable, CustomStringConvertible {
  /// The row count, or nil for every row.
  public let rows: Int?

  /// Every row, in file order.
  public static let all = BatchSize(rows: nil)

  /// The most rows one batch draws (ten million rows take about 100 MB).
  public static let maxRows = 10_000_000

  /// `count` rows drawn with replacement; `count` must be at least 1.
  public static func rows(_ count: Int) -> BatchSize { BatchSize(rows: count) }

  private init(rows: Int?) { self.rows = rows }

  /// Reads a positive integer or the string `all`.
  public init(from decoder: any Decoder) throws {
    let container = try decoder.singleValueContainer()
    if let count = try? container.decode(Int.self) {
      guard (1...Self.maxRows).contains(count) else {
        throw DecodingError.dataCorruptedError(
          in: container,
          debugDescription:
            "a batch size must be 1-\(Self.maxRows) rows, got \(count); use \"all\" for every "
            + "row of the file")
      }
      rows = count
    } else if let text = try? container.decode(String.self), text == "all" {
      rows = nil
    } else {
      throw DecodingError.dataCorruptedError(
        in: container, debugDescription: "a batch size is a positive integer or \"all\"")
    }
  }

  /// Writes the count, or `"all"`.
  public func encode(to encoder: any Encoder) throws {
    var container = encoder.singleValueContainer()
    if let rows { try container.encode(rows) } else { try container.encode("all") }
  }

  /// `500` or `all`.
  public var description: String { rows.map(String.init) ?? "all" }
}

extension BatchSize: ParameterSchemaDescribing {
  /// A count from 1 to ``maxRows`` or `"all"`: what the server and `run-deployment` check a
  /// value against before a run is queued.
  public static let parameterValueSchema = ParameterValueSchema.anyOf([
    .integer(in: 1...Int64(maxRows)), .string(oneOf: ["all"]),
  ])
}

/// The rows of one trial: each row's priority code and target.
public typealias TicketBatch = TicketTable

/// The outcome of one trial, shaped like the tutorial's summary.
public struct TrialSummary: Sendable, Codable, Equatable {
  /// The trial's ID.
  public let id: String
  /// The number of rows evaluated.
  public let numObs: Int
  /// MAE, MedAE, MSE and R2, by name.
  public let metrics: [String: Double]
  /// Mean, median, min and max of the target, by name.
  public let target: [String: Double]

  /// A summary.
  public init(id: String, numObs: Int, metrics: [String: Double], target: [String: Double]) {
    self.id = id
    self.numObs = numObs
    self.metrics = metrics
    self.target = target
  }

  /// One JSON line: `{"id": …, "data": {"num_obs": …, "metrics": {…}, "target": {…}}}`.
  public var jsonLine: String {
    func number(_ value: Double?) -> String {
      guard let value, value.isFinite else { return "null" }
      return "\(value)"
    }
    func object(_ keys: [String], _ values: [String: Double]) -> String {
      "{" + keys.map { "\"\($0)\": \(number(values[$0]))" }.joined(separator: ", ") + "}"
    }
    return "{\"id\": \"\(id)\", \"data\": {\"num_obs\": \(numObs), \"metrics\": "
      + object(["MAE", "MedAE", "MSE", "R2"], metrics) + ", \"target\": "
      + object(["mean", "median", "min", "max"], target) + "}}"
  }
}

/// The metrics, as scikit-learn defines them.
public enum Metrics {
  /// Mean absolute error.
  public static func meanAbsoluteError(_ actual: [Double], _ predicted: [Double]) -> Double {
    zip(actual, predicted).reduce(0) { $0 + abs($1.0 - $1.1) } / Double(actual.count)
  }

  /// Median absolute error (for an even count, the mean of the two middle values).
  public static func medianAbsoluteError(_ actual: [Double], _ predicted: [Double]) -> Double {
    median(zip(actual, predicted).map { abs($0 - $1) })
  }

  /// Mean squared error.
  public static func meanSquaredError(_ actual: [Double], _ predicted: [Double]) -> Double {
    zip(actual, predicted).reduce(0) { $0 + ($1.0 - $1.1) * ($1.0 - $1.1) } / Double(actual.count)
  }

  /// R² = 1 − SS_res / SS_tot; with a constant target, 1 for a perfect prediction and 0
  /// otherwise (scikit-learn's `force_finite`).
  public static func r2(_ actual: [Double], _ predicted: [Double]) -> Double {
    let mean = actual.reduce(0, +) / Double(actual.count)
    var residual = 0.0
    var total = 0.0
    for (a, p) in zip(actual, predicted) {
      residual += (a - p) * (a - p)
      total += (a - mean) * (a - mean)
    }
    if total == 0 { return residual == 0 ? 1 : 0 }
    return 1 - residual / total
  }

  /// The median (for an even count, the mean of the two middle values); NaN when empty.
  public static func median(_ values: [Double]) -> Double {
    guard !values.isEmpty else { return .nan }
    var values = values
    let middle = values.count / 2
    values.withUnsafeMutableBufferPointer { select($0, middle) }
    if values.count % 2 == 1 { return values[middle] }
    let below = values[..<middle].max()!
    return (below + values[middle]) / 2
  }

  /// Quickselect: puts the `k`-th smallest value at `k`, smaller ones before it.
  private static func select(_ values: UnsafeMutableBufferPointer<Double>, _ k: Int) {
    var low = 0
    var high = values.count - 1
    while low < high {
      let pivot = values[(low + high) / 2]
      var i = low
      var j = high
      while i <= j {
        while values[i] < pivot { i += 1 }
        while values[j] > pivot { j -= 1 }
        if i <= j {
          values.swapAt(i, j)
          i += 1
          j -= 1
        }
      }
      if k <= j {
        high = j
      } else if k >= i {
        low = i
      } else {
        return
      }
    }
  }
}

/// A small seeded generator for `sample-seed` (SplitMix64): the same seed draws the same rows.
struct SeededRows {
  private let state: UInt64

  init(seed: Int) { state = UInt64(bitPattern: Int64(seed)) }

  /// `count` indices below `bound`, drawn with replacement.
  func draw(_ count: Int, below bound: Int) -> [Int] {
    var mixer = state
    var indices: [Int] = []
    indices.reserveCapacity(count)
    for _ in 0..<count {
      mixer &+= 0x9E37_79B9_7F4A_7C15
      var z = mixer
      z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
      z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
      z ^= z >> 31
      // Lemire's multiply-shift (bias below bound / 2^64, negligible for row counts).
      indices.append(Int(z.multipliedFullWidth(by: UInt64(bound)).high))
    }
    return indices
  }
}

/// The ticket model evaluation pipeline of the tutorials: its tasks and its flow.
public enum TicketModel {
  /// The flow's name.
  public static let flowName = "ticket-model-evaluation"

  /// A new trial ID from the run's ID generator.
  public static let getTrialID = task("get_trial_id") { () -> String in
    let ids = TaskRunContext.current?.environment.ids ?? SystemIDGenerator()
    return ids.next().uuidString.lowercased()
  }

  /// Loads the incident data (the bundled zip, or `data-url`) and draws the trial's rows.
  public static let getTicketDataBatch = task(
    "get_ticket_data_batch",
    retries: .init(
      maxRetries: 2, delay: .seconds(2),
      retryIf: .when { ($0 as? TicketDataError)?.isTransient ?? false })
  ) { (batchSize: BatchSize, seed: Int?, dataURL: String?) async throws -> TicketBatch in
    let table = try await loadTable(dataURL)
    return sample(table, batchSize, seed: seed, random: TaskRunContext.current?.environment.random)
  }

  /// The actual resolution times, in seconds (`closed_at - sys_updated_at`).
  public static let getTarget = task("get_target") { (batch: TicketBatch) -> [Double] in
    batch.targets
  }

  /// The model: resolution time by priority, in seconds.
  public static let predict = task("predict") { (batch: TicketBatch) -> [Double] in
    batch.priorities.map { predictedSeconds(priority: $0) }
  }

  /// One metric (`mae`, `medae`, `mse` or `r2`) of the predictions.
  public static let evaluateModel = task("evaluate_model") {
    (actual: [Double], predicted: [Double], metric: String) throws -> Double in
    try evaluate(actual, predicted, metric: metric)
  }

  /// The trial's summary: ID, row count, metrics and target statistics.
  public static let getTrialSummary = task("get_trial_summary") {
    (id: String, actual: [Double], mae: Double, medae: Double, mse: Double, r2: Double)
      -> TrialSummary in
    summary(id: id, actual: actual, mae: mae, medae: medae, mse: mse, r2: r2)
  }

  /// Prints the summary on standard output as one JSON line.
  public static let writeTrialSummary = task("write_trial_summary") {
    (summary: TrialSummary) -> String in
    let line = summary.jsonLine
    print(line)
    fflush(nil)
    return line
  }

  /// The flow, scheduled every minute: parameters `batch-size` (default 1000, or `all`),
  /// `sample-seed` (default: the run's random source) and `data-url` (default: the bundled
  /// zip).
  public static func flow(schedule: (any Schedule)? = IntervalSchedule(interval: .seconds(60)))
    -> Flow
  {
    Flow(flowName, schedule: schedule) {
      let batchSize = Parameter("batch-size", default: BatchSize.rows(1000))
      let seed = Parameter("sample-seed", default: Int?.none)
      let dataURL = Parameter("data-url", default: String?.none)
      let id = getTrialID()
      let batch = getTicketDataBatch(batchSize, seed, dataURL)
      let actual = getTarget(batch)
      let predicted = predict(batch)
      let mae = evaluateModel(actual, predicted, "mae")
      let medae = evaluateModel(actual, predicted, "medae")
      let mse = evaluateModel(actual, predicted, "mse")
      let r2 = evaluateModel(actual, predicted, "r2")
      writeTrialSummary(getTrialSummary(id, actual, mae, medae, mse, r2))
    }
  }

  /// The table at `dataURL` (a URL or a path), or the bundled one.
  public static func loadTable(_ dataURL: String?) async throws -> TicketTable {
    if let dataURL {
      let url =
        dataURL.contains("://") ? URL(string: dataURL) : URL(fileURLWithPath: dataURL)
      guard let url else { throw TicketDataError("data-url '\(dataURL)' is not a URL") }
      return try await TicketData.load(from: url)
    }
    guard let bundled = TicketData.bundledArchive else {
      throw TicketDataError("the bundled incident_event_log.zip is missing; rebuild the sample")
    }
    return try await TicketData.load(from: bundled)
  }

  /// The trial's rows: every row for `all`, else `batchSize` rows drawn with replacement,
  /// from `seed` when given, else from `random`.
  public static func sample(
    _ table: TicketTable, _ batchSize: BatchSize, seed: Int?, random: (any RandomSource)?
  ) -> TicketBatch {
    guard let count = batchSize.rows else { return table }
    guard table.count > 0 else { return TicketTable() }
    let indices: [Int]
    if let seed {
      indices = SeededRows(seed: seed).draw(count, below: table.count)
    } else {
      let random = random ?? SystemRandomSource()
      indices = (0..<count).map { _ in random.nextInt(below: table.count) }
    }
    return TicketTable(
      priorities: indices.map { table.priorities[$0] }, targets: indices.map { table.targets[$0] })
  }

  /// Critical 6 h, High 24 h, Moderate 120 h, Low 240 h, anything else 180 h; in seconds.
  public static func predictedSeconds(priority: UInt8) -> Double {
    let hours: Double =
      switch priority {
      case 1: 6
      case 2: 24
      case 3: 120
      case 4: 240
      default: 180
      }
    return hours * 3600
  }

  /// The metric named `metric` (`mae`, `medae`, `mse`, `r2`).
  public static func evaluate(_ actual: [Double], _ predicted: [Double], metric: String) throws
    -> Double
  {
    guard !actual.isEmpty else { throw TicketDataError("no rows to evaluate \(metric) on") }
    switch metric {
    case "mae": return Metrics.meanAbsoluteError(actual, predicted)
    case "medae": return Metrics.medianAbsoluteError(actual, predicted)
    case "mse": return Metrics.meanSquaredError(actual, predicted)
    case "r2": return Metrics.r2(actual, predicted)
    default: throw TicketDataError("unknown metric '\(metric)'; use mae, medae, mse or r2")
    }
  }

  /// The summary of a trial.
  public static func summary(
    id: String, actual: [Double], mae: Double, medae: Double, mse: Double, r2: Double
  ) -> TrialSummary {
    let mean = actual.reduce(0, +) / Double(actual.count)
    return TrialSummary(
      id: id, numObs: actual.count, metrics: ["MAE": mae, "MedAE": medae, "MSE": mse, "R2": r2],
      target: [
        "mean": mean, "median": Metrics.median(actual), "min": actual.min() ?? .nan,
        "max": actual.max() ?? .nan,
      ])
  }
}

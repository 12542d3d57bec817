import FlowCore
import Foundation

/// One flower of the Iris data set.
struct IrisSample: Codable, Sendable {
  let sepalLength, sepalWidth, petalLength, petalWidth: Double
  let species: String
}

/// Per-species means of the four measurements.
struct SpeciesSummary: Codable, Sendable {
  let species: String
  let count: Int
  let means: [Double]
}

/// A row of the CSV that cannot be read, with its line number.
struct IrisFormatError: Error, CustomStringConvertible {
  let line: Int
  let reason: String
  var description: String { "iris data, line \(line): \(reason)" }
}

let loadData = task("load_data", retries: .init(maxRetries: 2, delay: .milliseconds(100))) {
  (path: String) throws -> [IrisSample] in
  let text = try String(contentsOfFile: path, encoding: .utf8)
  let lines = text.split(separator: "\n", omittingEmptySubsequences: true)
  guard lines.first == "sepal_length,sepal_width,petal_length,petal_width,species" else {
    throw IrisFormatError(line: 1, reason: "unexpected header \(lines.first ?? "(empty file)")")
  }
  return try lines.dropFirst().enumerated().map { offset, line in
    let fields = line.split(separator: ",", omittingEmptySubsequences: false)
    let numbers = fields.prefix(4).compactMap { Double($0) }
    guard fields.count == 5, numbers.count == 4 else {
      throw IrisFormatError(line: offset + 2, reason: "expected 4 numbers and a species: \(line)")
    }
    return IrisSample(
      sepalLength: numbers[0], sepalWidth: numbers[1], petalLength: numbers[2],
      petalWidth: numbers[3], species: String(fields[4]))
  }
}

let speciesNames = task("species_names") { (rows: [IrisSample]) in
  Array(Set(rows.map(\.species))).sorted()
}

let summarize = task("summarize_species") {
  (species: String, rows: [IrisSample], minSepalLength: Double) -> SpeciesSummary in
  let selected = rows.filter { $0.species == species && $0.sepalLength >= minSepalLength }
  let columns: [KeyPath<IrisSample, Double>] = [
    \.sepalLength, \.sepalWidth, \.petalLength, \.petalWidth,
  ]
  let means = columns.map { column in
    selected.isEmpty
      ? 0 : selected.map { $0[keyPath: column] }.reduce(0, +) / Double(selected.count)
  }
  return SpeciesSummary(species: species, count: selected.count, means: means)
}

let report = task("report") { (summaries: [SpeciesSummary]) -> String in
  let header = "species      count  sepal_len  sepal_wid  petal_len  petal_wid"
  let rows = summaries.map { summary in
    let means = summary.means.map { String(format: "%9.3f", $0) }.joined(separator: "  ")
    return summary.species.padding(toLength: 11, withPad: " ", startingAt: 0)
      + String(format: "%6d", summary.count) + "  " + means
  }
  return ([header] + rows).joined(separator: "\n")
}

/// Loads the Iris data, summarises each species in a mapped task, and reports the table.
///
/// With a result store, the summaries and the report are checkpointed under targets named by
/// species and parameter: a second run with the same store reads them instead of running.
func makeIrisFlow(defaultDataPath: String, results store: (any ResultStore)? = nil) -> Flow {
  var summarize = summarize.inputs("species", "rows", "min_sepal_length")
  var report = report
  if let store {
    summarize = summarize.checkpoint(
      to: store, target: "iris/summaries/{species}-{parameters[min-sepal-length]}.json")
    report = report.checkpoint(to: store, target: "iris/report-{parameters[min-sepal-length]}.txt")
  }
  return Flow("iris-summary") {
    let path = Parameter("data-path", default: defaultDataPath)
    let minSepalLength = Parameter("min-sepal-length", default: 0.0)
    let rows = loadData(path)
    let species = speciesNames(rows)
    let summaries = summarize.map(species, unmapped(rows), unmapped(minSepalLength))
    report(summaries)
  }
}

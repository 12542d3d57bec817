import FlowCLI
import Foundation
import Logging

// The Iris data-science project of the tutorials: `swift run iris-pipeline` runs `main-flow`
// (data-engineer, then data-science); `swift run iris-pipeline run data-engineer`, `list`,
// `visualize main-flow --format mermaid`, `--results-dir DIR` (default data/processed).

// Loggers made outside a run print warnings and worse to standard error, never to stdout.
LoggingSystem.bootstrap { label in
  var handler = StreamLogHandler.standardError(label: label)
  handler.logLevel = .warning
  return handler
}

await FlowCommandLine(
  name: "iris-pipeline",
  abstract:
    "Prepare the Iris data, then train and evaluate a classifier (--param model=knn or centroid).",
  defaultResultsDirectory: "data/processed"
) { context in
  guard let data = Bundle.module.path(forResource: "iris", ofType: "csv") else {
    throw CocoaError(
      .fileNoSuchFile,
      userInfo: [NSLocalizedDescriptionKey: "the bundled iris.csv is missing; rebuild the sample"])
  }
  return makeIrisFlows(
    dataPath: data, resultsDirectory: context.resultsDirectory ?? "data/processed")
}.main()

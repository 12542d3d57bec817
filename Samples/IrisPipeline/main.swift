import FlowCLI
import Foundation

// The Iris data-science project of the tutorials: `swift run iris-pipeline` runs `main-flow`
// (data-engineer, then data-science); `swift run iris-pipeline run data-engineer`, `list`,
// `visualize main-flow --format mermaid`, `--results-dir DIR` (default data/processed).

await FlowCommandLine(
  name: "iris-pipeline",
  abstract: "Prepare the Iris data, then train and evaluate a k-nearest-neighbours classifier.",
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

import FlowCLI
import Logging

// The NYC taxi tutorial: `swift run taxi-resource-manager` starts a temporary local cluster of
// 3 worker processes of this executable (`--param workers=N`), computes the sample standard
// deviation of passenger_count per VendorID over the trips with more than one passenger, with
// the partitions computed on the workers, prints one JSON object, and stops the cluster.

// Loggers made outside a run print warnings and worse to standard error, never to stdout.
LoggingSystem.bootstrap { label in
  var handler = StreamLogHandler.standardError(label: label)
  handler.logLevel = .warning
  return handler
}

await FlowCommandLine(
  name: "taxi-resource-manager",
  abstract:
    "Standard deviation of passenger_count per VendorID (trips with more than one passenger), "
    + "computed on a temporary local cluster."
) { _ in TaxiFlows.all }.main()

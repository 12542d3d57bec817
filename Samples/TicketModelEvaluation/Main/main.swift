import FlowCLI
import Logging
import TicketModel

// `swift run ticket-model-evaluation` runs the flow once on the bundled data; see `--help`.
// Loggers made outside a run print warnings and worse to standard error, never to stdout.
LoggingSystem.bootstrap { label in
  var handler = StreamLogHandler.standardError(label: label)
  handler.logLevel = .warning
  return handler
}

await FlowCommandLine(
  name: "ticket-model-evaluation",
  abstract: "Evaluate a priority-based model of incident resolution times (UCI event log)."
) { _ in [TicketModel.flow()] }.main()

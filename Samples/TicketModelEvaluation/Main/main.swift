import FlowCLI
import TicketModel

// `swift run ticket-model-evaluation` runs the flow once on the bundled data; see `--help`.
await FlowCommandLine(
  name: "ticket-model-evaluation",
  abstract: "Evaluate a priority-based model of incident resolution times (UCI event log)."
) { _ in [TicketModel.flow()] }.main()

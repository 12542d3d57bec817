import ArgumentParser
import FlowCore
import Foundation

/// `runs cancel ID`: asks the agent holding a deployment run to stop it (Prefect's
/// `flow-run cancel`); a run no agent has claimed yet ends Cancelled at once.
struct RunsCancelCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "cancel",
    abstract: "Cancel a deployment run: queued, it ends at once; running, its agent stops it.")

  @OptionGroup var database: DatabaseOptions
  @Argument(help: "The run's ID, or its first characters (at least 4).") var id: String

  func validate() throws { try RunID.validate(id) }

  func run() async throws {
    let text = try await database.withDeploymentStore { store in
      let run = try await RunID.record(id, in: store)
      let id = run.id.uuidString.lowercased()
      guard let queued = try await store.deploymentRun(id: run.id) else {
        throw CommandFailure(
          "run \(id) was not started by an agent (it ran in process \(run.processID) on "
            + "\(run.host.isEmpty ? "an unknown host" : run.host)): nothing in the database "
            + "can stop it; stop that process instead (Ctrl-C, or `kill \(run.processID)`)")
      }
      guard !queued.isFinished else {
        throw CommandFailure("run \(id) already ended \(queued.state); nothing to cancel")
      }
      let cancelled = try await store.requestCancellation(
        runID: run.id, now: SystemWallClock().now())
      if cancelled.isFinished {
        return "Run \(id): \(cancelled.state) (no agent had claimed it)\n"
      }
      return "Run \(id): cancellation requested; agent \(cancelled.leaseAgent ?? "?") stops it "
        + "at its next lease renewal (`\(FlowCommandLine.programName) runs show \(id)`)\n"
    }
    CommandContext.output.write(text, .standardOutput)
  }
}

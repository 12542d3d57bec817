import ArgumentParser
import FlowCluster
import FlowClusterCore
import Foundation
import Logging

/// `flow worker`: joins a scheduler and runs the `flow` binary's registered tasks.
struct WorkerCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "worker",
    abstract: "Join a cluster scheduler and run its tasks (the demo flows of this binary).",
    discussion: """
      Runs until the scheduler says goodbye or the connection drops; SIGTERM or SIGINT drains
      it (running tasks finish, or are handed back after --drain-timeout seconds).
      """
  )

  @Option(help: "The scheduler's address, HOST:PORT.")
  var connect: String

  @Option(help: "The scheduler's shared token.")
  var token: String?

  @Option(help: "How many tasks run at once.")
  var threads: Int = 1

  @Option(
    name: .customLong("resources"), parsing: .upToNextOption,
    help: "Resources this worker offers, NAME=AMOUNT (e.g. GPU=2).")
  var resources: [String] = []

  @Option(help: "The worker's name in the scheduler's logs (default host:pid).")
  var name: String?

  @Option(help: "PEM file of certificates to trust when the scheduler uses TLS.")
  var tlsTrustRoots: String?

  @Option(help: "Seconds a drain waits for running tasks before handing them back.")
  var drainTimeout: Int = 30

  @Option(help: "Log level on standard error (trace, debug, info, warning, error).")
  var logLevel: String = "warning"

  func validate() throws {
    guard (1...4096).contains(threads) else {
      throw ValidationError("--threads must be 1-4096, got \(threads)")
    }
    guard (0...86_400).contains(drainTimeout) else {
      throw ValidationError("--drain-timeout must be 0-86400 seconds, got \(drainTimeout)")
    }
  }

  func run() async throws {
    guard let address = ClusterAddress(connect) else {
      throw ValidationError("--connect must be HOST:PORT, got '\(connect)'")
    }
    var offered: [String: Double] = [:]
    for item in resources {
      let parts = item.split(separator: "=", maxSplits: 1)
      guard parts.count == 2, let amount = Double(parts[1]), amount >= 0 else {
        throw ValidationError("--resources takes NAME=AMOUNT (e.g. GPU=2), got '\(item)'")
      }
      offered[String(parts[0])] = amount
    }
    let logger = ToolLogging.logger("swift-flow.worker", level: logLevel)
    let exit: ClusterWorkerStateMachine.Exit
    do {
      exit = try await ClusterWorker.run(
        connect: address, token: token, threads: threads, resources: offered,
        flows: DemoFlows.all, name: name,
        tls: tlsTrustRoots.map { ClusterTLS(trustRootsPath: $0, verifyHostname: false) },
        drainTimeout: .seconds(drainTimeout), ownsProcess: true, logger: logger)
    } catch {
      FileHandle.standardError.write(Data("flow worker: \(error)\n".utf8))
      throw ExitCode(1)
    }
    if exit.failed {
      FileHandle.standardError.write(Data("flow worker: \(exit.reason)\n".utf8))
      throw ExitCode(1)
    }
  }
}

enum ToolLogging {
  /// A logger that writes to standard error at `level`.
  static func logger(_ label: String, level: String) -> Logger {
    var logger = Logger(label: label) { StreamLogHandler.standardError(label: $0) }
    logger.logLevel = Logger.Level(rawValue: level) ?? .warning
    return logger
  }
}

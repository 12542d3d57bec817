import ArgumentParser
import FlowCLI
import FlowCore
import FlowServer
import Foundation

/// `flow server`: the run history's web UI, JSON API and metrics over a run store.
struct ServerCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "server",
    abstract: "Serve the run history: web UI, JSON API (/api) and Prometheus metrics (/metrics).",
    discussion: """
      Reads the database the runs are recorded in (FLOW_DATABASE or ~/.flow/flow.sqlite by
      default; PostgreSQL lets several servers share one database). Listens on 127.0.0.1:8080
      by default; listening on any other address needs --token (or FLOW_SERVER_TOKEN), which
      every request must then carry (the browser signs in at /login).
      """)

  @Option(
    help: ArgumentHelp(
      "The run history: sqlite:PATH or postgres://USER:PASSWORD@HOST:PORT/DB (default: "
        + "FLOW_DATABASE or sqlite:~/.flow/flow.sqlite).", valueName: "location"))
  var database: String?

  @Option(help: "The address to listen on.")
  var host = "127.0.0.1"

  @Option(help: "The port to listen on (0: any free port, printed when listening).")
  var port = 8080

  @Option(help: "The token requests must carry (default: FLOW_SERVER_TOKEN).")
  var token: String?

  func run() async throws {
    let environment = ProcessInfo.processInfo.environment
    let location: RunDatabaseLocation
    do {
      location = try RunDatabaseLocation.resolve(option: database, environment: environment)
    } catch {
      throw ValidationError(error.message)
    }
    if location == .none {
      throw ValidationError("--database none has no runs to serve; name a database")
    }
    let configuration = FlowServerConfiguration(
      host: host, port: port,
      token: token ?? environment["FLOW_SERVER_TOKEN"].flatMap { $0.isEmpty ? nil : $0 })
    do {
      try configuration.validate()
    } catch {
      throw ValidationError(error.message)
    }
    let shown = location.description
    let host = self.host
    do {
      try await location.withStore { store in
        guard let store = store as? any RunStoreBrowsing else {
          throw ValidationError("the store at \(shown) cannot be browsed")
        }
        let server = FlowServer(store: store, configuration: configuration)
        try await server.run { port in
          FileHandle.standardError.write(
            Data("flow server: listening on http://\(host):\(port) (runs from \(shown))\n".utf8))
        }
      }
    } catch let error as RunStoreError {
      throw ServerFailure(description: error.description)
    }
  }
}

/// The server could not start; the message names why.
struct ServerFailure: Error, CustomStringConvertible {
  let description: String
}

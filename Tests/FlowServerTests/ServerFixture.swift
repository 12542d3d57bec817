import FlowCore
import FlowExecutors
import FlowServer
import FlowTesting
import Foundation
import Hummingbird
import HummingbirdTesting

struct Boom: Error, CustomStringConvertible {
  var description: String { "boom" }
}

/// A store holding real recorded runs, and a server over it.
struct ServerFixture {
  let store: any RunStoreDashboard & DeploymentStore
  let server: FlowServer

  /// A server over a new in-memory store.
  init(configuration: FlowServerConfiguration = .init(port: 0)) async throws {
    let store = MemoryRunStore()
    try await store.migrate()
    self.init(store: store, configuration: configuration)
  }

  /// A server over `store`.
  init(
    store: any RunStoreDashboard & DeploymentStore,
    configuration: FlowServerConfiguration = .init(port: 0),
    clock: any WallClock = SystemWallClock()
  ) {
    self.store = store
    server = FlowServer(store: store, configuration: configuration, clock: clock)
  }

  /// Runs `body` with a server over a new, empty store of `kind`, then removes the store.
  static func with(
    _ kind: ServerStoreKind, configuration: FlowServerConfiguration = .init(port: 0),
    clock: any WallClock = SystemWallClock(), _ body: (ServerFixture) async throws -> Void
  ) async throws {
    try await kind.withStore { store in
      try await body(ServerFixture(store: store, configuration: configuration, clock: clock))
    }
  }

  /// extract → map(square) → total with a parameter, and a task whose name is markup.
  static func pipeline(name: String = "pipeline") -> Flow {
    let extract = task("extract") { (count: Int) -> [Int] in Array(1...count) }
    let square = task("square") { (x: Int) -> Int in x * x }
    let total = task("total") { (xs: [Int]) -> Int in xs.reduce(0, +) }
    let hostile = task("<script>alert(1)</script>") { (label: String) -> String in label }
    return Flow(name) {
      let count = Parameter("count", default: 3)
      let label = Parameter("label", default: "plain")
      _ = total(square.map(extract(count)))
      _ = hostile(label)
    }
  }

  /// Records one run of `flow` and returns its ID.
  @discardableResult
  func record(_ flow: Flow, parameters: [String: any Sendable] = [:], seed: UInt64 = 1)
    async throws -> UUID
  {
    let result = try await flow.run(
      parameters: parameters, environment: .testing(seed: seed),
      recorder: RunRecorder(store: store))
    return result.flowRunID
  }

  /// Runs `body` with a test client of the router (no socket).
  func test(_ body: @escaping @Sendable (any TestClientProtocol) async throws -> Void) async throws
  {
    let app = Application(router: server.router())
    try await app.test(.router) { client in try await body(client) }
  }
}

extension TestResponse {
  var text: String { String(buffer: body) }

  func json() throws -> [String: Any] {
    try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] ?? [:]
  }

  /// The error code of a JSON error body.
  var errorCode: String? {
    ((try? json())?["error"] as? [String: Any])?["code"] as? String
  }
}

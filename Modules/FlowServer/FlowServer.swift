import FlowCore
import Foundation
import Hummingbird
import Logging

/// The run-history server: a JSON API, server-rendered pages with live updates over
/// server-sent events, and `/metrics`, over any ``RunStoreBrowsing`` store (stateless over the
/// database: several servers can serve one PostgreSQL).
///
/// ```swift
/// let server = FlowServer(store: store, configuration: .init(port: 8080))
/// try await server.run()
/// ```
public struct FlowServer: Sendable {
  /// The store it reads.
  public let store: any RunStoreBrowsing
  /// How it listens.
  public let configuration: FlowServerConfiguration
  /// Its clock (what "now" is for stale heartbeats; live streams sleep on it).
  public let clock: any WallClock
  /// Its metrics.
  public let metrics: ServerMetrics
  /// Where new runs' IDs come from.
  public let ids: any IDGenerator
  /// Where the cross-site request tokens come from.
  public let random: any RandomSource
  /// The deployments, when the store keeps them (every adapter of this package does).
  var deployments: (any DeploymentStore)? { store as? any DeploymentStore }
  let logger: Logger
  /// The one reader of the store behind every live stream (see ``LiveHub``).
  let hub: LiveHub
  /// The laid-out schematics of the flow versions shown lately.
  let schematics = SchematicCache()

  /// A server over `store`.
  public init(
    store: any RunStoreBrowsing, configuration: FlowServerConfiguration = .init(),
    clock: any WallClock = SystemWallClock(), ids: any IDGenerator = SystemIDGenerator(),
    random: any RandomSource = SystemRandomSource(),
    logger: Logger = Logger(label: "swift-flow.server")
  ) {
    self.store = store
    self.ids = ids
    self.random = random
    self.configuration = configuration
    self.clock = clock
    self.logger = logger
    self.metrics = ServerMetrics()
    self.hub = LiveHub(clock: clock, interval: configuration.pollInterval)
  }

  /// How many times the live streams of this server read the store so far (all tabs share
  /// these reads).
  package var liveStoreReads: Int { hub.reads.load(ordering: .relaxed) }

  /// The routes: the API under `/api`, the pages, the assets and `/metrics`.
  public func router() -> Router<BasicRequestContext> {
    let router = Router()
    router.add(middleware: ErrorMiddleware())
    router.add(middleware: RequestGuard(configuration: configuration))
    let api = APIRoutes(server: self)
    api.register(on: router)
    let pages = PageRoutes(server: self)
    pages.register(on: router)
    DeploymentRoutes(server: self).register(on: router)
    DashboardRoutes(server: self).register(on: router)
    ClusterRoutes(server: self).register(on: router)
    metrics.register(on: router)
    return router
  }

  /// The application: the router on the configured address, with the metrics collector.
  public func application(
    onListening: @escaping @Sendable (Int) async -> Void = { _ in }
  ) throws(FlowServerError) -> some ApplicationProtocol {
    try configuration.validate()
    return Application(
      router: router(),
      configuration: .init(
        address: .hostname(configuration.host, port: configuration.port),
        serverName: "swift-flow"),
      services: [MetricsCollector(server: self)],
      onServerRunning: { channel in await onListening(channel.localAddress?.port ?? 0) },
      logger: logger)
  }

  /// Listens until the task is cancelled or the process gets SIGINT or SIGTERM.
  public func run(onListening: @escaping @Sendable (Int) async -> Void = { _ in }) async throws {
    try await application(onListening: onListening).runService()
  }

  /// The instant before which a Running run's heartbeat is stale.
  var staleBefore: Date { clock.now().adding(.zero - configuration.heartbeatTTL) }
}

extension FlowServer {
  /// The page `/runs/{id}` serves, as HTML (the benchmark times it).
  public func renderRunPage(id: UUID) async throws -> String {
    let run = try await APIRoutes.flowRun(
      id: id.uuidString, store: store, staleBefore: staleBefore)
    return try await PageRoutes(server: self).runPageHTML(run, taskOffset: 0).text
  }

  /// The first page of `/runs` for a filter, as HTML (the benchmark times it).
  public func renderRunList(flowName: String? = nil, state: String? = nil, limit: Int = 50)
    async throws -> String
  {
    try await PageRoutes(server: self).runListHTML(
      RunListFilter(flowName: flowName, state: state, limit: limit)
    ).text
  }
}

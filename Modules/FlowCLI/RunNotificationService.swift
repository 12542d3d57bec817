import FlowCore
import FlowOrchestration
import FlowStorePostgres
import Foundation
import Logging
import ServiceLifecycle

/// Wakes an agent when PostgreSQL announces a claimable run (LISTEN/NOTIFY); the agent keeps
/// polling, so a lost connection only costs latency: it is retried every second.
struct RunNotificationService: Service {
  let store: PostgresRunStore
  let wake: AgentWakeSignal
  let logger: Logger

  func run() async throws {
    await cancelWhenGracefulShutdown {
      while !Task.isCancelled {
        do {
          try await store.listenForDueTimes { wake.raise(dueAt: $0) }
        } catch {
          logger.warning("listening for new runs failed (polling goes on): \(error)")
        }
        try? await SystemWallClock().sleep(for: .seconds(1))
      }
    }
  }
}

extension AgentOptions {
  /// The agent's services: the agent, and on PostgreSQL the listener that wakes it.
  func services(
    store: any DeploymentStore, flows: [Flow], wake: AgentWakeSignal = AgentWakeSignal()
  ) throws -> (agent: AgentService, services: [any Service]) {
    let agent = try agent(store: store, flows: flows, wake: wake)
    guard let postgres = store as? PostgresRunStore else { return (agent, [agent]) }
    let listener = RunNotificationService(store: postgres, wake: wake, logger: try logger())
    return (agent, [agent, listener])
  }
}

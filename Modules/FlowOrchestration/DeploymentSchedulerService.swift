import FlowCore
import Foundation
import Logging
import ServiceLifecycle

/// The scheduler service: creates the upcoming runs of every scheduled deployment in the store
/// (one per deployment and fire time, however many schedulers run: the store's idempotency
/// key decides) and marks runs not started within the grace period Late. The decisions are
/// ``DeploymentSchedulerMachine``'s; this service reads deployments and performs the creations.
public struct DeploymentSchedulerService: Service {
  private let store: any DeploymentStore
  private let options: DeploymentSchedulerMachine.Options
  private let catchUpWindow: Duration
  private let clock: any WallClock
  private let ids: any IDGenerator
  private let logger: Logger
  private let created: (@Sendable (DeploymentRunRecord) -> Void)?

  /// A scheduler over `store`; `created` is told about each new run (to wake a local agent).
  public init(
    store: any DeploymentStore, options: DeploymentSchedulerMachine.Options = .init(),
    catchUpWindow: Duration = .seconds(300), clock: any WallClock = SystemWallClock(),
    ids: any IDGenerator = SystemIDGenerator(),
    logger: Logger = Logger(label: "swift-flow.scheduler"),
    created: (@Sendable (DeploymentRunRecord) -> Void)? = nil
  ) {
    self.store = store
    self.options = options
    self.catchUpWindow = catchUpWindow
    self.clock = clock
    self.ids = ids
    self.logger = logger
    self.created = created
  }

  /// The deployments with a schedule that is not paused, as the machine wants them. The latest
  /// fire time with a run is read only for deployments not in `known` (the machine keeps it for
  /// those): a thousand deployments cost one query per tick, not a thousand and one. `known`
  /// becomes the deployments returned (one whose schedule was removed or paused is read afresh
  /// if it returns; a resumed one runs from its resumption on, without catching up). `names`
  /// becomes each deployment's `PROJECT/NAME`, for the log.
  private func schedules(known: inout Set<UUID>, names: inout [UUID: String]) async throws
    -> [DeploymentSchedule]
  {
    var result: [DeploymentSchedule] = []
    for deployment in try await store.deployments(project: nil) {
      guard let spec = deployment.activeSchedule else { continue }
      names[deployment.id] = deployment.qualifiedName
      do {
        let schedule = try spec.makeSchedule()
        let lastScheduled: Date?
        if known.contains(deployment.id) {
          lastScheduled = nil
        } else {
          // A new deployment's runs start after its registration, not a catch-up window
          // before it.
          lastScheduled = max(
            try await store.latestScheduledFireTime(deploymentID: deployment.id)
              ?? deployment.createdAt,
            deployment.scheduleResumedAt ?? .distantPast)
        }
        result.append(
          DeploymentSchedule(
            deploymentID: deployment.id, schedule: schedule, catchUpWindow: catchUpWindow,
            lastScheduled: lastScheduled))
      } catch {
        logger.error("deployment \(deployment.qualifiedName) has an unusable schedule: \(error)")
      }
    }
    known = Set(result.map(\.deploymentID))
    return result
  }

  /// Runs until cancelled or shut down gracefully.
  public func run() async throws {
    var machine = DeploymentSchedulerMachine(options: options)
    var known: Set<UUID> = []
    var names: [UUID: String] = [:]
    var pending = machine.handle(
      .deployments(try await schedules(known: &known, names: &names), now: clock.now()))
    var failed: [UUID] = []
    while !Task.isCancelled, !Task.isShuttingDownGracefully {
      var wake: Date?
      while !pending.isEmpty {
        let action = pending.removeFirst()
        switch action {
        case .createRuns(let deploymentID, let fireTimes):
          do {
            for fire in fireTimes {
              let creation = try await store.createDeploymentRun(
                .scheduled(
                  runID: ids.next(), deploymentID: deploymentID, fireTime: fire.date,
                  now: clock.now()))
              if creation.created { created?(creation.run) }
            }
            pending += machine.handle(
              .created(
                deploymentID: deploymentID, through: fireTimes.map(\.date).max() ?? clock.now(),
                now: clock.now()))
          } catch {
            if error.code == .schedulePaused || error.code == .unknownDeployment {
              // Paused or deleted since the last reload: the next reload drops it.
              logger.debug("\(error.message)")
            } else {
              // Proposed again after the next sleep, never in a tight loop against a failing
              // store.
              logger.warning("creating scheduled runs failed: \(error)")
            }
            failed.append(deploymentID)
          }
        case .missed(let deploymentID, let count, let first):
          let name = names[deploymentID] ?? deploymentID.uuidString.lowercased()
          // Past `maxAhead` the machine jumps over the rest of an outage without counting.
          let times =
            count == 1
            ? "1 fire time" : "\(count >= options.maxAhead ? "at least " : "")\(count) fire times"
          let message =
            "\(name): no run for \(times) from \(RunStoreReading.iso8601(first)) on, older than "
            + "the catch-up window (\(Int(catchUpWindow.timeInterval)) s) when the scheduler "
            + "reached them"
          logger.warning("\(message)")
        case .markLate(let cutoff):
          do {
            let late = try await store.markLate(scheduledBefore: cutoff, now: clock.now())
            if !late.isEmpty { logger.warning("\(late.count) runs are Late") }
          } catch {
            logger.warning("marking late runs failed: \(error)")
          }
        case .armTimer(let date):
          wake = date
        }
      }
      do {
        try await clock.sleep(until: wake ?? clock.now().addingTimeInterval(1))
      } catch {
        return
      }
      for id in failed {
        pending += machine.handle(.createFailed(deploymentID: id, now: clock.now()))
      }
      failed = []
      // Each tick reloads the deployments (new ones, changed schedules), then lets time pass.
      do {
        pending = machine.handle(
          .deployments(try await schedules(known: &known, names: &names), now: clock.now()))
      } catch {
        logger.warning("reading deployments failed: \(error)")
      }
      pending += machine.handle(.timer(now: clock.now()))
    }
  }
}

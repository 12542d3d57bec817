import FlowClusterProtocol
import Logging
import Synchronization

/// A scheduler on loopback with N worker processes of the current executable
/// (`<executable> worker --connect 127.0.0.1:PORT --token T --threads N`), as Dask's
/// `LocalCluster`. ``start(workers:threadsPerWorker:executable:arguments:logger:)`` returns once
/// every worker has joined; ``stop()`` says goodbye and waits for the processes to exit.
public final class LocalCluster: Sendable {
  /// The scheduler the workers joined.
  public let scheduler: ClusterScheduler
  private let processes: SystemWorkerProcesses
  private let stopping: StopFlag

  private final class StopFlag: Sendable {
    let value = Atomic<Bool>(false)
  }

  /// Replaces workers that exit while the cluster runs, within a budget of restarts.
  private final class Supervisor: Sendable {
    private struct State {
      var processes: SystemWorkerProcesses?
      var ready = false
      var restarts = 0
    }
    private let state = Mutex(State())
    let budget: Int

    init(budget: Int) { self.budget = budget }

    func started(_ processes: SystemWorkerProcesses) {
      state.withLock { $0.processes = processes }
    }

    func markReady() { state.withLock { $0.ready = true } }

    var isReady: Bool { state.withLock { $0.ready } }

    /// The processes and the restart's number, or nil when the budget is spent.
    func takeRestart() -> (SystemWorkerProcesses, Int)? {
      state.withLock { state in
        guard let processes = state.processes, state.restarts < budget else { return nil }
        state.restarts += 1
        return (processes, state.restarts)
      }
    }
  }

  private init(scheduler: ClusterScheduler, processes: SystemWorkerProcesses, stopping: StopFlag) {
    self.scheduler = scheduler
    self.processes = processes
    self.stopping = stopping
  }

  /// The worker processes' IDs.
  public var processIdentifiers: [Int32] { processes.processIdentifiers }

  /// Starts the scheduler and the workers, and waits until all joined.
  ///
  /// - Parameters:
  ///   - workers: How many worker processes.
  ///   - threadsPerWorker: How many attempts each runs at once.
  ///   - executable: The program to start (default: the running executable; it must handle
  ///     `worker --connect HOST:PORT --token T --threads N`).
  ///   - arguments: Arguments before `worker` (for an executable whose worker command is
  ///     nested).
  ///   - workerArguments: Arguments after the worker command's own (e.g. `--results-dir DIR`).
  ///   - machine: Heartbeats, TTL and allowed failures.
  ///   - readyTimeout: How long to wait for the workers to join.
  ///   - maxRestarts: How many worker processes that exit while the cluster runs are replaced
  ///     (default: workers × the machine's allowed failures); past it, the run goes on with the
  ///     workers left, and fails after the machine's `noWorkerTimeout` when none is left.
  ///   - logger: The scheduler's logger.
  public static func start(
    workers: Int, threadsPerWorker: Int = 1, executable: String? = nil, arguments: [String] = [],
    workerArguments: [String] = [],
    machine: ClusterSchedulerStateMachine.Configuration = .init(prefetchPerThread: 1),
    readyTimeout: Duration = .seconds(60), maxRestarts: Int? = nil,
    logger: Logger = Logger(label: "swift-flow.cluster", factory: { _ in SwiftLogNoOpLogHandler() })
  ) async throws -> LocalCluster {
    guard workers >= 1, threadsPerWorker >= 1 else {
      throw ClusterError(
        .invalidArgument,
        "a local cluster needs at least 1 worker with 1 thread, got \(workers) × \(threadsPerWorker)"
      )
    }
    guard let executable = executable ?? SystemProcessInfo.executablePath else {
      throw ClusterError(.workerProcess, "cannot tell the path of the running executable")
    }
    let token = SystemProcessInfo.randomToken()
    let scheduler = try await ClusterScheduler.start(
      .init(
        listen: ClusterAddress(host: "127.0.0.1", port: 0), token: token, machine: machine,
        logger: logger))
    let stopping = StopFlag()
    let supervisor = Supervisor(budget: max(0, maxRestarts ?? workers * machine.allowedFailures))
    let processes: SystemWorkerProcesses
    do {
      processes = try SystemWorkerProcesses(
        count: workers, executable: executable,
        arguments: arguments + [
          "worker", "--connect", "\(scheduler.address)", "--token", token, "--threads",
          "\(threadsPerWorker)",
        ] + workerArguments,
        onExit: { [scheduler] index, status in
          guard !stopping.value.load(ordering: .relaxed) else { return }
          if supervisor.isReady {
            guard let (processes, restart) = supervisor.takeRestart() else {
              logger.error(
                """
                local worker \(index + 1) exited with status \(status); the budget of \
                \(supervisor.budget) restarts is spent, so it is not replaced
                """)
              return
            }
            logger.warning(
              """
              local worker \(index + 1) exited with status \(status); starting a replacement \
              (restart \(restart) of \(supervisor.budget))
              """)
            do {
              try processes.start(index)
            } catch {
              logger.error("cannot restart local worker \(index + 1): \(error)")
            }
            return
          }
          scheduler.fail(
            ClusterError(
              .workerProcess,
              "local worker \(index + 1) (\(executable) worker) exited with status \(status) "
                + "before the cluster was ready; does the executable handle `worker --connect`?"))
        })
    } catch {
      await scheduler.shutdown()
      throw ClusterError(.workerProcess, "cannot start \(executable) worker: \(error)")
    }
    supervisor.started(processes)
    do {
      try await scheduler.waitForWorkers(workers, timeout: readyTimeout)
      supervisor.markReady()
    } catch {
      stopping.value.store(true, ordering: .relaxed)
      await scheduler.shutdown()
      processes.kill()
      await processes.waitForAll()
      throw error
    }
    return LocalCluster(scheduler: scheduler, processes: processes, stopping: stopping)
  }

  /// Says goodbye to the workers, waits for their processes to exit (killing any that lingers
  /// after the scheduler stopped), and stops the scheduler.
  public func stop() async {
    guard !stopping.value.exchange(true, ordering: .relaxed) else { return }
    await scheduler.shutdown()
    await processes.waitForAll()
  }
}

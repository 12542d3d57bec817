import FlowClusterProtocol
import FlowExecutors
import Logging

extension FlowExecutor {
  /// How many task runs a cluster executor keeps in flight: enough that the scheduler sees the
  /// whole ready front and places it by priority.
  static let clusterWidth = 1 << 16

  /// Runs task bodies on a local cluster started for each run: `workers` processes of the
  /// current executable on loopback, stopped when the run ends (Dask's `LocalCluster` with
  /// `autoclose`). The executable must handle `worker --connect HOST:PORT --token T`.
  public static func localCluster(
    workers: Int = 2, threadsPerWorker: Int = 1, executable: String? = nil,
    arguments: [String] = [], workerArguments: [String] = [],
    logger: Logger = Logger(label: "swift-flow.cluster", factory: { _ in SwiftLogNoOpLogHandler() })
  ) -> FlowExecutor {
    FlowExecutor(
      name: "localCluster(workers: \(workers), threadsPerWorker: \(threadsPerWorker))",
      width: clusterWidth,
      backend: LocalClusterBackend(
        workers: workers, threads: threadsPerWorker, executable: executable,
        arguments: arguments, workerArguments: workerArguments, logger: logger))
  }

  /// Runs task bodies on workers that connect to a scheduler listening on `address` for the
  /// run (`worker --connect HOST:PORT --token T` on each machine); the run starts once
  /// `minimumWorkers` joined. A token is required beyond loopback; `tls` adds TLS.
  public static func cluster(
    address: ClusterAddress, token: String? = nil, minimumWorkers: Int = 1,
    tls: ClusterTLS? = nil, readyTimeout: Duration = .seconds(300),
    machine: ClusterSchedulerStateMachine.Configuration = .init(prefetchPerThread: 1),
    logger: Logger = Logger(label: "swift-flow.cluster", factory: { _ in SwiftLogNoOpLogHandler() })
  ) -> FlowExecutor {
    FlowExecutor(
      name: "cluster(\(address))", width: clusterWidth,
      backend: ListeningClusterBackend(
        options: .init(listen: address, token: token, tls: tls, machine: machine, logger: logger),
        minimumWorkers: minimumWorkers, readyTimeout: readyTimeout))
  }

  /// Runs task bodies on an already started scheduler (kept running after the run), for
  /// several runs on one cluster.
  public static func cluster(_ scheduler: ClusterScheduler) -> FlowExecutor {
    FlowExecutor(
      name: "cluster(\(scheduler.address))", width: clusterWidth,
      backend: SharedSchedulerBackend(scheduler: scheduler))
  }

  /// Runs task bodies on an already started local cluster (kept running after the run).
  public static func cluster(_ cluster: LocalCluster) -> FlowExecutor {
    .cluster(cluster.scheduler)
  }
}

struct SchedulerSession: FlowExecutorBatchSession {
  let scheduler: ClusterScheduler
  let onStop: @Sendable () async -> Void
  let run: UInt64

  init(scheduler: ClusterScheduler, onStop: @escaping @Sendable () async -> Void) {
    self.scheduler = scheduler
    self.onStop = onStop
    self.run = scheduler.newRun()
  }

  func invoke(_ call: RemoteTaskCall) async throws -> any Sendable {
    try await scheduler.invoke(call, run: run)
  }

  func start(_ calls: [RemoteTaskCall], outcomes: RemoteOutcomes) {
    scheduler.start(calls, run: run, outcomes: outcomes)
  }

  func cancel(_ outcomes: RemoteOutcomes) { scheduler.cancel(outcomes) }

  func stop() async { await onStop() }
}

struct SharedSchedulerBackend: FlowExecutorBackend {
  let scheduler: ClusterScheduler

  func startSession(for run: RemoteRunInfo) async throws -> any FlowExecutorSession {
    SchedulerSession(scheduler: scheduler, onStop: {})
  }
}

struct ListeningClusterBackend: FlowExecutorBackend {
  let options: ClusterScheduler.Options
  let minimumWorkers: Int
  let readyTimeout: Duration

  func startSession(for run: RemoteRunInfo) async throws -> any FlowExecutorSession {
    let scheduler = try await ClusterScheduler.start(options)
    do {
      try await scheduler.waitForWorkers(minimumWorkers, timeout: readyTimeout)
    } catch {
      await scheduler.shutdown()
      throw error
    }
    return SchedulerSession(scheduler: scheduler, onStop: { await scheduler.shutdown() })
  }
}

struct LocalClusterBackend: FlowExecutorBackend {
  let workers: Int
  let threads: Int
  let executable: String?
  let arguments: [String]
  var workerArguments: [String] = []
  let logger: Logger

  func startSession(for run: RemoteRunInfo) async throws -> any FlowExecutorSession {
    let cluster = try await LocalCluster.start(
      workers: workers, threadsPerWorker: threads, executable: executable, arguments: arguments,
      workerArguments: workerArguments, logger: logger)
    return SchedulerSession(scheduler: cluster.scheduler, onStop: { await cluster.stop() })
  }
}

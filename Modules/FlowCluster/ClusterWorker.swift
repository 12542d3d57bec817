import FlowClusterProtocol
import FlowCore
import Foundation
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import ServiceLifecycle
import Synchronization

/// A worker process's main loop: connects to a scheduler, runs the registered tasks it is
/// assigned, and drains gracefully on graceful shutdown (SIGTERM or SIGINT through a
/// swift-service-lifecycle `ServiceGroup`): finishes its attempts, or hands them back after the
/// drain timeout. ``ClusterWorkerService`` is the same loop as a `Service`.
///
/// ```swift
/// // in the executable's `worker` command:
/// let exit = try await ClusterWorker.run(
///   connect: ClusterAddress("10.0.0.5:8786")!, token: token, threads: 4, flows: [etl, report])
/// ```
public enum ClusterWorker {
  /// Runs a worker until the scheduler says goodbye, the connection drops, or a signal drains
  /// it; returns why it stopped.
  ///
  /// - Parameters:
  ///   - connect: The scheduler's address.
  ///   - token: The scheduler's shared token, if it has one.
  ///   - threads: How many attempts run at once.
  ///   - resources: Abstract resources this worker offers (`["GPU": 2]`).
  ///   - flows: Every flow whose tasks this worker may run (build them the same way as the
  ///     scheduler's process does).
  ///   - name: The worker's name in the scheduler's logs (default `host:pid`).
  ///   - tls: TLS settings (trust roots) when the scheduler uses TLS.
  ///   - drainTimeout: How long a drain waits before handing attempts back.
  ///   - handleSignals: Drain on SIGTERM and SIGINT (runs the worker as a
  ///     ``ClusterWorkerService`` in a `ServiceGroup` that handles them; without it, the
  ///     worker drains on the graceful shutdown of the service group it runs in, if any).
  ///   - maxFrameSize: The largest frame the scheduler accepts: a task output that would not
  ///     fit in one goes in parts.
  ///   - maxOutputSize: The largest task output sent; a bigger one fails its task with a
  ///     message naming the sizes (and the worker stays connected).
  ///   - ownsProcess: The worker is the process (the `worker` command): when its connection
  ///     closes under it (the scheduler died, or dropped it while it was paused), it restarts
  ///     itself at once, abandoning running bodies, to rejoin, or to stop when the scheduler is
  ///     gone. A local cluster's worker also stops when its parent process dies.
  ///   - connectRetry: How long to keep trying to reach a scheduler that is not up yet (or is
  ///     restarting), with backoff from 100 ms to 2 s between attempts; then the worker fails
  ///     with an error naming the address, the attempts and the last failure. Zero: one try.
  ///   - environment: The clock, random source and IDs task bodies see.
  ///   - logger: Where the worker logs its connection events.
  @discardableResult
  public static func run(
    connect: ClusterAddress, token: String? = nil, threads: Int = 1,
    resources: [String: Double] = [:], flows: [Flow], name: String? = nil, tls: ClusterTLS? = nil,
    drainTimeout: Duration = .seconds(30), handleSignals: Bool = true,
    maxFrameSize: Int = ClusterProtocol.defaultMaxFrameSize,
    maxOutputSize: Int = ClusterProtocol.defaultMaxOutputSize, ownsProcess: Bool = false,
    connectRetry: Duration = .zero, environment: RunEnvironment = .system,
    logger: Logger = Logger(label: "swift-flow.worker", factory: { _ in SwiftLogNoOpLogHandler() })
  ) async throws -> ClusterWorkerStateMachine.Exit {
    let service = ClusterWorkerService {
      try await serve(
        connect: connect, token: token, threads: threads, resources: resources, flows: flows,
        name: name, tls: tls, drainTimeout: drainTimeout, maxFrameSize: maxFrameSize,
        maxOutputSize: maxOutputSize, ownsProcess: ownsProcess, connectRetry: connectRetry,
        environment: environment, logger: logger)
    }
    if handleSignals {
      // The worker ending (a goodbye, a drain) ends the group, as a graceful shutdown.
      try await ServiceGroup(
        configuration: .init(
          services: [.init(service: service, successTerminationBehavior: .gracefullyShutdownGroup)],
          gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
      ).run()
    } else {
      try await service.run()
    }
    return service.exit
      ?? ClusterWorkerStateMachine.Exit(
        reason: ClusterCloseReason(.connectionLost, "stopped"), failed: true)
  }

  /// The worker's loop; drains on the graceful shutdown of the service group it runs in.
  static func serve(
    connect: ClusterAddress, token: String?, threads: Int, resources: [String: Double],
    flows: [Flow], name: String?, tls: ClusterTLS?, drainTimeout: Duration, maxFrameSize: Int,
    maxOutputSize: Int, ownsProcess: Bool, connectRetry: Duration = .zero,
    environment: RunEnvironment, logger: Logger
  ) async throws -> ClusterWorkerStateMachine.Exit {
    guard threads >= 1 else {
      throw ClusterError(.invalidArgument, "a worker needs at least 1 thread, got \(threads)")
    }
    let registry = ClusterTaskRegistry(flows: flows)
    let workerName = name ?? SystemProcessInfo.defaultWorkerName
    let configuration = ClusterWorkerStateMachine.Configuration(
      name: workerName, capacity: threads, resources: resources, token: token ?? "",
      flows: registry.flowNames, drainTimeout: drainTimeout,
      // Results of short tasks travel together (at most 0.5 ms late); a chain's never wait.
      resultBatch: 64, resultDelay: .microseconds(500),
      // A runner goes from one short body to the next without waiting for the event loop,
      // and runs a chain's links back to back.
      startAhead: Self.startAheadPerThread * threads, chainsInTransport: true)
    var sslContext: NIOSSLContext?
    if let tls { sslContext = try clientContext(tls) }
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    let parentWatch = ownsProcess ? await ParentProcessWatch.start(on: group, logger: logger) : nil
    let loop = group.next()
    let (commands, continuation) = AsyncStream<WorkerCommand>.makeStream()
    let stops = AttemptStops()
    let queue = WorkerAttemptQueue(threads: threads)
    let core = try await loop.submit {
      NIOLoopBound(
        WorkerCore(
          machine: ClusterWorkerStateMachine(configuration: configuration), commands: continuation,
          logger: logger, loop: loop, maxFrameSize: maxFrameSize, stops: stops, queue: queue,
          registry: registry, clock: environment.clock, ownsProcess: ownsProcess), eventLoop: loop)
    }.get()
    let channel: any Channel
    let clock = environment.clock
    // A worker that restarted itself to rejoin waits only briefly: a scheduler that restarts
    // is back within it, and a worker whose scheduler is gone stops promptly.
    let rejoining =
      ownsProcess && ProcessInfo.processInfo.environment[SystemProcessInfo.rejoinVariable] != nil
    let connectRetry = rejoining ? min(connectRetry, Self.rejoinRetry) : connectRetry
    let giveUpAt = clock.now().addingTimeInterval(connectRetry.timeInterval)
    var attempts = 0
    var backoff = Duration.milliseconds(100)
    while true {
      attempts += 1
      do {
        channel = try await connectOnce(
          connect, group: group, sslContext: sslContext, tls: tls, core: core,
          maxFrameSize: maxFrameSize)
        break
      } catch {
        // A scheduler not up yet (or restarting) is waited for, with backoff, up to the bound.
        if connectRetry > .zero, clock.now() < giveUpAt, !Task.isCancelled {
          logger.notice(
            "scheduler not reachable yet; retrying in \(backoff)",
            metadata: [ClusterLogKeys.scheduler: "\(connect)", "error": "\(error)"])
          do {
            try await clock.sleep(
              until: min(clock.now().addingTimeInterval(backoff.timeInterval), giveUpAt))
          } catch {}
          backoff = min(backoff * 2, .seconds(2))
          continue
        }
        await parentWatch?.stop()
        try? await group.shutdownGracefully()
        let tried =
          connectRetry > .zero
          ? " after \(attempts) attempts over \(connectRetry)" : ""
        let advice =
          connectRetry > .zero
          ? "start the scheduler (`run --executor cluster --listen HOST:PORT`) or wait longer "
            + "with --connect-retry SECONDS"
          : "start the scheduler first, or let the worker wait for it with --connect-retry SECONDS"
        throw ClusterError(
          .network, "cannot connect to the scheduler at \(connect)\(tried): \(error); \(advice)")
      }
    }
    logger.info("worker connected", metadata: [ClusterLogKeys.scheduler: "\(connect)"])
    var exit = ClusterWorkerStateMachine.Exit(
      reason: ClusterCloseReason(.connectionLost, "stopped"), failed: true)
    await withGracefulShutdownHandler {
      await run(
        registry: registry, workerName: workerName, threads: threads, commands: commands,
        loop: loop, core: core, continuation: continuation, environment: environment,
        maxOutputSize: maxOutputSize, ownsProcess: ownsProcess, stops: stops, queue: queue,
        logger: logger, exit: &exit)
    } onGracefulShutdown: {
      loop.execute { core.value.handle(.drainRequested) }
    }
    try? await channel.close()
    await parentWatch?.stop()
    try? await group.shutdownGracefully()
    logger.info("worker stopped: \(exit.reason)")
    return exit
  }

  /// How many attempts per thread a worker starts ahead of a free slot (see
  /// ``ClusterWorkerStateMachine/Configuration/startAhead``): as many as the scheduler queues
  /// per thread for short tasks.
  static let startAheadPerThread = 128

  /// How long a worker that restarted itself to rejoin keeps trying to reach its scheduler.
  static let rejoinRetry = Duration.seconds(3)

  /// How long an attempt cancelled at its deadline may go on ignoring cancellation before the
  /// worker process that runs it is replaced (a hard timeout on a cluster).
  public static let hardTimeoutGrace = Duration.seconds(2)

  /// Runs `assignment`; with `stop`, the body is cancelled when `stop` yields (its attempt's
  /// deadline passed), and this returns only once the body does.
  static func execute(
    _ assignment: ClusterAssignment, registry: ClusterTaskRegistry,
    registered: ClusterTaskRegistry.Registered?, worker: String, environment: RunEnvironment,
    run: ClusterRunContext?, parameters: [String: any Sendable], stop: AsyncStream<Void>?
  ) async -> ClusterTaskResult {
    guard let stop else {
      return await registry.execute(
        assignment, registered, worker: worker, environment: environment, run: run,
        parameters: parameters)
    }
    return await withTaskGroup(of: ClusterTaskResult?.self) { group in
      group.addTask {
        await registry.execute(
          assignment, registered, worker: worker, environment: environment, run: run,
          parameters: parameters)
      }
      group.addTask {
        for await _ in stop { break }
        return nil
      }
      var result: ClusterTaskResult?
      while let next = await group.next() {
        if let next { result = next }
        group.cancelAll()  // the body ended, or was asked to stop: end the other child
      }
      return result
        ?? ClusterTaskResult(
          taskID: assignment.taskID,
          outcome: .failure(code: "cancelled", message: "the attempt was cancelled"))
    }
  }

  /// One connection attempt to the scheduler at `connect`.
  private static func connectOnce(
    _ connect: ClusterAddress, group: MultiThreadedEventLoopGroup, sslContext: NIOSSLContext?,
    tls: ClusterTLS?, core: NIOLoopBound<WorkerCore>, maxFrameSize: Int
  ) async throws -> any Channel {
    let hostname = connect.host
    let context = sslContext
    return try await ClientBootstrap(group: group)
      .channelOption(.socketOption(.tcp_nodelay), value: 1)
      .connectTimeout(.seconds(10))
      .channelInitializer { channel in
        channel.eventLoop.makeCompletedFuture {
          if let context {
            let verify = tls?.verifyHostname ?? true
            try channel.pipeline.syncOperations.addHandler(
              NIOSSLClientHandler(context: context, serverHostname: verify ? hostname : nil))
          }
          try channel.pipeline.syncOperations.addHandlers(
            ByteToMessageHandler(
              ClusterFrameChannelDecoder(maxFrameSize: maxFrameSize)),
            WorkerConnectionHandler(core: core))
        }
      }
      .connect(host: connect.host, port: connect.port).get()
  }

  /// Runs assignments as the event loop's core hands them over, until it says the worker exits.
  private static func run(
    registry: ClusterTaskRegistry, workerName: String, threads: Int,
    commands: AsyncStream<WorkerCommand>, loop: any EventLoop, core: NIOLoopBound<WorkerCore>,
    continuation: AsyncStream<WorkerCommand>.Continuation, environment: RunEnvironment,
    maxOutputSize: Int, ownsProcess: Bool, stops: AttemptStops, queue: WorkerAttemptQueue,
    logger: Logger, exit: inout ClusterWorkerStateMachine.Exit
  ) async {
    await withDiscardingTaskGroup { tasks in
      // At most `threads` bodies run at once, one per runner; the event loop queues started
      // attempts (see WorkerCore.startPending) and a runner takes the next when its body
      // returns, or parks until the event loop hands it one.
      for await command in commands {
        switch command {
        case .startRunners(let slots):
          for slot in slots {
            // A runner on `slot` (the cluster dashboard draws one lane per slot).
            tasks.addTask {
              let wakeLoop: @Sendable () -> Void = { loop.execute { core.value.resultsReady() } }
              var handed = await queue.next(finishedOne: false, handOver: wakeLoop)
              while let (entry, running) = handed {
                let assignment = entry.assignment
                // An attempt of a task with a timeout can be stopped on its own: its body
                // races a cancel signal in a group of its own (other attempts pay nothing).
                let stop =
                  entry.registered?.config.options.timeout != nil
                  ? stops.started(assignment.taskID) : nil
                let started = environment.clock.now()
                var result = Self.fitting(
                  await Self.execute(
                    assignment, registry: registry, registered: entry.registered,
                    worker: workerName, environment: environment, run: entry.run,
                    parameters: entry.parameters, stop: stop), assignment,
                  maxOutputSize: maxOutputSize)
                if stop != nil { stops.ended(assignment.taskID) }
                let ended = environment.clock.now()
                var succeeded = false
                if case .success = result.outcome { succeeded = true }
                result.report = ClusterAttemptReport(
                  worker: "", thread: slot, threads: threads, running: running, started: started,
                  ended: ended, load: entry.load, succeeded: succeeded)
                // A conditional start after this attempt runs next on this slot, at once;
                // results of short bodies go to the event loop together.
                let (handOver, next) = queue.finish(
                  result,
                  ran: WorkerAttemptQueue.Ran(
                    assignment: assignment, seconds: ended.timeIntervalSince(started),
                    ended: ended, taskName: entry.taskName))
                if handOver { wakeLoop() }
                if let next {
                  handed = (next, running)
                } else {
                  handed = await queue.next(finishedOne: true, handOver: wakeLoop)
                }
              }
            }
          }
        case .exit(let reason):
          exit = reason
          if ownsProcess, reason.lostConnection {
            logger.warning(
              """
              worker lost its scheduler with attempts running; restarting to rejoin (or to \
              stop, if the scheduler is gone)
              """)
            SystemProcessInfo.restartToRejoin()
          }
        }
      }
      queue.close()
      tasks.cancelAll()
    }
  }

  /// The result, or a failure naming the sizes when its output would not fit in a frame.
  static func fitting(
    _ result: ClusterTaskResult, _ assignment: ClusterAssignment, maxOutputSize: Int
  )
    -> ClusterTaskResult
  {
    guard case .success(let payload) = result.outcome, payload.count > maxOutputSize else {
      return result
    }
    var failed = result
    failed.outcome = .failure(
      code: ClusterSchedulerStateMachine.FailureCode.outputTooLarge,
      message:
        "the output of task '\(assignment.task)' is \(payload.count) bytes, over the "
        + "\(maxOutputSize) bytes a task output may take on a cluster (`maxOutputSize`); persist "
        + "it in a result store and return its location, or raise `maxOutputSize` on the "
        + "scheduler and the workers")
    return failed
  }

  private static func clientContext(_ tls: ClusterTLS) throws -> NIOSSLContext {
    do {
      var configuration = TLSConfiguration.makeClientConfiguration()
      if let roots = tls.trustRootsPath {
        configuration.trustRoots = .certificates(try NIOSSLCertificate.fromPEMFile(roots))
      }
      if !tls.verifyHostname { configuration.certificateVerification = .noHostnameVerification }
      return try NIOSSLContext(configuration: configuration)
    } catch {
      throw ClusterError(.tls, "cannot set up TLS: \(error)")
    }
  }
}

enum WorkerCommand: Sendable {
  /// Start runners on these slots (attempts wait for them in the queue).
  case startRunners([Int])
  case exit(ClusterWorkerStateMachine.Exit)
}

/// The worker's state, confined to its event loop.
final class WorkerCore {
  var machine: ClusterWorkerStateMachine
  let commands: AsyncStream<WorkerCommand>.Continuation
  let logger: Logger
  let loop: any EventLoop
  var channel: (any Channel)?
  let maxFrameSize: Int
  /// The attempts whose bodies can be stopped, shared with the task loop.
  let stops: AttemptStops
  /// The worker is its process (the `worker` command), which may be replaced.
  let ownsProcess: Bool
  /// Started attempts waiting for a slot, and finished results, shared with the runners.
  let queue: WorkerAttemptQueue
  /// Attempts started by the actions being performed, queued together.
  private var starting: [WorkerAttemptQueue.Entry] = []
  /// Where task bodies and parameter declarations are looked up.
  let registry: ClusterTaskRegistry
  /// Each run's parameters, decoded once (the latest runs only).
  private var decoded: [(run: UInt64, values: [String: any Sendable])] = []
  /// The flow whose task was looked up last, and its tasks (see ``registered(_:)``).
  private var lastFlow: (name: String, tasks: [String: ClusterTaskRegistry.Registered])?
  /// The host's load average, read from /proc at most once a second (reading it for every
  /// attempt cost the cluster's short tasks a file read each).
  private var load: Double?
  private var loadReadAt = Date.distantPast
  /// The clock task bodies see (for when the load average was read).
  let clock: any WallClock
  private var outbox: [ClusterMessage] = []
  private var finishedResults: [ClusterTaskResult] = []
  private var flushScheduled = false

  init(
    machine: ClusterWorkerStateMachine, commands: AsyncStream<WorkerCommand>.Continuation,
    logger: Logger, loop: any EventLoop, maxFrameSize: Int = ClusterProtocol.defaultMaxFrameSize,
    stops: AttemptStops, queue: WorkerAttemptQueue, registry: ClusterTaskRegistry,
    clock: any WallClock, ownsProcess: Bool
  ) {
    self.registry = registry
    self.clock = clock
    self.queue = queue
    self.maxFrameSize = maxFrameSize
    self.stops = stops
    self.ownsProcess = ownsProcess
    self.machine = machine
    self.commands = commands
    self.logger = logger
    self.loop = loop
  }

  func handle(_ event: ClusterWorkerStateMachine.Event) {
    perform(machine.handle(event))
    startPending()
  }

  /// An attempt cancelled at its deadline still runs after the grace period: Swift cannot stop
  /// a body that ignores cancellation, so the process that runs it is replaced (it restarts
  /// and rejoins; the scheduler assigns its other running attempts again). Prefect 1 and Dask
  /// leave such a thread behind for good.
  private func hardTimeoutPassed() {
    let grace = ClusterWorker.hardTimeoutGrace
    guard ownsProcess else {
      logger.error(
        """
        an attempt cancelled at its deadline ignored cancellation for \(grace); an in-process \
        worker cannot be replaced, so the body keeps one of its threads until it returns
        """)
      return
    }
    if machine.isClosed {
      // The worker is leaving anyway: it exits instead of waiting for the body.
      logger.error(
        """
        an attempt cancelled at its deadline ignored cancellation for \(grace); the worker is \
        stopping and exits without it
        """)
      SystemProcessInfo.terminate(status: 1)
    }
    logger.error(
      """
      an attempt cancelled at its deadline ignored cancellation for \(grace); replacing this \
      worker process (the scheduler assigns its other running attempts again)
      """)
    // Closed first, so that the scheduler learns at once (the socket would outlive `exec`).
    let restart: @Sendable (Result<Void, any Error>) -> Void = { _ in
      SystemProcessInfo.restartToRejoin()
      SystemProcessInfo.terminate(status: 1)
    }
    guard let channel else { return restart(.success(())) }
    channel.close().whenComplete(restart)
  }

  /// Takes the results the runners finished since the last hand-over and sends them.
  func resultsReady() {
    finishedResults.append(contentsOf: queue.takeResults())
    flush()
  }

  private func scheduleFlush() {
    guard !flushScheduled, !machine.isClosed else { return }
    flushScheduled = true
    loop.assumeIsolated().execute { [self] in flush() }
  }

  private func flush() {
    flushScheduled = false
    if !finishedResults.isEmpty {
      let results = finishedResults
      finishedResults.removeAll(keepingCapacity: true)
      var sends: [ClusterTaskResult] = []
      for result in results {
        for action in machine.handle(.taskFinished(result)) {
          if case .send(let messages) = action, messages.count == 1,
            case .results(let list) = messages[0]
          {
            sends.append(contentsOf: list)
          } else {
            if !sends.isEmpty {
              outbox.append(.results(sends))
              sends.removeAll()
            }
            perform([action])
          }
        }
      }
      if !sends.isEmpty { outbox.append(.results(sends)) }
      startPending()
    }
    guard !outbox.isEmpty, let channel else { return }
    for frame in Self.frames(outbox, maxFrameSize: maxFrameSize) {
      channel.write(channel.allocator.buffer(bytes: frame), promise: nil)
    }
    channel.flush()
    outbox.removeAll(keepingCapacity: true)
  }

  /// `messages` in one frame, or, when that would exceed the scheduler's limit, one frame per
  /// message and per result; an output bigger than half a frame goes ahead of its result in
  /// ``ClusterMessage/outputPart(_:_:)`` frames.
  static func frames(_ messages: [ClusterMessage], maxFrameSize: Int) -> [[UInt8]] {
    let most = ClusterWireFormat.maxMessagesFromWorker
    if messages.count > most {
      return stride(from: 0, to: messages.count, by: most).flatMap { start in
        frames(
          Array(messages[start..<min(messages.count, start + most)]), maxFrameSize: maxFrameSize)
      }
    }
    let frame = ClusterWireFormat.encodeFrame(messages)
    guard frame.count - ClusterWireFormat.prefixSize > maxFrameSize else { return [frame] }
    let partSize = max(1, maxFrameSize / 2)
    return messages.flatMap { message -> [[UInt8]] in
      guard case .results(let results) = message else {
        return [ClusterWireFormat.encodeFrame([message])]
      }
      return results.flatMap { result -> [[UInt8]] in
        guard case .success(let payload) = result.outcome, payload.count > partSize else {
          return [ClusterWireFormat.encodeFrame([.results([result])])]
        }
        var frames: [[UInt8]] = []
        var start = 0
        while payload.count - start > partSize {
          let part = Array(payload[start..<(start + partSize)])
          frames.append(ClusterWireFormat.encodeFrame([.outputPart(result.taskID, part)]))
          start += partSize
        }
        var last = result
        last.outcome = .success(Array(payload[start...]))
        frames.append(ClusterWireFormat.encodeFrame([.results([last])]))
        return frames
      }
    }
  }

  /// Queues the attempts started by the actions performed, for the runners (parked ones get
  /// them directly; new runners start on free slots).
  private func startPending() {
    guard !starting.isEmpty else { return }
    let slots = queue.add(starting)
    starting.removeAll(keepingCapacity: true)
    if !slots.isEmpty { commands.yield(.startRunners(slots)) }
  }

  /// The parameters of `assignment`'s run, decoded once per run.
  private func parameters(_ assignment: ClusterAssignment, _ run: ClusterRunContext?) -> [String:
    any Sendable]
  {
    guard let run else { return [:] }
    if let known = decoded.last(where: { $0.run == run.run }) { return known.values }
    let (values, undecodable) = registry.parameters(flow: assignment.flow, json: run.parameters)
    if !undecodable.isEmpty {
      logger.warning(
        """
        parameters \(undecodable) of flow '\(assignment.flow)' do not decode with this \
        worker's declarations and are missing from task contexts; run workers built from \
        the same source as the scheduler
        """)
    }
    decoded.append((run.run, values))
    if decoded.count > ClusterWorkerStateMachine.keptRunContexts { decoded.removeFirst() }
    return values
  }

  /// The registered task of `assignment`. Assignments of one flow come in runs: its tasks are
  /// kept from the last lookup (a short name compares without hashing), so that only the slug
  /// is looked up.
  private func registered(_ assignment: ClusterAssignment) -> ClusterTaskRegistry.Registered? {
    if let last = lastFlow, last.name == assignment.flow { return last.tasks[assignment.task] }
    guard let tasks = registry.tasks(inFlow: assignment.flow) else { return nil }
    lastFlow = (assignment.flow, tasks)
    return tasks[assignment.task]
  }

  /// The host's load average, read at most once a second.
  private func hostLoad() -> Double? {
    let now = clock.now()
    if now.timeIntervalSince(loadReadAt) < 1 { return load }
    load = SystemProcessInfo.loadAverage()
    loadReadAt = now
    return load
  }

  private func perform(_ actions: [ClusterWorkerStateMachine.Action]) {
    for action in actions {
      switch action {
      case .send(let messages):
        outbox.append(contentsOf: messages)
        scheduleFlush()
      case .run(var assignment):
        // Without chainsInTransport the machine releases a conditional start itself, on its
        // upstream's output: it runs now (the queue keeps one with `after` for its upstream).
        if !machine.configuration.chainsInTransport { assignment.after = nil }
        let run = machine.runContext(assignment.run)
        let registered = registered(assignment)
        starting.append(
          WorkerAttemptQueue.Entry(
            assignment: assignment, run: run, parameters: parameters(assignment, run),
            load: hostLoad(), taskName: registered?.name, registered: registered))
      case .cancel(let ids):
        // The machine drops their results. Bodies of tasks with a timeout are cancelled; one
        // that ignores it past the grace period has its process replaced (a hard timeout).
        // Other bodies finish on their own.
        logger.debug("worker cancelled \(ids.count) attempts")
        queue.drop(ids)
        for id in ids where stops.cancel(id) {
          loop.assumeIsolated().scheduleTask(in: ClusterWorker.hardTimeoutGrace.timeAmount) {
            [self] in
            if stops.isStuck(id) { hardTimeoutPassed() }
          }
        }
      case .startTimer(let timer, let after):
        guard !machine.isClosed else { continue }
        loop.assumeIsolated().scheduleTask(in: after.timeAmount) { [self] in
          handle(.timerFired(timer))
        }
      case .close(let reason):
        logger.info("worker closing its connection: \(reason)")
        if let channel {
          if !outbox.isEmpty {
            channel.write(
              channel.allocator.buffer(bytes: ClusterWireFormat.encodeFrame(outbox)), promise: nil)
            outbox.removeAll()
          }
          channel.writeAndFlush(channel.allocator.buffer(capacity: 0)).whenComplete { _ in
            channel.close(promise: nil)
          }
        }
      case .exit(let exit):
        commands.yield(.exit(exit))
        commands.finish()
      }
    }
  }
}

/// Feeds the connection's events to the worker.
final class WorkerConnectionHandler: ChannelInboundHandler {
  typealias InboundIn = [ClusterMessage]
  let core: NIOLoopBound<WorkerCore>

  init(core: NIOLoopBound<WorkerCore>) { self.core = core }

  func channelActive(context: ChannelHandlerContext) {
    core.value.channel = context.channel
    core.value.handle(.connected)
    context.fireChannelActive()
  }

  func channelRead(context: ChannelHandlerContext, data: NIOAny) {
    let messages = unwrapInboundIn(data)
    if case .welcome = messages.first { SystemProcessInfo.joined() }
    core.value.handle(.messagesReceived(messages))
  }

  func errorCaught(context: ChannelHandlerContext, error: any Error) {
    if let problem = error as? ClusterProtocolError {
      core.value.handle(.protocolViolation(problem))
    }
    context.close(promise: nil)
  }

  func channelInactive(context: ChannelHandlerContext) {
    core.value.handle(.connectionLost)
    context.fireChannelInactive()
  }
}

/// A cluster worker as a swift-service-lifecycle `Service`: it connects, runs its assignments,
/// and drains on the group's graceful shutdown (finishes its attempts, or hands them back after
/// the drain timeout). ``ClusterWorker/run(connect:token:threads:resources:flows:name:tls:drainTimeout:handleSignals:maxFrameSize:maxOutputSize:ownsProcess:connectRetry:environment:logger:)``
/// runs one in a `ServiceGroup` that turns SIGTERM and SIGINT into that graceful shutdown.
public final class ClusterWorkerService: Service, Sendable {
  private let body: @Sendable () async throws -> ClusterWorkerStateMachine.Exit
  private let outcome = Mutex<ClusterWorkerStateMachine.Exit?>(nil)

  init(_ body: @escaping @Sendable () async throws -> ClusterWorkerStateMachine.Exit) {
    self.body = body
  }

  /// A worker of `flows` that joins the scheduler at `connect` (see ``ClusterWorker`` for the
  /// parameters).
  public convenience init(
    connect: ClusterAddress, token: String? = nil, threads: Int = 1,
    resources: [String: Double] = [:], flows: [Flow], name: String? = nil, tls: ClusterTLS? = nil,
    drainTimeout: Duration = .seconds(30), environment: RunEnvironment = .system,
    logger: Logger = Logger(label: "swift-flow.worker", factory: { _ in SwiftLogNoOpLogHandler() })
  ) {
    self.init {
      try await ClusterWorker.serve(
        connect: connect, token: token, threads: threads, resources: resources, flows: flows,
        name: name, tls: tls, drainTimeout: drainTimeout,
        maxFrameSize: ClusterProtocol.defaultMaxFrameSize,
        maxOutputSize: ClusterProtocol.defaultMaxOutputSize, ownsProcess: false,
        environment: environment, logger: logger)
    }
  }

  /// Why the worker stopped, once ``run()`` returned.
  public var exit: ClusterWorkerStateMachine.Exit? { outcome.withLock { $0 } }

  /// Runs the worker until the scheduler says goodbye, the connection drops, or a graceful
  /// shutdown drains it.
  public func run() async throws {
    let exit = try await body()
    outcome.withLock { $0 = exit }
  }
}

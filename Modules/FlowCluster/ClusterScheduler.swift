import FlowClusterProtocol
import FlowExecutors
import Logging
import NIOCore
import NIOPosix
import NIOSSL
import ServiceLifecycle
import Synchronization

/// The scheduler's network side: a TCP (optionally TLS) server whose connections feed one
/// ``ClusterSchedulerStateMachine`` on one event loop, and the engine's way in
/// (``invoke(_:)``). Start it with ``start(_:)``; stop it with ``shutdown()``.
public final class ClusterScheduler: Sendable {
  /// How to listen and whom to admit.
  public struct Options: Sendable {
    /// Where to listen (port 0 picks a free one; see ``ClusterScheduler/address``).
    public var listen: ClusterAddress
    /// The shared secret; required when ``listen`` is not a loopback address.
    public var token: String?
    /// TLS with the scheduler's certificate and key; nil for plain TCP.
    public var tls: ClusterTLS?
    /// Heartbeats, TTL, allowed failures, batch size.
    public var machine: ClusterSchedulerStateMachine.Configuration
    /// The largest accepted frame (after the handshake; before it, a hello of at most
    /// ``ClusterWireFormat/maxHandshakeFrameSize``).
    public var maxFrameSize: Int
    /// How many connections may be in their handshake at once, and how failed handshakes are
    /// throttled per peer address.
    public var admission: ClusterAdmissionStateMachine.Configuration
    /// Where connection events, refusals and dropped frames are logged.
    public var logger: Logger

    /// Creates options.
    public init(
      listen: ClusterAddress, token: String? = nil, tls: ClusterTLS? = nil,
      machine: ClusterSchedulerStateMachine.Configuration = .init(prefetchPerThread: 1),
      maxFrameSize: Int = ClusterProtocol.defaultMaxFrameSize,
      admission: ClusterAdmissionStateMachine.Configuration = .init(),
      logger: Logger = Logger(
        label: "swift-flow.cluster", factory: { _ in SwiftLogNoOpLogHandler() })
    ) {
      self.listen = listen
      self.token = token
      self.tls = tls
      self.machine = machine
      self.maxFrameSize = maxFrameSize
      self.admission = admission
      self.logger = logger
    }
  }

  /// The address the scheduler listens on (with the port it was given).
  public let address: ClusterAddress
  private let group: MultiThreadedEventLoopGroup
  private let loop: any EventLoop
  private let core: NIOLoopBound<SchedulerCore>
  private let server: any Channel
  private let nextID = Atomic<UInt64>(0)
  private let nextRun = Atomic<UInt64>(0)
  /// Set when ``shutdown()`` begins: later calls fail at once instead of waiting on a loop that
  /// is gone.
  private let stopped = Atomic<Bool>(false)

  private init(
    address: ClusterAddress, group: MultiThreadedEventLoopGroup, core: NIOLoopBound<SchedulerCore>,
    server: any Channel
  ) {
    self.address = address
    self.group = group
    self.loop = core.eventLoop
    self.core = core
    self.server = server
  }

  /// Starts listening. Refuses to listen beyond loopback without a token.
  public static func start(_ options: Options) async throws -> ClusterScheduler {
    var options = options
    if options.token?.isEmpty == true { options.token = nil }
    if !options.listen.isLoopback, options.token == nil {
      throw ClusterError(
        .insecureListen,
        "refusing to listen on \(options.listen) without a token: any machine that reaches it "
          + "could join as a worker and receive task inputs. Pass a shared token (`--token`), "
          + "or listen on 127.0.0.1")
    }
    var ssl: NIOSSLContext?
    if let tls = options.tls {
      ssl = try serverContext(tls)
    }
    options.machine.token = options.token
    let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
    let loop = group.next()
    let machine = options.machine
    let logger = options.logger
    let admission = options.admission
    let core = try await loop.submit {
      NIOLoopBound(
        SchedulerCore(machine: machine, admission: admission, logger: logger, loop: loop),
        eventLoop: loop)
    }.get()
    let maxFrameSize = options.maxFrameSize
    let token = options.token
    let sslContext = ssl
    do {
      let server = try await ServerBootstrap(group: group)
        .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
        .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
        .childChannelInitializer { channel in
          channel.eventLoop.makeCompletedFuture {
            let id = core.value.newConnectionID()
            if let sslContext {
              try channel.pipeline.syncOperations.addHandler(
                NIOSSLServerHandler(context: sslContext))
            }
            try channel.pipeline.syncOperations.addHandlers(
              ByteToMessageHandler(
                ClusterFrameChannelDecoder(maxFrameSize: maxFrameSize, handshakeToken: token),
                maximumBufferSize: ClusterFrameChannelDecoder.bufferLimit(
                  maxFrameSize: maxFrameSize)),
              SchedulerConnectionHandler(id: id, core: core))
          }
        }
        .bind(host: options.listen.host, port: options.listen.port).get()
      let port = server.localAddress?.port ?? options.listen.port
      let address = ClusterAddress(host: options.listen.host, port: port)
      logger.info("cluster scheduler listening", metadata: [ClusterLogKeys.address: "\(address)"])
      return ClusterScheduler(address: address, group: group, core: core, server: server)
    } catch {
      try? await group.shutdownGracefully()
      throw ClusterError(.network, "cannot listen on \(options.listen): \(error)")
    }
  }

  private static func serverContext(_ tls: ClusterTLS) throws -> NIOSSLContext {
    guard let certificate = tls.certificatePath, let key = tls.privateKeyPath else {
      throw ClusterError(
        .tls, "TLS on the scheduler needs both a certificate and a private key (PEM files)")
    }
    do {
      let chain = try NIOSSLCertificate.fromPEMFile(certificate).map {
        NIOSSLCertificateSource.certificate($0)
      }
      let configuration = TLSConfiguration.makeServerConfiguration(
        certificateChain: chain,
        privateKey: .privateKey(try NIOSSLPrivateKey(file: key, format: .pem)))
      return try NIOSSLContext(configuration: configuration)
    } catch {
      throw ClusterError(.tls, "cannot load the TLS certificate or key: \(error)")
    }
  }

  /// The workers that finished their handshake.
  public var workers: [ClusterWorkerInfo] {
    get async {
      (try? await loop.submit { [core] in core.value.machine.workers }.get()) ?? []
    }
  }

  /// Returns once `count` workers have joined; throws after `timeout`, or when ``fail(_:)``
  /// reports a reason none will come.
  public func waitForWorkers(_ count: Int, timeout: Duration) async throws {
    guard !stopped.load(ordering: .acquiring) else {
      throw ClusterError(.stopped, "the cluster scheduler at \(address) has shut down")
    }
    try await withCheckedThrowingContinuation {
      (continuation: CheckedContinuation<Void, any Error>) in
      loop.execute { [core] in
        core.value.waitForWorkers(count, timeout: timeout, continuation)
      }
    }
  }

  /// Fails every ``waitForWorkers(_:timeout:)`` in progress with `error`.
  public func fail(_ error: ClusterError) {
    loop.execute { [core] in core.value.failWaiters(error) }
  }

  /// A new flow run's number (for ``invoke(_:run:)``).
  func newRun() -> UInt64 { nextRun.add(1, ordering: .relaxed).newValue }

  /// Runs one attempt on some worker and returns its output; the worker's task context gets
  /// the flow run's ID, parameters and scheduled start.
  public func invoke(_ call: RemoteTaskCall) async throws -> any Sendable {
    try await invoke(call, run: newRun())
  }

  /// Runs one attempt of flow run number `run` (one ``newRun()`` per flow run, so that each
  /// worker gets the run's context once).
  func invoke(_ call: RemoteTaskCall, run: UInt64) async throws -> any Sendable {
    try Task.checkCancellation()
    guard !stopped.load(ordering: .acquiring) else {
      throw RemoteTaskError(
        code: .shutdown,
        message:
          "the cluster scheduler at \(address) has shut down; start a new one (or a new local "
          + "cluster) for this run")
    }
    let id = nextID.add(1, ordering: .relaxed).newValue
    let submission = try Self.submission(call, id: id, run: run, context: context(call, run: run))
    let (result, worker) = try await withTaskCancellationHandler {
      try await withCheckedThrowingContinuation {
        (continuation: CheckedContinuation<(ClusterTaskResult, String), any Error>) in
        loop.execute { [core] in core.value.submit(submission, call, continuation) }
      }
    } onCancel: {
      loop.execute { [core] in core.value.cancel(id) }
    }
    return try ClusterRemoteCoding.value(result, call, worker: worker)
  }

  /// Starts attempts of flow run number `run`; each one's outcome goes to `outcomes` (one
  /// delivery for all that end together).
  func start(_ calls: [RemoteTaskCall], run: UInt64, outcomes: RemoteOutcomes) {
    guard !stopped.load(ordering: .acquiring) else {
      let error = RemoteTaskError(
        code: .shutdown,
        message:
          "the cluster scheduler at \(address) has shut down; start a new one (or a new local "
          + "cluster) for this run")
      outcomes.deliver(calls.map { RemoteOutcome(call: $0, result: .failure(error)) })
      return
    }
    guard let first = calls.first else { return }
    let context = context(first, run: run)
    let last = nextID.add(UInt64(calls.count), ordering: .relaxed).newValue
    var submissions: [(ClusterTaskSubmission, RemoteTaskCall)] = []
    submissions.reserveCapacity(calls.count)
    var refused: [RemoteOutcome] = []
    // IDs of this batch's calls, for the conditional starts among them.
    var ids: [ObjectIdentifier: ClusterTaskID] = [:]
    let chained = calls.contains { $0.runsAfter != nil }
    for (offset, call) in calls.enumerated() {
      do {
        let id = last - UInt64(calls.count) + UInt64(offset) + 1
        var submission = try Self.submission(call, id: id, run: run, context: context)
        if let upstream = call.runsAfter {
          guard let after = ids[ObjectIdentifier(upstream)] else {
            throw RemoteTaskError(
              code: .notRun,
              message: "not run: the attempt it runs after was not started with it")
          }
          submission.assignment.after = after
        }
        if chained { ids[ObjectIdentifier(call)] = id }
        submissions.append((submission, call))
      } catch {
        refused.append(RemoteOutcome(call: call, result: .failure(error)))
      }
    }
    outcomes.deliver(refused)
    guard !submissions.isEmpty else { return }
    loop.execute { [core, submissions] in core.value.submit(submissions, outcomes) }
  }

  /// Cancels every unfinished attempt started with `outcomes`.
  func cancel(_ outcomes: RemoteOutcomes) {
    loop.execute { [core] in core.value.cancel(outcomes) }
  }

  private func context(_ call: RemoteTaskCall, run: UInt64) -> ClusterRunContext {
    ClusterRunContext(
      run: run, flowRunID: call.run.flowRunID,
      scheduledStartTime: call.run.scheduledStartTime.timeIntervalSince1970,
      parameters: call.run.parametersJSON)
  }

  private static func submission(
    _ call: RemoteTaskCall, id: ClusterTaskID, run: UInt64, context: ClusterRunContext
  ) throws -> ClusterTaskSubmission {
    var assignment = try ClusterRemoteCoding.assignment(call, id: id)
    assignment.run = run
    assignment.taskRunID = call.taskRunID
    return ClusterTaskSubmission(
      assignment: assignment, priority: call.options.priority, resources: call.options.resources,
      context: context, taskName: call.taskName)
  }

  /// Asks one worker to finish its attempts and leave.
  public func drain(worker: ConnectionID) {
    loop.execute { [core] in core.value.handle(.drainWorker(worker)) }
  }

  /// Says goodbye to every worker, fails what is unfinished, and stops listening.
  public func shutdown() async {
    guard !stopped.exchange(true, ordering: .acquiringAndReleasing) else { return }
    let closed = loop.flatSubmit { [core, server] in
      core.value.handle(.shutdown)
      core.value.flushAll()
      return server.close().flatMap { core.value.allClosed() }
    }
    try? await closed.get()
    try? await group.shutdownGracefully()
  }
}

/// The scheduler's state, confined to its event loop.
final class SchedulerCore {
  var machine: ClusterSchedulerStateMachine
  private var admission: ClusterAdmissionStateMachine
  /// Each connection's peer address, for the log lines about it.
  private var peers: [ConnectionID: String] = [:]
  let logger: Logger
  let loop: any EventLoop
  private var lastConnection: UInt64 = 0
  private var channels: [ConnectionID: any Channel] = [:]
  private var closing: [EventLoopFuture<Void>] = []
  /// Who waits for an attempt's outcome.
  private enum Reply {
    /// One ``ClusterScheduler/invoke(_:run:)``.
    case one(CheckedContinuation<(ClusterTaskResult, String), any Error>)
    /// A run's mailbox (``ClusterScheduler/start(_:run:outcomes:)``).
    case batch(RemoteOutcomes)
  }
  private var waiting: [ClusterTaskID: (reply: Reply, call: RemoteTaskCall)] = [:]
  /// Outcomes for mailboxes, delivered once the event that ended them is handled.
  private var deliveries: [(outcomes: RemoteOutcomes, list: [RemoteOutcome])] = []
  private var submissions: [ClusterTaskSubmission] = []
  /// True when an attempt was cancelled since the last flush: buffered submissions are then
  /// checked against `waiting` before they reach the machine.
  private var cancelledSinceFlush = false
  private var outbox: [ConnectionID: [ClusterMessage]] = [:]
  private var flushScheduled = false
  private var waiters: [(count: Int, continuation: CheckedContinuation<Void, any Error>)] = []

  init(
    machine: ClusterSchedulerStateMachine.Configuration,
    admission: ClusterAdmissionStateMachine.Configuration, logger: Logger, loop: any EventLoop
  ) {
    self.machine = ClusterSchedulerStateMachine(configuration: machine)
    self.admission = ClusterAdmissionStateMachine(configuration: admission)
    self.logger = logger
    self.loop = loop
  }

  func newConnectionID() -> ConnectionID {
    lastConnection += 1
    return ConnectionID(lastConnection)
  }

  /// A connection opened: admitted, it starts its handshake; refused, it is closed unread.
  /// Returns whether it was admitted.
  func opened(_ id: ConnectionID, _ channel: any Channel) -> Bool {
    let peer = channel.remoteAddress?.ipAddress ?? "an unknown address"
    var admitted = false
    for action in admission.handle(.opened(id, peer: peer)) {
      switch action {
      case .admit:
        admitted = true
      case .refuse(_, let peer, let reason, let log):
        guard log else { continue }
        logger.warning(
          "cluster connection refused before reading it: \(reason)",
          metadata: [ClusterLogKeys.connection: "\(id)", ClusterLogKeys.peer: "\(peer)"])
      case .forgetFailure: break
      }
    }
    guard admitted else { return false }
    peers[id] = peer
    channels[id] = channel
    handle(.connectionOpened(id))
    return true
  }

  func closed(_ id: ConnectionID) {
    guard peers[id] != nil else { return }
    channels[id] = nil
    outbox[id] = nil
    handle(.connectionClosed(id))
    peers[id] = nil
    for action in admission.handle(.closed(id)) {
      if case .forgetFailure(let peer, let after) = action {
        loop.assumeIsolated().scheduleTask(in: after.timeAmount) { [self] in
          _ = admission.handle(.failureExpired(peer: peer))
        }
      }
    }
  }

  func handle(_ event: ClusterSchedulerStateMachine.Event) {
    perform(machine.handle(event))
    deliver()
  }

  /// Hands the outcomes of the event just handled to their runs: one wake-up per run.
  private func deliver() {
    guard !deliveries.isEmpty else { return }
    let all = deliveries
    deliveries.removeAll(keepingCapacity: true)
    for (outcomes, list) in all { outcomes.deliver(list) }
  }

  func submit(
    _ submission: ClusterTaskSubmission, _ call: RemoteTaskCall,
    _ continuation: CheckedContinuation<(ClusterTaskResult, String), any Error>
  ) {
    guard !machine.isStopped else {
      continuation.resume(
        throwing: RemoteTaskError(code: .shutdown, message: "the cluster has shut down"))
      return
    }
    waiting[submission.taskID] = (.one(continuation), call)
    submissions.append(submission)
    scheduleFlush()
  }

  /// Submits a run's attempts whose outcomes go to `outcomes`.
  func submit(
    _ batch: [(ClusterTaskSubmission, RemoteTaskCall)], _ outcomes: RemoteOutcomes
  ) {
    guard !machine.isStopped else {
      let error = RemoteTaskError(code: .shutdown, message: "the cluster has shut down")
      outcomes.deliver(batch.map { RemoteOutcome(call: $0.1, result: .failure(error)) })
      return
    }
    for (submission, call) in batch {
      waiting[submission.taskID] = (.batch(outcomes), call)
      submissions.append(submission)
    }
    scheduleFlush()
  }

  func cancel(_ id: ClusterTaskID) {
    guard let (reply, _) = waiting.removeValue(forKey: id) else { return }
    cancelledSinceFlush = true
    if case .one(let continuation) = reply { continuation.resume(throwing: CancellationError()) }
    handle(.cancel(id))
  }

  /// Cancels every unfinished attempt whose outcome goes to `outcomes`.
  func cancel(_ outcomes: RemoteOutcomes) {
    var ids: [ClusterTaskID] = []
    var cancelled: [RemoteOutcome] = []
    for (id, waiter) in waiting {
      guard case .batch(let receiver) = waiter.reply, receiver === outcomes else { continue }
      ids.append(id)
      cancelled.append(RemoteOutcome(call: waiter.call, result: .failure(CancellationError())))
    }
    cancelledSinceFlush = cancelledSinceFlush || !ids.isEmpty
    for id in ids.sorted() {
      waiting[id] = nil
      handle(.cancel(id))
    }
    outcomes.deliver(cancelled)
  }

  func waitForWorkers(
    _ count: Int, timeout: Duration, _ continuation: CheckedContinuation<Void, any Error>
  ) {
    if machine.workers.count >= count { return continuation.resume() }
    waiters.append((count, continuation))
    loop.assumeIsolated().scheduleTask(in: timeout.timeAmount) { [self] in
      let joined = machine.workers.count
      failWaiters(
        ClusterError(
          .notEnoughWorkers,
          "only \(joined) of \(count) workers joined within \(timeout); start workers with "
            + "`worker --connect HOST:PORT --token T` (and check their logs)"))
    }
  }

  func failWaiters(_ error: ClusterError) {
    let all = waiters
    waiters.removeAll()
    for waiter in all { waiter.continuation.resume(throwing: error) }
  }

  private func scheduleFlush() {
    guard !flushScheduled, !machine.isStopped else { return }
    flushScheduled = true
    loop.assumeIsolated().execute { [self] in flushAll() }
  }

  /// Hands the buffered submissions to the machine (one batch), then writes one frame per
  /// connection with everything queued for it.
  func flushAll() {
    flushScheduled = false
    if !submissions.isEmpty {
      let batch =
        cancelledSinceFlush ? submissions.filter { waiting[$0.taskID] != nil } : submissions
      // The room of a wide front's burst is not kept for the scheduler's lifetime.
      submissions.removeAll(keepingCapacity: submissions.count <= 4096)
      cancelledSinceFlush = false
      if !batch.isEmpty { handle(.submit(batch)) }
    }
    for (id, messages) in outbox where !messages.isEmpty {
      guard let channel = channels[id] else { continue }
      let frame = ClusterWireFormat.encodeFrame(messages)
      channel.writeAndFlush(channel.allocator.buffer(bytes: frame), promise: nil)
    }
    outbox.removeAll(keepingCapacity: true)
  }

  func allClosed() -> EventLoopFuture<Void> {
    EventLoopFuture.andAllComplete(closing, on: loop)
  }

  private func perform(_ actions: [ClusterSchedulerStateMachine.Action]) {
    for action in actions {
      switch action {
      case .send(let id, let messages):
        outbox[id, default: []].append(contentsOf: messages)
        scheduleFlush()
      case .close(let id, let reason):
        if let messages = outbox.removeValue(forKey: id), let channel = channels[id] {
          channel.write(
            channel.allocator.buffer(bytes: ClusterWireFormat.encodeFrame(messages)), promise: nil)
        }
        if let channel = channels.removeValue(forKey: id) {
          let promise = loop.makePromise(of: Void.self)
          channel.writeAndFlush(channel.allocator.buffer(capacity: 0)).whenComplete { _ in
            channel.close(promise: promise)
          }
          closing.append(promise.futureResult.recover { _ in })
        }
        logger.log(
          level: machine.isStopped || reason.isExpected ? .info : .warning,
          "cluster connection closed: \(reason)",
          metadata: [
            ClusterLogKeys.connection: "\(id)", ClusterLogKeys.peer: "\(peers[id] ?? "unknown")",
            ClusterLogKeys.closeCode: "\(reason.code)",
          ])
      case .startTimer(let timer, let after):
        guard !machine.isStopped else { continue }
        loop.assumeIsolated().scheduleTask(in: after.timeAmount) { [self] in
          handle(.timerFired(timer))
        }
      case .taskFinished(let result, let worker):
        guard let (reply, call) = waiting.removeValue(forKey: result.taskID) else { continue }
        switch reply {
        case .one(let continuation):
          continuation.resume(returning: (result, worker))
        case .batch(let outcomes):
          let outcome = RemoteOutcome(
            call: call,
            result: Result { try ClusterRemoteCoding.value(result, call, worker: worker) })
          if let last = deliveries.indices.last, deliveries[last].outcomes === outcomes {
            deliveries[last].list.append(outcome)
          } else {
            deliveries.append((outcomes, [outcome]))
          }
        }
      case .taskCrashed(let id, let worker, let reason, let rescheduled):
        waiting[id]?.call.recordCrash(
          worker: worker, reason: reason.message, rescheduled: rescheduled)
        logger.warning(
          "cluster attempt crashed with its worker",
          metadata: [
            ClusterLogKeys.worker: "\(worker)", ClusterLogKeys.reason: "\(reason)",
            ClusterLogKeys.rescheduled: "\(rescheduled)",
          ])
      case .workerJoined(let info):
        _ = admission.handle(.authenticated(info.connection))
        logger.info(
          "cluster worker joined",
          metadata: [
            ClusterLogKeys.worker: "\(info.name)", ClusterLogKeys.capacity: "\(info.capacity)",
            ClusterLogKeys.connection: "\(info.connection)",
          ])
        let count = machine.workers.count
        let ready = waiters.filter { $0.count <= count }
        waiters.removeAll { $0.count <= count }
        for waiter in ready { waiter.continuation.resume() }
      case .workerLeft(let id, let name, let reason):
        logger.info(
          "cluster worker left",
          metadata: [
            ClusterLogKeys.worker: "\(name)", ClusterLogKeys.reason: "\(reason)",
            ClusterLogKeys.connection: "\(id)",
          ])
      case .notice(let text):
        logger.warning("cluster: \(text)")
      }
    }
  }
}

/// Feeds one connection's events to the scheduler.
final class SchedulerConnectionHandler: ChannelInboundHandler {
  typealias InboundIn = [ClusterMessage]
  let id: ConnectionID
  let core: NIOLoopBound<SchedulerCore>

  init(id: ConnectionID, core: NIOLoopBound<SchedulerCore>) {
    self.id = id
    self.core = core
  }

  func channelActive(context: ChannelHandlerContext) {
    guard core.value.opened(id, context.channel) else {
      context.close(promise: nil)
      return
    }
    context.fireChannelActive()
  }

  func channelRead(context: ChannelHandlerContext, data: NIOAny) {
    core.value.handle(.messagesReceived(id, unwrapInboundIn(data)))
  }

  func errorCaught(context: ChannelHandlerContext, error: any Error) {
    if let problem = error as? ClusterProtocolError {
      core.value.handle(.protocolViolation(id, problem))
    } else {
      core.value.logger.info(
        "cluster connection error: \(error)",
        metadata: [
          ClusterLogKeys.connection: "\(id)",
          ClusterLogKeys.peer: "\(context.channel.remoteAddress?.ipAddress ?? "unknown")",
        ])
    }
    context.close(promise: nil)
  }

  func channelInactive(context: ChannelHandlerContext) {
    core.value.closed(id)
    context.fireChannelInactive()
  }
}

extension ClusterScheduler: Service {
  /// Serves workers until the service group shuts down gracefully (or the task is cancelled),
  /// then says goodbye to every worker, fails what is unfinished, and stops listening.
  public func run() async throws {
    try? await gracefulShutdown()
    await shutdown()
  }
}

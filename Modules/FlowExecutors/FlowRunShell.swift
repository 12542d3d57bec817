import DequeModule
import FlowCore
import FlowLogging
import FlowResults
import FlowState
import Foundation
import Synchronization
import Tracing

/// Carries out a ``FlowRunMachine``'s actions for one flow run: the only place that calls
/// state handlers (``RunSettings/transition(_:to:subject:mapIndex:handlers:)``), reads the
/// clock, touches result stores, writes the run's log and runs task bodies.
///
/// Executors differ only in where bodies run (here, or on a backend's session) and how many
/// run at once (`width`, which the machine enforces). A retry's wait is a timer, not a slot.
struct FlowRunShell: Sendable {
  let settings: RunSettings
  let width: Int
  let observer: FlowRunObserver?
  private(set) var machine: FlowRunMachine
  /// Answers to actions, fed to the machine before anything else happens.
  private var answers: Deque<FlowRunEvent> = []
  /// Attempts to start, each with its "started" log record when the attempt's child task
  /// writes it (see ``perform(_:)``).
  private var launches: Deque<(start: AttemptStart, log: FlowRunLogEntry?)> = []
  /// An attempt's "started" record, held until its attempt is launched (with child tasks).
  private var startedLog: (key: TaskRunKey, entry: FlowRunLogEntry)?
  /// True when attempts run in child tasks (more than one slot, or a backend's session).
  private let usesChildren: Bool
  private var timers: [(key: TaskRunKey, due: Date)] = []
  private var cancelReported = false
  private var buffer: [FlowRunAction] = []
  private var sequence = 0
  /// Set when the run's task is cancelled.
  private let cancellation = CancellationFlag()

  init(settings: RunSettings, width: Int, observer: FlowRunObserver?) {
    self.settings = settings
    self.width = width
    self.observer = observer
    // A local task with a timeout runs in a child task, so that the run can leave a body that
    // ignores cancellation behind at its deadline (a hard timeout).
    usesChildren =
      width > 1 || settings.hasSession
      || settings.graph.nodes.indices.contains {
        settings.graph.nodes[$0].task?.options.timeout != nil
      }
    // Each task run writes a "started" and a "finished" record (more when it retries or
    // loops): room for those at once, not by repeated growth.
    if settings.log.wants(.info) {
      settings.log.reserveCapacity(2 * settings.graph.nodes.count + 2)
    }
    machine = FlowRunMachine(
      graph: settings.graph, storesResults: settings.resultPlans.map { $0 != nil },
      flowHandlers: !settings.flow.stateHandlers.isEmpty,
      // Unobserved, the machine decides transitions without state handlers itself; observed,
      // every transition is a step of the history, as replays and resumed runs expect.
      decidesTransitions: observer == nil)
  }

  private var clock: any WallClock { settings.environment.clock }

  /// The run's task runs and node states, moved out of the machine once the run is over.
  mutating func takeResults() -> (taskRuns: [TaskRun], nodeStates: NodeStates) {
    machine.takeResults()
  }

  /// Runs the flow run to its end.
  mutating func run(startedAt: Date) async {
    // The run's task learns of its cancellation once, through a flag, rather than asking
    // `Task.isCancelled` before every event.
    let cancellation = cancellation
    await withTaskCancellationHandler {
      await runUntilFinished(startedAt: startedAt)
    } onCancel: {
      cancellation.set()
    }
  }

  private mutating func runUntilFinished(startedAt: Date) async {
    let seed = withUnsafeBytes(of: settings.environment.ids.next().uuid) {
      $0.loadUnaligned(as: UInt64.self)
    }
    feed(
      .started(
        FlowRunStart(
          flowName: settings.flow.name, flowRunID: settings.flowRunID, idSeed: seed, width: width,
          parameters: settings.parameters.mapValues(FlowValue.init),
          approvals: settings.approvals.sorted(), resuming: settings.resuming, at: startedAt)))
    if !usesChildren {
      await runHere()
    } else if let batches = settings.session as? any FlowExecutorBatchSession {
      await runBatched(batches)
    } else if settings.hasSession {
      await runInGroup()
    } else {
      let shared = SharedShell(self)
      // The shared copy goes on with the run: this one lets go of the run's storage, which
      // the shared copy would otherwise copy whole on its first write (20 B per task and more).
      machine.releaseStorage()
      await Self.runShared(shared, settings)
      self = shared.core.withLock { $0 }
    }
  }

  /// One body at a time, in the calling task; timers are slept here when nothing can run.
  private mutating func runHere() async {
    while !machine.isFinished {
      reportCancellation()
      // A retry that is due starts before the next ready task: attempts start at their time.
      if !launches.isEmpty, let due = timers.indices.min(by: { timers[$0].due < timers[$1].due }),
        timers[due].due <= clock.now()
      {
        let timer = timers.remove(at: due)
        feed(.timerFired(timer.key, at: clock.now()))
        continue
      }
      if let (start, _) = launches.popFirst() {
        let report = await Self.attempt(start, settings)
        feed(report)
        continue
      }
      guard let first = timers.indices.min(by: { timers[$0].due < timers[$1].due }) else {
        break
      }
      let timer = timers.remove(at: first)
      do {
        try await clock.sleep(until: timer.due)
        feed(.timerFired(timer.key, at: clock.now()))
      } catch {
        reportCancellation(force: true)
      }
    }
  }

  /// A timer's child task: sleeps until it is due and reports it fired (nothing when the run
  /// ended first and cancelled the sleep).
  static func fire(_ timer: (key: TaskRunKey, due: Date), on clock: any WallClock) async
    -> AttemptReport
  {
    do {
      try await clock.sleep(until: timer.due)
      return AttemptReport(event: .timerFired(timer.key, at: clock.now()))
    } catch {
      return AttemptReport(event: nil)
    }
  }

  /// Up to `width` bodies at once as child tasks; timers are child tasks that hold no slot.
  private mutating func runInGroup() async {
    await withTaskGroup(of: AttemptReport.self) { group in
      var outstanding = 0
      while true {
        reportCancellation()
        while let (start, started) = launches.popFirst() {
          // A local attempt with a deadline races it in two children: the run goes on at the
          // deadline even if the body ignores cancellation (its late outcome is discarded).
          let deadline =
            start.deadline != nil && !settings.hasSession ? AttemptDeadline() : nil
          group.addTask { [settings] in
            if let started { Self.log(started, settings) }
            return await Self.attempt(start, settings, deadline: deadline)
          }
          outstanding += 1
          if let deadline, let due = start.deadline {
            group.addTask { [settings, clock] in
              guard await deadline.sleep(until: due, on: clock), deadline.claim(.deadline) else {
                return AttemptReport(event: nil)
              }
              return Self.timedOut(start, settings)
            }
            outstanding += 1
          }
        }
        for timer in timers {
          group.addTask { [clock] in await Self.fire(timer, on: clock) }
          outstanding += 1
        }
        timers.removeAll()
        if machine.isFinished { group.cancelAll() }
        guard outstanding > 0, let report = await group.next() else { break }
        outstanding -= 1
        feed(report)
      }
    }
  }

  /// The shell of a local run with child tasks, shared by the run's task and its attempts'
  /// children: a child feeds its own report and goes on with the next attempt when that is the
  /// only one to start, so that the run's task (and a new child task) wakes only when there is
  /// more to start, a timer, a deadline or the end of the run.
  final class SharedShell: Sendable {
    let core: Mutex<FlowRunShell>

    init(_ shell: consuming sending FlowRunShell) { core = Mutex(shell) }
  }

  /// An attempt to start, with its "started" record when its child writes it.
  typealias Launch = (start: AttemptStart, log: FlowRunLogEntry?)

  /// Up to `width` local bodies at once as child tasks that carry on with the next attempt;
  /// timers and deadlines are child tasks that hold no slot.
  private static func runShared(_ shared: SharedShell, _ settings: RunSettings) async {
    let clock = settings.environment.clock
    await withTaskGroup(of: AttemptReport.self) { group in
      var outstanding = 0
      while true {
        let work = shared.core.withLock { $0.takeWork() }
        for (start, started) in work.launches {
          // A local attempt with a deadline races it in two children: the run goes on at the
          // deadline even if the body ignores cancellation (its late outcome is discarded).
          let deadline = start.deadline != nil ? AttemptDeadline() : nil
          group.addTask {
            if let started { log(started, settings) }
            let report = await attempt(start, settings, deadline: deadline)
            guard deadline == nil else { return report }
            return await carryOn(after: report, shared, settings)
          }
          outstanding += 1
          if let deadline, let due = start.deadline {
            group.addTask {
              guard await deadline.sleep(until: due, on: clock), deadline.claim(.deadline) else {
                return AttemptReport(event: nil)
              }
              return timedOut(start, settings)
            }
            outstanding += 1
          }
        }
        for timer in work.timers {
          group.addTask { await fire(timer, on: clock) }
          outstanding += 1
        }
        if work.finished { group.cancelAll() }
        guard outstanding > 0, let report = await group.next() else { break }
        outstanding -= 1
        shared.core.withLock { $0.feed(report) }
      }
    }
  }

  /// Feeds an attempt child's report to the machine and runs the next attempt in the same
  /// child while it is the only one to start; returns an empty report (everything was fed).
  private static func carryOn(
    after first: AttemptReport, _ shared: SharedShell, _ settings: RunSettings
  ) async -> AttemptReport {
    var report = first
    while let next = shared.core.withLock({ $0.feedTakingNext(report) }) {
      if let started = next.log { log(started, settings) }
      report = await attempt(next.start, settings)
    }
    return AttemptReport(event: nil)
  }

  /// What the run's task starts now: every pending attempt and timer, and whether the run is
  /// over.
  private mutating func takeWork() -> (
    launches: [Launch], timers: [(key: TaskRunKey, due: Date)], finished: Bool
  ) {
    reportCancellation()
    let work = Array(launches)
    launches.removeAll(keepingCapacity: true)
    let due = timers
    timers.removeAll()
    return (work, due, machine.isFinished)
  }

  /// Feeds a report, then takes the next attempt when it is the only thing to start (no
  /// deadline to race, no timer, other attempts left for the run's task).
  private mutating func feedTakingNext(_ report: AttemptReport) -> Launch? {
    feed(report)
    guard launches.count == 1, timers.isEmpty, !machine.isFinished,
      launches[0].start.deadline == nil
    else { return nil }
    return launches.popFirst()
  }

  private mutating func reportCancellation(force: Bool = false) {
    guard !cancelReported, force || cancellation.isSet else { return }
    cancelReported = true
    answers.append(.cancelRequested(at: clock.now()))
    while let next = answers.popFirst() { step(next) }
  }

  private mutating func feed(_ report: AttemptReport) {
    for crash in report.crashes { feed(crash) }
    if let late = report.late {
      // The attempt already ended TimedOut at its deadline: say what became of its body.
      settings.log.append(
        .message(late.message), level: .warning, at: clock.now(), subject: late.subject)
      return
    }
    if let event = report.event { feed(event) }
  }

  /// Gives `event` to the machine, performs its actions, and feeds their answers back until
  /// the machine waits for the outside world again. A cancellation is reported before the
  /// next event, so that nothing starts after it.
  private mutating func feed(_ event: FlowRunEvent) {
    let cancelled = !cancelReported && cancellation.isSet
    if cancelled { cancelReported = true }
    if case .started = event {
      if cancelled, machine.decidesTransitions {
        // A machine that decides transitions starts tasks within the start's step: the
        // cancellation must reach it first.
        step(.cancelRequested(at: clock.now()))
        step(event)
      } else {
        step(event)
        if cancelled { answers.prepend(.cancelRequested(at: clock.now())) }
      }
    } else if !cancelled, answers.isEmpty {
      step(event)  // nothing comes before it: no need to queue it
    } else {
      answers.append(event)
      if cancelled { answers.prepend(.cancelRequested(at: clock.now())) }
    }
    while let next = answers.popFirst() { step(next) }
  }

  private mutating func step(_ event: FlowRunEvent) {
    buffer.removeAll(keepingCapacity: true)
    machine.handle(event, into: &buffer)
    if let observer {
      observer(
        FlowRunStep(
          version: FlowRunMachine.version, sequence: sequence, event: event, actions: buffer))
    }
    sequence += 1
    // The actions are moved out of the buffer one by one, in order, not copied (a reversal
    // to pop them from the end copied each); each slot is left holding a trivial action.
    var actions: [FlowRunAction] = []
    swap(&actions, &buffer)
    // A wide front's attempts are queued at once (about half its actions start one), not
    // by repeated growth of the queue.
    if actions.count > Self.wideStep {
      launches.reserveCapacity(launches.count + actions.count / 2)
    }
    actions.withUnsafeMutableBufferPointer { slots in
      guard let base = slots.baseAddress else { return }
      for index in slots.indices {
        let action = (base + index).move()
        (base + index).initialize(to: Self.emptySlot)
        perform(action)
      }
    }
    swap(&actions, &buffer)
    // A step that started a whole wide front (tens of thousands of attempts at once) does not
    // keep room for as many actions for the rest of the run.
    if buffer.count > Self.keptCapacity { buffer = [] }
    if usesChildren, let held = startedLog.take() { Self.log(held.entry, settings) }
  }

  /// How many actions make a step wide enough to reserve room for its attempts.
  static let wideStep = 128

  /// The most actions (or attempts to start) whose room a shell keeps after a burst.
  static let keptCapacity = 4096

  // MARK: Actions

  /// What an action's slot in the buffer holds once the action was moved out: a case whose
  /// payload holds no reference, so that clearing the buffer releases nothing.
  private static let emptySlot = FlowRunAction.setTimer(
    TaskRunKey(node: 0, mapIndex: nil), due: Date(timeIntervalSince1970: 0))

  private mutating func perform(_ action: consuming FlowRunAction) {
    switch consume action {
    case .transition(let subject, let old, let new):
      answers.append(.transitioned(subject, RecordedRunState(transition(subject, old, new))))
    case .splitInputs(let node, let positions, let values):
      var elements: [FlowValues] = []
      for (position, value) in zip(positions, values.values) {
        guard case .mapped(let split) = settings.graph.nodes[node].arguments[position].mode else {
          continue
        }
        elements.append(FlowValues(split(value)))
      }
      answers.append(.inputsSplit(node: node, elements: elements))
    case .collect(let node, let outputs):
      let output = settings.graph.nodes[node].task!.body.collect(outputs.values)
      answers.append(.collected(node: node, output: FlowValue(output)))
    case .lookUpResult(let key, let taskRunID, let inputs, let resuming):
      let plan = settings.resultPlans[key.node]!
      let answer: ResultLookup
      switch plan.lookup(resultContext(key, taskRunID, inputs.values), resuming: resuming) {
      case .cached(let state): answer = .cached(RecordedRunState(state))
      case .failed(let error): answer = .failed(RecordedError(error))
      case .run(let notes, let problems):
        answer = .run(notes: notes)
        // Why each stored value or cache entry was not reused, for whoever looks at debug.
        for note in notes {
          settings.log.append(
            .message(note), level: .debug, at: clock.now(),
            subject: RunLog.Subject(
              task: settings.graph.nodes[key.node].slug, taskRunID: taskRunID,
              mapIndex: key.mapIndex, attempt: 1))
        }
        // A damaged or unreadable stored output is recomputed: say where and why.
        for problem in problems {
          settings.log.append(
            .message(problem), level: .warning, at: clock.now(),
            subject: RunLog.Subject(
              task: settings.graph.nodes[key.node].slug, taskRunID: taskRunID,
              mapIndex: key.mapIndex, attempt: 1))
        }
      }
      answers.append(.resultLooked(key, answer))
    case .startAttempt(let start):
      var started: FlowRunLogEntry?
      if startedLog?.key == start.key { started = startedLog.take()!.entry }
      launches.append((start, started))
    case .persistResult(let key, let taskRunID, let inputs, let output):
      var failure: RecordedError?
      do {
        try settings.resultPlans[key.node]!.persist(
          output.value, resultContext(key, taskRunID, inputs.values))
      } catch {
        failure = RecordedError(error)
      }
      answers.append(.resultPersisted(key, failure: failure, at: clock.now()))
    case .setTimer(let key, let due): timers.append((key, due))
    case .checkConditions(let node, let values):
      let conditions = settings.graph.nodes[node].conditions
      let unmet = Array(zip(conditions, values.values)).firstIndex { !$0.holds($1) }
      answers.append(.conditionsChecked(node: node, unmet: unmet))
    case .log(let entry):
      // With child tasks, the attempt's child writes its "started" record (the machine gave
      // its time): the run's task does less per task, and the children more between waits.
      if usesChildren, case .taskStarted(let key, _, _, _) = entry {
        if let held = startedLog.take() { Self.log(held.entry, settings) }
        startedLog = (key, entry)
      } else {
        Self.log(entry, settings)
      }
    case .finished: break
    }
  }

  /// Moves `subject` through its state handlers: every transition of a run passes here.
  private func transition(
    _ subject: FlowRunSubject, _ old: RecordedRunState, _ new: RecordedRunState
  )
    -> RunState
  {
    switch subject {
    case .flow:
      return settings.transition(
        old.state, to: new.state, subject: settings.flow.name,
        handlers: settings.flow.stateHandlers, isFlow: true)
    case .task(let key):
      return settings.transition(
        old.state, to: new.state, subject: settings.graph.nodes[key.node].slug, node: key.node,
        mapIndex: key.mapIndex,
        handlers: settings.graph.nodes[key.node].task?.options.stateHandlers ?? [])
    }
  }

  private static func log(_ entry: FlowRunLogEntry, _ settings: RunSettings) {
    let graph = settings.graph
    switch entry {
    case .flowStarted(let at): settings.log.append(.flowStarted, at: at)
    case .taskStarted(let key, let id, let attempt, let at):
      settings.log.append(
        .taskStarted, at: at,
        subject: RunLog.Subject(
          task: graph.nodes[key.node].slug, taskRunID: id, mapIndex: key.mapIndex,
          attempt: attempt))
    case .taskRetrying(let key, let id, let attempt, let reason, let at):
      settings.log.append(
        .taskRetrying(reason), level: .warning, at: at,
        subject: RunLog.Subject(
          task: graph.nodes[key.node].slug, taskRunID: id, mapIndex: key.mapIndex,
          attempt: attempt))
    case .taskLooped(let key, let id, let iteration, let at):
      settings.log.append(
        .message("Looping: starting loop iteration \(iteration)."), at: at,
        subject: RunLog.Subject(
          task: graph.nodes[key.node].slug, taskRunID: id, mapIndex: key.mapIndex,
          attempt: 1))
    case .taskFinished(let key, let id, let attempts, let state, let reason, let at):
      settings.log.append(
        .taskFinished(state.kind, reason), level: state.kind.isFailed ? .error : .info, at: at,
        subject: RunLog.Subject(
          task: graph.nodes[key.node].slug, taskRunID: id, mapIndex: key.mapIndex,
          attempt: attempts))
    }
  }

  private func resultContext(_ key: TaskRunKey, _ taskRunID: UUID, _ inputs: [any Sendable])
    -> ResultContext
  {
    let node = settings.graph.nodes[key.node]
    return ResultContext(
      flowName: settings.flow.name, flowRunID: settings.flowRunID, taskName: node.name,
      taskSlug: node.slug, taskRunID: taskRunID, mapIndex: key.mapIndex,
      scheduledStart: settings.scheduledStart, now: clock.now(),
      parameters: settings.parameters, inputs: inputs,
      inputNames: node.task?.options.inputNames ?? [])
  }

  /// Whether the run's task was cancelled, set by its cancellation handler.
  final class CancellationFlag: Sendable {
    private let flag = Atomic(false)

    var isSet: Bool { flag.load(ordering: .acquiring) }

    func set() { flag.store(true, ordering: .releasing) }
  }

  // MARK: Bodies

  /// Crashes a backend reported while a remote attempt ran, in order.
  final class CrashLog: Sendable {
    let events = Mutex<[FlowRunEvent]>([])
  }

  /// What one attempt (or timer) reports: crashes seen while it ran, then how it ended.
  struct AttemptReport: Sendable {
    var crashes: [FlowRunEvent] = []
    var event: FlowRunEvent?
    /// Set when the body ended after its deadline had already ended the attempt: logged, and
    /// its outcome discarded.
    var late: (message: String, subject: RunLog.Subject)?
  }

  /// The report of an attempt whose deadline passed before its body ended.
  static func timedOut(_ start: AttemptStart, _ settings: RunSettings) -> AttemptReport {
    let node = settings.graph.nodes[start.key.node]
    let config = node.task!
    let error = TaskTimeoutError(task: node.slug, timeout: config.options.timeout!)
    return AttemptReport(
      event: .attemptFinished(
        start.key, attempt: start.attempt, outcome(of: error, start, config, settings),
        at: settings.environment.clock.now()))
  }

  /// Runs one attempt's body, here or on the backend's session, until it ends or its deadline.
  static func attempt(
    _ start: AttemptStart, _ settings: RunSettings, deadline hard: AttemptDeadline? = nil
  ) async -> AttemptReport {
    // The common case (a local body without deadline, tracing, recording or captured stdout)
    // goes straight to its body: one async frame less per attempt.
    if settings.runsPlainLocally, hard == nil, start.deadline == nil {
      let config = settings.graph.nodes[start.key.node].task!
      if !config.options.logStdout { return await plainAttempt(start, config, settings) }
    }
    guard settings.isTraced else { return await untracedAttempt(start, settings, deadline: hard) }
    return await RunTracing.attempt(start, settings) {
      await untracedAttempt(start, settings, deadline: hard)
    }
  }

  private static func untracedAttempt(
    _ start: AttemptStart, _ settings: RunSettings, deadline hard: AttemptDeadline?
  ) async -> AttemptReport {
    // A recorded run waits here while the recorder's buffer is full (back pressure).
    if let recording = settings.recording { await recording.waitForRoom() }
    let key = start.key
    // Read in place: a copy of the node would retain each of its fields.
    let config = settings.graph.nodes[key.node].task!
    if hard == nil, start.deadline == nil, !settings.hasSession, !config.options.logStdout {
      return await plainAttempt(start, config, settings)
    }
    let node = settings.graph.nodes[key.node]
    let clock = settings.environment.clock
    // Who the attempt's own records are about: built only when one is written.
    var subject: RunLog.Subject {
      RunLog.Subject(
        task: node.slug, taskRunID: start.taskRunID, mapIndex: key.mapIndex,
        attempt: start.attempt)
    }
    // With a hard deadline (raced by another child), the body is not raced here.
    let deadline = hard == nil ? start.deadline.map { ($0, config.options.timeout!) } : nil
    var report = AttemptReport()
    var caught: (any Error)?
    do {
      let value: any Sendable
      if settings.hasSession, let session = settings.session {
        let crashes = CrashLog()
        let call = RemoteTaskCall(
          flowName: settings.flow.name, node: node, mapIndex: key.mapIndex,
          attempt: start.attempt, inputs: start.inputs.values, taskRunID: start.taskRunID,
          run: settings.remoteRun!, log: settings.log, subject: subject, clock: clock,
          loopCount: start.loop?.count ?? 1, loopPayload: start.loop?.payload.value,
          onCrash: { message, rescheduled in
            let event = FlowRunEvent.attemptCrashed(
              key, message: message, rescheduled: rescheduled, at: clock.now())
            crashes.events.withLock { $0.append(event) }
          })
        defer { report.crashes = crashes.events.withLock { $0 } }
        value = try await race(deadline, slug: node.slug, clock) {
          try await session.invoke(call)
        }
      } else {
        let inputs = start.inputs.values
        value = try await TaskRunContext.$current.withValue(
          context(start, settings)
        ) {
          guard config.options.logStdout else {
            if let hard { return try await hard.run { try await config.body.call(inputs) } }
            guard deadline != nil else { return try await config.body.call(inputs) }
            return try await race(deadline, slug: node.slug, clock) {
              try await config.body.call(inputs)
            }
          }
          let (outcome, lines) = await StdoutCapture.capture {
            if let hard { return try await hard.run { try await config.body.call(inputs) } }
            return try await race(deadline, slug: node.slug, clock) {
              try await config.body.call(inputs)
            }
          }
          for line in lines {
            settings.log.append(.message(line), at: clock.now(), subject: subject)
          }
          return try outcome.get()
        }
      }
      report.event = .attemptFinished(
        key, attempt: start.attempt, .succeeded(FlowValue(value)), at: clock.now())
    } catch {
      caught = error
      report.event = .attemptFinished(
        key, attempt: start.attempt, outcome(of: error, start, config, settings),
        at: clock.now())
    }
    if let hard, !hard.claim(.body) {
      let how =
        switch caught {
        case nil: "returned"
        case is CancellationError: "stopped when cancelled"
        case let error?: "failed (\(error))"
        }
      let timeout = config.options.timeout!
      report.late = (
        "Attempt \(start.attempt) of task '\(node.slug)' \(how) at "
          + "\(clock.now().formatted(.iso8601)), after its timeout of \(timeout) had ended it "
          + "TimedOut; its outcome was discarded.",
        subject
      )
      report.event = nil
    }
    return report
  }

  /// A local attempt without deadline or captured stdout (the common case): its body runs with
  /// its context, nothing else.
  private static func plainAttempt(
    _ start: AttemptStart, _ config: TaskConfig, _ settings: RunSettings
  ) async -> AttemptReport {
    let key = start.key
    let context = context(start, settings)
    let body = config.body
    let inputs = start.inputs.values
    let outcome: AttemptOutcome
    do {
      let value = try await TaskRunContext.$current.withValue(context) {
        try await body.call(inputs)
      }
      outcome = .succeeded(FlowValue(value))
    } catch {
      outcome = Self.outcome(of: error, start, config, settings)
    }
    return AttemptReport(
      event: .attemptFinished(
        key, attempt: start.attempt, outcome, at: settings.environment.clock.now()))
  }

  /// What a local attempt's body sees as ``TaskRunContext/current``.
  private static func context(_ start: AttemptStart, _ settings: RunSettings) -> TaskRunContext {
    TaskRunContext(
      run: settings.contextRun, taskName: settings.graph.nodes[start.key.node].name,
      taskSlug: settings.graph.nodes[start.key.node].slug,
      taskRunID: start.taskRunID, mapIndex: start.key.mapIndex, attempt: start.attempt,
      loopCount: start.loop?.count ?? 1, loopPayload: start.loop?.payload.value)
  }

  /// How an attempt that threw `error` ended, with what the machine needs to decide a retry.
  private static func outcome(
    of error: any Error, _ start: AttemptStart, _ config: TaskConfig, _ settings: RunSettings
  ) -> AttemptOutcome {
    if let skip = error as? SkipTask { return .skipped(reason: skip.reason) }
    if let loop = error as? any LoopRequest { return .looped(payload: FlowValue(loop.loopPayload)) }
    if error is CancellationError, Task.isCancelled { return .cancelled(RecordedError(error)) }
    let policy = config.options.retries
    let retryable = policy.retryIf.shouldRetry(error)
    let draw =
      retryable && start.attempt < policy.maxAttempts ? settings.environment.random.nextUInt64() : 0
    return .failed(
      AttemptFailure(
        error: RecordedError(error), timedOut: error is TaskTimeoutError, retryable: retryable,
        killedWorker: (error as? RemoteTaskError)?.code == .killedWorker, draw: draw))
  }

  /// Runs `body`, raced against the deadline on the run's clock when there is one.
  private static func race(
    _ deadline: (Date, Duration)?, slug: String, _ clock: any WallClock,
    _ body: @escaping @Sendable () async throws -> any Sendable
  ) async throws -> any Sendable {
    guard let (due, timeout) = deadline else { return try await body() }
    return try await withThrowingTaskGroup(of: (any Sendable).self) { group in
      group.addTask { try await body() }
      group.addTask {
        try await clock.sleep(until: due)
        throw TaskTimeoutError(task: slug, timeout: timeout)
      }
      // Whichever ends first wins; the other is cancelled (on a backend's session a remote
      // body that ignores cancellation is still waited for; local bodies use AttemptDeadline).
      defer { group.cancelAll() }
      return try await group.next()!
    }
  }
}

// MARK: Batches of remote attempts

extension FlowRunShell {
  /// On a session that takes batches (a cluster): attempts start without a child task each,
  /// and the run waits for their outcomes itself, one wake-up for all that arrived together.
  /// Timers and attempts with a deadline still run as child tasks (as in ``runInGroup()``),
  /// which hand their reports to the same mailbox.
  mutating func runBatched(_ session: any FlowExecutorBatchSession) async {
    let mailbox = RemoteOutcomes()
    let crashes = CrashLog()
    var pending = PendingRemoteCalls()
    // The "task run" spans of attempts on the session, when a tracer is there.
    var spans: [ObjectIdentifier: any Span] = [:]
    // Task runs started ahead (see `RemoteStartsAhead`), by task run, until the machine
    // starts them; by call until they are bound; and outcomes that came before the binding.
    let followers = RemoteStartsAhead(settings)
    var ahead: [TaskRunKey: (call: RemoteTaskCall, taskRunID: UUID)] = [:]
    var aheadCalls: [ObjectIdentifier: TaskRunKey] = [:]
    var early: [ObjectIdentifier: RemoteOutcome] = [:]
    await withDiscardingTaskGroup { group in
      // Child tasks whose report has not arrived yet.
      var children = 0
      var cancelledRemote = false
      var calls: [RemoteTaskCall] = []
      // Outcomes to feed now: those that arrived, and those of task runs just bound.
      var ready: [RemoteOutcome] = []
      while true {
        reportCancellation()
        let wideFront = launches.count > Self.keptCapacity
        while let (start, started) = launches.popFirst() {
          guard start.deadline == nil else {
            group.addTask { [settings] in
              if let started { Self.log(started, settings) }
              mailbox.deliver(report: await Self.attempt(start, settings))
            }
            children += 1
            continue
          }
          if let started { Self.log(started, settings) }
          if let (call, taskRunID) = ahead.removeValue(forKey: start.key) {
            let id = ObjectIdentifier(call)
            aheadCalls[id] = nil
            let outcome = early.removeValue(forKey: id)
            if taskRunID == start.taskRunID, start.attempt == 1, start.loop == nil {
              // The machine started the task run that already runs (or ran) ahead: bind.
              pending.bind(call, start)
              if settings.isTraced { spans[id] = RunTracing.startAttempt(start, settings) }
              if let outcome { ready.append(outcome) }
              continue
            }
            settings.log.append(
              .message(
                "An attempt started ahead of task '\(settings.graph.nodes[start.key.node].slug)' "
                  + "does not match the task run the engine started; its outcome is discarded "
                  + "and the task runs again."), level: .warning, at: clock.now())
            pending.release(call)
          }
          let call = remoteCall(start, crashes, slot: pending.reserve())
          pending.bind(call, start)
          if settings.isTraced {
            spans[ObjectIdentifier(call)] = RunTracing.startAttempt(start, settings)
          }
          calls.append(call)
          // Alone in flight, its followers' task runs come next, with the next IDs: start them
          // ahead, each after the one before it, where it runs.
          if pending.count == 1, launches.isEmpty, timers.isEmpty, children == 0, ahead.isEmpty,
            start.key.mapIndex == nil, !followers.isEmpty
          {
            let chain = followers.chain(after: start.key.node)
            var previous = call
            for (node, taskRunID) in zip(chain, machine.upcomingTaskRunIDs(chain.count)) {
              let next = aheadCall(node, taskRunID, after: previous, slot: pending.reserve())
              let key = TaskRunKey(node: node, mapIndex: nil)
              ahead[key] = (next, taskRunID)
              aheadCalls[ObjectIdentifier(next)] = key
              calls.append(next)
              previous = next
            }
          }
        }
        // After a wide front was started, the emptied queue lets go of its room.
        if wideFront { launches = [] }
        if !ready.isEmpty {
          feedReady(&ready, &pending, &spans)
          continue  // what they started may be bound to more outcomes that arrived
        }
        if !calls.isEmpty {
          // A recorded run waits here while the recorder's buffer is full (back pressure).
          if let recording = settings.recording { await recording.waitForRoom() }
          session.start(calls, outcomes: mailbox)
          calls.removeAll(keepingCapacity: true)
        }
        for timer in timers {
          group.addTask { [clock] in mailbox.deliver(report: await Self.fire(timer, on: clock)) }
          children += 1
        }
        timers.removeAll()
        if machine.isFinished {
          group.cancelAll()
          if !pending.isEmpty || !ahead.isEmpty, !cancelledRemote {
            cancelledRemote = true
            session.cancel(mailbox)
          }
        }
        guard children > 0 || !pending.isEmpty else { break }
        let (arrived, reports) = await withTaskCancellationHandler {
          await mailbox.next()
        } onCancel: {
          session.cancel(mailbox)
        }
        // Crashes seen while these ran come first, as with one child per attempt.
        for crash in crashes.events.withLock({ events in
          defer { events.removeAll() }
          return events
        }) {
          feed(crash)
        }
        for outcome in arrived {
          let id = ObjectIdentifier(outcome.call)
          var notRun = false
          var lost: String?
          if case .failure(let error as RemoteTaskError) = outcome.result,
            error.code == .notRun || error.code == .lostWithWorker
          {
            notRun = true
            if error.code == .lostWithWorker { lost = error.description }
          }
          if !aheadCalls.isEmpty, let key = aheadCalls[id] {
            // Not started by the machine yet: kept for the binding, or forgotten.
            if notRun {
              aheadCalls[id] = nil
              ahead[key] = nil
              pending.release(outcome.call)
            } else {
              early[id] = outcome
            }
            continue
          }
          guard let start = pending.start(of: outcome.call) else { continue }
          if notRun, outcome.call.runsAfter != nil {
            // Bound, then lost or handed back with its worker: it runs the ordinary way.
            _ = pending.remove(outcome.call)
            if let span = spans.removeValue(forKey: id) {
              RunTracing.endAttempt(span, AttemptReport(event: nil), at: clock.now())
            }
            let node = settings.graph.nodes[start.key.node]
            let subject = RunLog.Subject(
              task: node.slug, taskRunID: start.taskRunID, mapIndex: start.key.mapIndex,
              attempt: start.attempt)
            if let lost {
              // As a crash of an ordinary attempt: Running → Crashed → Running, then again.
              let message =
                "Crashed: attempt \(start.attempt) was lost with its worker (\(lost)); "
                + "rescheduled on another worker."
              settings.log.append(
                .message(message), level: .warning, at: clock.now(), subject: subject,
                metadata: ["state": "Crashed"])
              feed(
                .attemptCrashed(start.key, message: message, rescheduled: true, at: clock.now()))
            } else {
              settings.log.append(
                .message(
                  "Attempt \(start.attempt) did not run where it was started ahead; it runs "
                    + "again."), level: .warning, at: clock.now(), subject: subject)
            }
            launches.append((start, nil))
            continue
          }
          ready.append(outcome)
        }
        feedReady(&ready, &pending, &spans)
        children -= reports.count
        for report in reports { feed(report) }
      }
    }
    // Attempts whose outcome never came (their worker was lost and they ran again elsewhere).
    for span in spans.values {
      RunTracing.endAttempt(span, AttemptReport(event: nil), at: clock.now())
    }
  }

  /// Feeds the machine the outcomes in `ready` (emptied) of the attempts still pending.
  private mutating func feedReady(
    _ ready: inout [RemoteOutcome], _ pending: inout PendingRemoteCalls,
    _ spans: inout [ObjectIdentifier: any Span]
  ) {
    let outcomes = ready
    ready.removeAll()
    for outcome in outcomes {
      guard let start = pending.remove(outcome.call) else {
        continue
      }
      feedOutcome(outcome, start, &spans)
    }
  }

  /// Feeds the machine how a remote attempt ended.
  private mutating func feedOutcome(
    _ outcome: RemoteOutcome, _ start: AttemptStart, _ spans: inout [ObjectIdentifier: any Span]
  ) {
    let config = settings.graph.nodes[start.key.node].task!
    let finished: FlowRunEvent
    switch outcome.result {
    case .success(let value):
      finished = .attemptFinished(
        start.key, attempt: start.attempt, .succeeded(FlowValue(value)), at: clock.now())
    case .failure(let error):
      finished = .attemptFinished(
        start.key, attempt: start.attempt,
        Self.outcome(of: error, start, config, settings), at: clock.now())
    }
    if !spans.isEmpty, let span = spans.removeValue(forKey: ObjectIdentifier(outcome.call)) {
      RunTracing.endAttempt(span, AttemptReport(event: finished), at: clock.now())
    }
    feed(finished)
  }

  /// The call that starts task `node`'s first attempt ahead, after `upstream`, with the task
  /// run ID its machine will give it.
  private func aheadCall(
    _ node: Int, _ taskRunID: UUID, after upstream: RemoteTaskCall, slot: Int
  ) -> RemoteTaskCall {
    let graphNode = settings.graph.nodes[node]
    return RemoteTaskCall(
      flowName: settings.flow.name, node: graphNode, mapIndex: nil, attempt: 1, inputs: [],
      taskRunID: taskRunID, run: settings.remoteRun!, log: settings.log,
      subject: RunLog.Subject(
        task: graphNode.slug, taskRunID: taskRunID, mapIndex: nil, attempt: 1),
      clock: clock, runsAfter: upstream, slot: slot)
  }

  /// The call that runs `start` on a session; its crashes go to `crashes`.
  private func remoteCall(_ start: AttemptStart, _ crashes: CrashLog, slot: Int)
    -> RemoteTaskCall
  {
    let key = start.key
    let node = settings.graph.nodes[key.node]
    let clock = clock
    return RemoteTaskCall(
      flowName: settings.flow.name, node: node, mapIndex: key.mapIndex,
      attempt: start.attempt, inputs: start.inputs.values, taskRunID: start.taskRunID,
      run: settings.remoteRun!, log: settings.log,
      subject: RunLog.Subject(
        task: node.slug, taskRunID: start.taskRunID, mapIndex: key.mapIndex,
        attempt: start.attempt), clock: clock,
      loopCount: start.loop?.count ?? 1, loopPayload: start.loop?.payload.value, slot: slot,
      onCrash: { message, rescheduled in
        let event = FlowRunEvent.attemptCrashed(
          key, message: message, rescheduled: rescheduled, at: clock.now())
        crashes.events.withLock { $0.append(event) }
      })
  }
}

/// The remote attempts of a run that wait for their outcomes, each in its call's slot
/// (``RemoteTaskCall/slot``): found by position, where a dictionary would hash every call.
struct PendingRemoteCalls {
  private var entries: [(call: RemoteTaskCall, start: AttemptStart)?] = []
  private var free: [Int] = []
  /// Attempts bound to their call, waiting.
  private(set) var count = 0

  var isEmpty: Bool { count == 0 }

  /// A slot for a new call (bound with ``bind(_:_:)``, or given back with ``release(_:)``).
  mutating func reserve() -> Int {
    if let slot = free.popLast() { return slot }
    entries.append(nil)
    return entries.count - 1
  }

  /// Records that `call`, in its slot, runs `start`.
  mutating func bind(_ call: RemoteTaskCall, _ start: AttemptStart) {
    entries[call.slot] = (call, start)
    count += 1
  }

  /// The attempt `call` runs, while it waits.
  func start(of call: RemoteTaskCall) -> AttemptStart? {
    guard entries.indices.contains(call.slot), let entry = entries[call.slot], entry.call === call
    else { return nil }
    return entry.start
  }

  /// Removes `call` (its outcome came) and returns the attempt it ran.
  mutating func remove(_ call: RemoteTaskCall) -> AttemptStart? {
    guard let start = start(of: call) else { return nil }
    entries[call.slot] = nil
    free.append(call.slot)
    count -= 1
    return start
  }

  /// Gives back the slot of `call`, which was never bound (a start ahead that was dropped).
  mutating func release(_ call: RemoteTaskCall) {
    guard entries.indices.contains(call.slot), entries[call.slot] == nil else { return }
    free.append(call.slot)
  }
}

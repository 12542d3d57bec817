import DequeModule
import FlowCore
import FlowResults
import FlowState
import Foundation
import Synchronization

/// The flow-run engine as a pure state machine: it makes every decision of a run (readiness,
/// skip propagation, triggers, mapping, retries, timeouts, caching, approvals, cancellation,
/// reference tasks, the final state) and asks its shell to do the rest.
///
/// No `await`, no clock, no I/O: time, IDs and randomness arrive in events. The sequential,
/// concurrent and cluster executors (and the simulator) are shells that feed it events and
/// perform its actions; a recorded history of events replays to the same actions.
/// ```swift
/// var machine = try FlowRunMachine(flow: flow)
/// let actions = machine.handle(.started(start))  // [.transition(.flow, from: Pending, to: Running)]
/// ```
public struct FlowRunMachine: Sendable {
  /// The version of the events and actions this machine reads and writes.
  /// Version 2 added branch conditions (``FlowRunAction/checkConditions(node:values:)``),
  /// outcome inputs and loops; version-1 histories still replay.
  public static let version = 2

  let graph: FlowGraph
  /// For each node, true when its output is cached, targeted or checkpointed.
  let storesResults: [Bool]
  /// True when the flow has state handlers: its transitions go to the shell.
  private let flowHandlers: Bool
  /// True when the machine decides the transitions of subjects without state handlers itself
  /// (the transition table is all the shell would apply), without a round trip through the
  /// shell; false when every transition goes to the shell (the recorded history's shape).
  public let decidesTransitions: Bool
  private var start: FlowRunStart?
  private var approvals: Set<String> = []
  private var resuming = false
  /// The flow run's state.
  public private(set) var flowState = RunState.pending
  private var phase = Phase.idle
  /// Final states of the nodes that finish without a run record (parameters, constants); a
  /// task node's state is its run record's (see ``state(of:)``), not kept twice.
  private var valueStates: [Int: RunState] = [:]
  /// Upstream nodes each node still waits for.
  private var remaining: [Int]
  /// Nodes whose upstream finished, to be gated.
  private var ready: Deque<Int> = []
  /// The run record of each task node (for a mapped task, the parent's), in the order they
  /// were stored: each is written once, and a run whose records came in flow order hands them
  /// back without a copy (see ``takeResults()``).
  private var runs: [TaskRun] = []
  /// For each node, the position of its run record in `runs` (-1: none yet).
  private var runIndex: [Int32]
  /// True while `runs` holds its records in node order.
  private var runsInNodeOrder = true
  /// The node whose run record `runs` got last (-1: none).
  private var lastRunNode = -1
  /// The children of mapped tasks that have mapped.
  private var mapped: [Int: MappedProgress] = [:]
  /// Nodes whose body ran in this run, or downstream of one that did (only when resuming).
  private var ranFresh: [Bool]
  /// Task runs that passed their gate and have not finished.
  private var runners: TaskRunTable<Runner>
  /// Transitions asked of the shell, and what to do with each answer.
  private var waiting: TaskRunTable<Continuation>
  /// What to do with the answer about the flow run's transition.
  private var flowWaiting: Continuation?
  /// Transitions decided here (see ``decidesTransitions``): taken in order once the current
  /// event is handled, as the shell's answers would be.
  private var decided: Deque<(subject: FlowRunSubject, next: Continuation, state: RunState)> = []
  /// Mapped nodes waiting for their inputs' elements: the positions asked about.
  private var splitting: [Int: [Int]] = [:]
  /// Mapped nodes waiting for their collected output.
  private var collecting: Set<Int> = []
  /// Task nodes whose branch conditions the shell is testing.
  private var checking: Set<Int> = []
  /// Elements of mapped inputs by node and argument position, until the parent maps.
  private var pendingSplits: [Int: [Int: [any Sendable]]] = [:]
  private var finalizingLeft = 0
  /// How many task runs may hold a slot (run their body, look up or persist) at once.
  private var width = 1
  /// Task runs holding a slot.
  private var slotsInUse = 0
  /// Task runs waiting for a slot, first come first served.
  private var queued: Deque<TaskRunKey> = []
  private var cancelRequested = false
  /// The time of the latest event that carried one.
  private var now = Date(timeIntervalSince1970: 0)
  private var idState: UInt64 = 0
  private var actions: [FlowRunAction] = []

  private enum Phase { case idle, starting, running, finalizing, finished }

  private struct MappedProgress {
    var children: [TaskRun?]
    var left: Int
    var parent: RunState
    let runID: UUID
    let splits: [Int: [any Sendable]]
  }

  /// One task run between its gate and its final state (what a task runner did before).
  ///
  /// Kept small (a cluster run starts tens of thousands at once, and each is moved into the
  /// table and out again): what only retries, loops, lookups and persisted outputs need is in
  /// ``Rare``, out of line, allocated for the task runs that use it.
  private struct Runner {
    let runID: UUID
    let inputs: [any Sendable]
    let mayResume: Bool
    // The flags next to the other byte (stored in this order, they pack into one word).
    var begun = false
    var holdsSlot = false
    var waitingTimer = false
    var inAttempt = false
    var state = RunState.pending
    var startedAt: Date?
    var attempts = 0
    var crashed = 0
    /// The loop iteration the body runs (from 1).
    var iteration = 1
    private var rare: RareBox?

    init(runID: UUID, inputs: [any Sendable], mayResume: Bool, unlessTargetExists: RunState?) {
      self.runID = runID
      self.inputs = inputs
      self.mayResume = mayResume
      if let unlessTargetExists { self.unlessTargetExists = unlessTargetExists }
    }

    /// When the second and later attempts started.
    var retryStarts: [Date] {
      get { rare?.value.retryStarts ?? [] }
      set { changeRare { $0.retryStarts = newValue } }
    }
    /// True when a cache or target lookup noted something.
    var hasNotes: Bool { rare.map { !$0.value.notes.isEmpty } ?? false }
    /// What a cache or target lookup noted.
    var notes: [String] {
      get { rare?.value.notes ?? [] }
      set { changeRare { $0.notes = newValue } }
    }
    /// The output being persisted.
    var output: FlowValue? {
      get { rare?.value.output }
      set { changeRare { $0.output = newValue } }
    }
    /// The payload the previous loop iteration passed.
    var loopPayload: FlowValue? {
      get { rare?.value.loopPayload }
      set { changeRare { $0.loopPayload = newValue } }
    }
    /// The state the trigger (or a missing input) decided, held while the task's target is
    /// checked first (Prefect checks a target before the trigger): used unless it exists.
    var unlessTargetExists: RunState? {
      get { rare?.value.unlessTargetExists }
      set { changeRare { $0.unlessTargetExists = newValue } }
    }

    /// Changes the out-of-line fields, copying them first when another runner shares them
    /// (a copy of the machine): runners stay values.
    private mutating func changeRare(_ change: (inout Rare) -> Void) {
      if rare == nil {
        rare = RareBox(Rare())
      } else if !isKnownUniquelyReferenced(&rare!) {
        rare = RareBox(rare!.value)
      }
      change(&rare!.value)
    }
  }

  /// A runner's fields that few task runs use.
  private struct Rare {
    var retryStarts: [Date] = []
    var notes: [String] = []
    var output: FlowValue?
    var loopPayload: FlowValue?
    var unlessTargetExists: RunState?
  }

  /// Copied before a change unless uniquely referenced (see `changeRare`), so a box is never
  /// changed while another runner, on another thread, can read it.
  private final class RareBox: @unchecked Sendable {
    var value: Rare
    init(_ value: Rare) { self.value = value }
  }

  /// Stands for an input whose upstream left no value while a target is checked before the
  /// trigger: a target naming it renders to a location that is never written, and no cache
  /// validator that compares inputs accepts it (it is not Encodable).
  private struct MissingInput: Sendable, CustomStringConvertible {
    var description: String { "missing-input" }
  }

  private enum Continuation {
    case flowStart, flowFinal, gate, record, runner, finalizeNode
    case mappedParent(count: Int)
    case runnerRunning(attempt: Int)
    case runnerFailed
    case crashed(rescheduled: Bool)
    case restarted

    /// True for the moves of a task run between its gate and its end.
    var isRunnerMove: Bool {
      switch self {
      case .runner, .runnerRunning: true
      default: false
      }
    }
  }

  /// A machine for runs of `flow`.
  public init(flow: Flow) throws(FlowValidationError) {
    self.init(
      graph: flow.graph, storesResults: try ResultPlan.plans(for: flow).map { $0 != nil },
      flowHandlers: !flow.stateHandlers.isEmpty)
  }

  init(
    graph: FlowGraph, storesResults: [Bool], flowHandlers: Bool, decidesTransitions: Bool = false
  ) {
    self.graph = graph
    self.storesResults = storesResults
    self.flowHandlers = flowHandlers
    self.decidesTransitions = decidesTransitions
    runIndex = Array(repeating: -1, count: graph.nodes.count)
    // Room for every node's record at once: its memory is touched only as records are written.
    runs.reserveCapacity(graph.nodes.count)
    ranFresh = Array(repeating: false, count: graph.nodes.count)
    remaining = graph.upstream.map { $0.count }
    runners = TaskRunTable(nodes: graph.nodes.count)
    waiting = TaskRunTable(nodes: graph.nodes.count)
  }

  /// True until the machine took its ``FlowRunEvent/started(_:)`` event.
  public var isIdle: Bool { phase == .idle }

  /// True once the machine asked for ``FlowRunAction/finished(_:)``.
  public var isFinished: Bool { phase == .finished }

  /// True when transitions of `subject` go to the shell as ``FlowRunAction/transition(_:from:to:)``
  /// (it has state handlers, or the machine does not decide transitions itself).
  func awaitsTransition(of subject: FlowRunSubject) -> Bool {
    guard decidesTransitions else { return true }
    switch subject {
    case .flow: return flowHandlers
    case .task(let key): return !(graph.nodes[key.node].task?.options.stateHandlers.isEmpty ?? true)
    }
  }

  // MARK: Events

  /// Takes one event and returns what the shell must do, in order.
  public mutating func handle(_ event: FlowRunEvent) -> [FlowRunAction] {
    var out: [FlowRunAction] = []
    handle(event, into: &out)
    return out
  }

  /// Takes one event and appends what the shell must do to `out` (reusing its storage).
  public mutating func handle(_ event: FlowRunEvent, into out: inout [FlowRunAction]) {
    swap(&actions, &out)
    defer { swap(&actions, &out) }
    switch event {
    case .started(let start):
      guard phase == .idle else { return }
      self.start = start
      approvals = Set(start.approvals)
      resuming = start.resuming
      now = start.at
      idState = start.idSeed
      width = max(1, start.width)
      // Room for as many task runs as may hold a slot at once (a cluster's whole ready front),
      // rather than growing, and copying, the table while they are gated.
      runners.reserveCapacity(min(width, graph.nodes.count))
      phase = .starting
      ask(.flow, from: .pending, to: RunState(.running, message: "Running flow."), .flowStart)
    case .transitioned(let subject, let recorded):
      switch subject {
      case .flow:
        guard let next = flowWaiting else { return }
        flowWaiting = nil
        resume(subject, next, recorded.state)
      case .task(let key):
        guard let next = waiting.removeValue(forKey: key) else { return }
        resume(subject, next, recorded.state)
      }
    case .inputsSplit(let node, let elements):
      guard let positions = splitting.removeValue(forKey: node) else { return }
      var splits: [Int: [any Sendable]] = [:]
      for (position, values) in zip(positions, elements) { splits[position] = values.values }
      continueMapped(node, splits)
    case .conditionsChecked(let node, let unmet):
      guard checking.remove(node) != nil else { return }
      if let unmet {
        let condition = graph.nodes[node].conditions[unmet]
        let message =
          "Branch condition \(condition.label) did not hold, so this task was skipped."
        ask(
          .task(TaskRunKey(node: node, mapIndex: nil)), from: .pending,
          to: RunState(.skipped, message: message), .record)
      } else {
        prepareTask(node)
      }
    case .collected(let node, let output):
      guard collecting.remove(node) != nil, var state = mapped[node]?.parent else { return }
      state.result = output.value
      completeMapped(node, state)
    case .resultLooked(let key, let lookup):
      resultLooked(key, lookup)
    case .attemptFinished(let key, let attempt, let outcome, let at):
      now = at
      attemptFinished(key, attempt, outcome)
    case .attemptCrashed(let key, let message, let rescheduled, let at):
      now = at
      guard var runner = runners[key] else { return }
      runner.crashed += 1
      runners[key] = runner
      guard runner.state.isRunning else { return }
      ask(
        .task(key), from: runner.state, to: RunState(.crashed, message: message),
        .crashed(rescheduled: rescheduled))
    case .resultPersisted(let key, let failure, let at):
      now = at
      guard let output = runners[key]?.output else { return }
      runners[key]!.output = nil
      if let failure {
        moveRunner(
          key,
          to: RunState(
            .failed, message: "Cannot persist the output: \(failure)", error: failure.error))
      } else {
        succeed(key, output)
      }
    case .timerFired(let key, let at):
      now = at
      guard runners[key]?.waitingTimer == true else { return }
      runners[key]!.waitingTimer = false
      if runners[key]!.holdsSlot { startAttempt(key) } else { queued.append(key) }
    case .cancelRequested(let at):
      now = at
      guard !cancelRequested else { return }
      cancelRequested = true
      for key in runners.sortedKeys where runners[key]!.waitingTimer {
        runners[key]!.waitingTimer = false
        moveRunner(key, to: RunState(.cancelled, message: "Cancelled while waiting to retry."))
      }
    }
    pump()
    flush()
  }

  /// Takes the transitions decided here, in order, as if the shell had answered them.
  private mutating func flush() {
    while let (subject, next, state) = decided.popFirst() {
      resume(subject, next, state)
      pump()
    }
  }

  /// Grants free slots to waiting task runs, and gates ready tasks when none waits (so that a
  /// task is gated when the executor can take it, as the executors always did).
  private mutating func pump() {
    guard phase == .running else { return }
    // A wide front (a cluster starts thousands of task runs in one step) gets room for its
    // actions at once (two per task run: its log record and its attempt), not by repeated
    // growth, each copying every action so far into fresh memory.
    let starting = min(width - slotsInUse, queued.count + ready.count)
    if starting > Self.wideFront {
      actions.reserveCapacity(actions.count + 2 * starting)
    }
    while slotsInUse < width {
      if let key = queued.popFirst() {
        slotsInUse += 1
        slotGranted(key)
      } else if let node = ready.popFirst() {
        prepare(node)
      } else {
        break
      }
    }
    if runners.isEmpty, ready.isEmpty, waiting.isEmpty, flowWaiting == nil, decided.isEmpty,
      splitting.isEmpty, collecting.isEmpty, checking.isEmpty
    {
      finalize()
    }
  }

  /// The Running state's message of a first attempt (a literal: it allocates nothing).
  private static let firstAttemptMessage = "Starting task run (attempt 1)."

  /// How many task runs starting at once make a front wide enough to reserve room for.
  private static let wideFront = 64

  private mutating func ask(
    _ subject: FlowRunSubject, from old: RunState, to new: RunState, _ next: Continuation
  ) {
    guard awaitsTransition(of: subject) else {
      let state = legal(subject, from: old, to: new)
      // A task run's own move (to Running, or on to its end) is taken at once when no decided
      // transition waits before it: the order the queue would give, without the queue.
      if decided.isEmpty, next.isRunnerMove { return resume(subject, next, state) }
      return decided.append((subject, next, state))
    }
    actions.append(.transition(subject, from: RecordedRunState(old), to: RecordedRunState(new)))
    switch subject {
    case .flow: flowWaiting = next
    case .task(let key): waiting[key] = next
    }
  }

  /// What the shell's state handlers would answer when there are none: `new`, or Failed when
  /// the transition table forbids the move.
  private func legal(_ subject: FlowRunSubject, from old: RunState, to new: RunState) -> RunState {
    if StateTransitions.isLegal(from: old.kind, to: new.kind) { return new }
    let name: String
    switch subject {
    case .flow: name = start?.flowName ?? ""
    case .task(let key): name = graph.nodes[key.node].slug
    }
    let error = IllegalTransitionError(from: old.kind, to: new.kind, subject: name)
    return RunState(.failed, message: "\(error)", error: error)
  }

  private mutating func resume(_ subject: FlowRunSubject, _ next: Continuation, _ state: RunState) {
    let key: TaskRunKey
    switch subject {
    case .flow:
      flowState = state
      if case .flowFinal = next { return complete() }
      actions.append(.log(.flowStarted(at: start!.at)))
      phase = .running
      if state.isRunning {
        ready.append(contentsOf: remaining.indices.filter { remaining[$0] == 0 })
      }
      return
    case .task(let task): key = task
    }
    switch next {
    case .flowStart, .flowFinal: return
    case .gate:
      if state.isFinished || state.isPaused { return record(key, state) }
      makeJob(key)
    case .record: record(key, state)
    case .mappedParent(let count): mappedParent(key.node, state, count)
    case .finalizeNode:
      finalizeNode(key.node, state)
      finalizingLeft -= 1
      if finalizingLeft == 0 { finishFlow() }
    case .runner:
      runners[key]?.state = state
      advance(key)
    case .runnerRunning(let attempt): running(key, state, attempt)
    case .runnerFailed:
      runners[key]?.state = state
      if state.kind == .retrying, let runner = runners[key] {
        actions.append(
          .log(
            .taskRetrying(
              key, taskRunID: runner.runID, attempt: runner.attempts,
              reason: state.message ?? "retrying", at: now)))
      }
      advance(key)
    case .crashed(let rescheduled):
      guard var runner = runners[key] else { return }
      runner.state = state
      runners[key] = runner
      guard rescheduled, state.kind == .crashed else { return }
      ask(
        subject, from: state,
        to: RunState(
          .running,
          message: "Restarting attempt \(runner.attempts) on another worker after a crash."),
        .restarted)
    case .restarted:
      guard let runner = runners[key] else { return }
      runners[key]!.state = state
      if state.isRunning {
        actions.append(
          .log(.taskStarted(key, taskRunID: runner.runID, attempt: runner.attempts, at: now)))
      }
    }
  }

  // MARK: Gating

  private mutating func prepare(_ node: Int) {
    let key = TaskRunKey(node: node, mapIndex: nil)
    // Fields are read in place: a copy of the node would retain each of them.
    let isTask = graph.nodes[node].task != nil
    if cancelRequested, isTask {
      let message = "Flow run was cancelled before this task started."
      return ask(.task(key), from: .pending, to: RunState(.cancelled, message: message), .record)
    }
    guard isTask else {
      if case .parameter(let spec) = graph.nodes[node].kind {
        return finish(node, RunState(.success, result: start?.parameters[spec.name]?.value))
      }
      if case .constant(let value) = graph.nodes[node].kind {
        finish(node, RunState(.success, result: value))
      }
      return
    }
    guard graph.nodes[node].conditions.isEmpty else {
      let conditions = graph.nodes[node].conditions
      // The shell tests the values (the machine never looks into one, so that a recorded
      // history, which keeps only their types, replays).
      var values: [any Sendable] = []
      for condition in conditions {
        guard let value = state(of: condition.source)?.result else {
          let source = graph.nodes[condition.source]
          let kind = self.kind(of: condition.source) ?? .pending
          let message =
            "Branch condition \(condition.label) has no value ('\(source.slug)' ended "
            + "\(kind) without a result), so this task was skipped."
          return ask(.task(key), from: .pending, to: RunState(.skipped, message: message), .record)
        }
        values.append(value)
      }
      checking.insert(node)
      return actions.append(.checkConditions(node: node, values: FlowValues(values)))
    }
    prepareTask(node)
  }

  /// Gates a task node whose branch conditions hold.
  private mutating func prepareTask(_ node: Int) {
    let key = TaskRunKey(node: node, mapIndex: nil)
    let config = graph.nodes[node].task!
    if graph.nodes[node].isMapped {
      prepareMapped(node, config)
    } else if passesWithoutListing(node, config) {
      makeJob(key)
    } else {
      prepareChild(key, config, upstream: upstreamStates(node))
    }
  }

  /// True when an unmapped task's gate lets it run for sure without listing its upstream
  /// states: its trigger is ``Trigger/allSuccessful`` and every upstream task run succeeded
  /// without being skipped (when skips propagate) and without mapping (the common case, kept
  /// free of allocations).
  private func passesWithoutListing(_ node: Int, _ config: TaskConfig) -> Bool {
    // The options are read in place (a copy of them would retain every field).
    guard config.options.trigger.runsWhenAllSucceeded else { return false }
    let skips = config.options.skipOnUpstreamSkip
    for source in graph.upstream[node] where graph.nodes[source].task != nil {
      if !mapped.isEmpty, mapped[source] != nil { return false }
      guard let kind = self.kind(of: source), kind.isSuccessful, !(skips && kind == .skipped)
      else { return false }
    }
    return true
  }

  /// Gates one task run (a plain task, or a child of a mapped task).
  private mutating func prepareChild(
    _ key: TaskRunKey, _ config: TaskConfig, upstream: [UpstreamState]
  ) {
    var upstream = upstream
    if let index = key.mapIndex {
      for source in graph.upstream[key.node] where isElementwise(key.node, source) {
        let child = mapped[source]!.children[index]!
        upstream.append(UpstreamState(task: child.slug, mapIndex: index, state: child.state))
      }
    }
    if let proposed = gate(key.node, config, upstream) {
      // A task whose target exists is Cached even when its trigger fails (Prefect checks the
      // target before the trigger); skips and pauses are decided before.
      if proposed.kind == .triggerFailed, config.options.checkpoint?.target != nil {
        return makeJob(key, unlessTargetExists: proposed)
      }
      return ask(.task(key), from: .pending, to: proposed, .gate)
    }
    makeJob(key)
  }

  /// Skip propagation, then the trigger; returns the state to propose when the task must not
  /// run (nil: it runs).
  private func gate(_ node: Int, _ config: TaskConfig, _ upstream: [UpstreamState]) -> RunState? {
    if config.options.skipOnUpstreamSkip, let skipped = upstream.first(where: \.state.isSkipped) {
      return RunState(
        .skipped,
        message:
          "Upstream task '\(skipped.label)' was skipped; set `skipOnUpstreamSkip: false` to run "
          + "anyway.")
    }
    switch config.options.trigger.evaluate(upstream) {
    case .run: return nil
    case .fail(let message): return RunState(.triggerFailed, message: message)
    case .pause(let message):
      if approvals.contains(graph.nodes[node].slug) { return nil }
      return RunState(.paused, message: message)
    }
  }

  /// Gathers a task run's inputs and asks for a slot.
  private mutating func makeJob(_ key: TaskRunKey, unlessTargetExists gate: RunState? = nil) {
    var gated = gate
    let node = key.node
    let arguments = graph.nodes[node].arguments
    var inputs: [any Sendable] = []
    if !arguments.isEmpty { inputs.reserveCapacity(arguments.count) }
    for (position, argument) in arguments.enumerated() {
      if case .outcome(let wrap) = argument.mode {
        inputs.append(wrap(state(of: argument.source)!))
        continue
      }
      if case .outcomes(let wrap) = argument.mode {
        let children = mapped[argument.source]?.children.map { $0?.state ?? .pending }
        inputs.append(wrap(children, state(of: argument.source)!))
        continue
      }
      let value: (any Sendable)?
      if let index = key.mapIndex, argument.isMapped {
        value =
          isElementwise(node, argument.source)
          ? mapped[argument.source]!.children[index]!.state.result
          : mapped[node]!.splits[position]![index]
      } else {
        value = result(of: argument.source)
      }
      guard let value else {
        if gated != nil {
          inputs.append(MissingInput())
          continue
        }
        let source = graph.nodes[argument.source].slug
        let message =
          "Input \(position + 1) comes from '\(source)', which ended "
          + "\(kind(of: argument.source)!) without a result. A task that runs after upstream "
          + "failures must wait for them with `.after(...)` instead of taking their outputs."
        let failed = RunState(.triggerFailed, message: message)
        if graph.nodes[node].task?.options.checkpoint?.target != nil {
          gated = failed  // its target is still checked first
          inputs.append(MissingInput())
          continue
        }
        return ask(.task(key), from: .pending, to: failed, .record)
      }
      inputs.append(value)
    }
    let mayResume = !resuming || !graph.upstream[node].contains { ranFresh[$0] }
    if gated == nil, startsAtOnce(key) {
      return startFirstAttempt(key, inputs: inputs, mayResume: mayResume)
    }
    // Built in the call, so that the runner is moved into the table, not copied.
    runners.insert(
      Runner(runID: newID(), inputs: inputs, mayResume: mayResume, unlessTargetExists: gated),
      for: key)
    queued.append(key)
  }

  /// True when a task run just gated would be granted a slot and moved to Running at once,
  /// with nothing to decide on the way: a slot is free and nobody waits for one, no decided
  /// transition waits before its own, no state handler, stored output or cancellation is
  /// involved (the common start, taken by ``startFirstAttempt(_:inputs:mayResume:)``).
  private func startsAtOnce(_ key: TaskRunKey) -> Bool {
    slotsInUse < width && queued.isEmpty && decided.isEmpty && !cancelRequested
      && phase == .running && !storesResults[key.node] && !awaitsTransition(of: .task(key))
  }

  /// Starts the first attempt of a task run just gated, as granting it a slot
  /// (``slotGranted(_:)``) and the decided move from Pending to Running (``running(_:_:_:)``)
  /// would, in one step: the same runner, the same actions in the same order, without the
  /// queue, the lookups and the transition's round trip.
  private mutating func startFirstAttempt(
    _ key: TaskRunKey, inputs: [any Sendable], mayResume: Bool
  ) {
    slotsInUse += 1
    let now = self.now
    var runner = Runner(
      runID: newID(), inputs: inputs, mayResume: mayResume, unlessTargetExists: nil)
    runner.holdsSlot = true
    runner.begun = true
    runner.state = RunState(.running, message: Self.firstAttemptMessage)
    runner.attempts = 1
    runner.startedAt = now
    runner.inAttempt = true
    let runID = runner.runID
    runners.insert(runner, for: key)
    actions.append(.log(.taskStarted(key, taskRunID: runID, attempt: 1, at: now)))
    askToRun(key, runID, attempt: 1, inputs: inputs, loop: nil)
  }

  /// Asks the shell to run an attempt of the task run `key`, due to end by the task's timeout.
  private mutating func askToRun(
    _ key: TaskRunKey, _ runID: UUID, attempt: Int, inputs: [any Sendable], loop: LoopIteration?
  ) {
    let timeout = graph.nodes[key.node].task!.options.timeout
    actions.append(
      .startAttempt(
        AttemptStart(
          key: key, taskRunID: runID, attempt: attempt, inputs: FlowValues(inputs),
          deadline: timeout.map { now.adding($0) }, loop: loop)))
  }

  private mutating func prepareMapped(_ node: Int, _ config: TaskConfig) {
    let key = TaskRunKey(node: node, mapIndex: nil)
    let upstream = upstreamStates(node)
    if config.options.skipOnUpstreamSkip, let skipped = upstream.first(where: \.state.isSkipped) {
      let message = "Upstream task '\(skipped.label)' was skipped; nothing to map over."
      return ask(.task(key), from: .pending, to: RunState(.skipped, message: message), .record)
    }
    var positions: [Int] = []
    var values: [any Sendable] = []
    for (position, argument) in graph.nodes[node].arguments.enumerated() {
      guard argument.isMapped, !isElementwise(node, argument.source) else { continue }
      guard let value = result(of: argument.source) else {
        let source = graph.nodes[argument.source].slug
        let message =
          "Cannot map over '\(source)': it ended \(kind(of: argument.source)!) without a result."
        return ask(
          .task(key), from: .pending, to: RunState(.triggerFailed, message: message), .record)
      }
      positions.append(position)
      values.append(value)
    }
    if positions.isEmpty { return continueMapped(node, [:]) }
    splitting[node] = positions
    actions.append(.splitInputs(node: node, positions: positions, values: FlowValues(values)))
  }

  private mutating func continueMapped(_ node: Int, _ splits: [Int: [any Sendable]]) {
    let key = TaskRunKey(node: node, mapIndex: nil)
    let slug = graph.nodes[node].slug
    var lengths: [(source: String, count: Int)] = []
    for (position, argument) in graph.nodes[node].arguments.enumerated() where argument.isMapped {
      let source = graph.nodes[argument.source].slug
      if isElementwise(node, argument.source) {
        lengths.append((source, mapped[argument.source]!.children.count))
      } else {
        lengths.append((source, splits[position]?.count ?? 0))
      }
    }
    if Set(lengths.map(\.count)).count > 1 {
      let sizes = lengths.map { "'\($0.source)' has \($0.count)" }.joined(separator: ", ")
      let message =
        "Mapped inputs of '\(slug)' have different lengths: \(sizes). Map over inputs of equal "
        + "length, and pass inputs that are the same for every run with `unmapped(...)`."
      return ask(.task(key), from: .pending, to: RunState(.failed, message: message), .record)
    }
    // A map whose inputs are all `unmapped` runs the task once, as Prefect does.
    let count = lengths.first?.count ?? 1
    pendingSplits[node] = splits
    ask(
      .task(key), from: .pending,
      to: RunState(.mapped, message: "Mapped into \(count) task runs."), .mappedParent(count: count)
    )
  }

  private mutating func mappedParent(_ node: Int, _ parent: RunState, _ count: Int) {
    let splits = pendingSplits.removeValue(forKey: node) ?? [:]
    guard parent.isMapped else { return record(TaskRunKey(node: node, mapIndex: nil), parent) }
    let upstream = upstreamStates(node)
    mapped[node] = MappedProgress(
      children: Array(repeating: nil, count: count), left: count, parent: parent,
      runID: newID(), splits: splits)
    if count == 0 { return finishMapped(node) }
    let config = graph.nodes[node].task!
    for index in 0..<count {
      prepareChild(TaskRunKey(node: node, mapIndex: index), config, upstream: upstream)
    }
  }

  // MARK: Task runs

  private mutating func slotGranted(_ key: TaskRunKey) {
    // One access to the runner for the slot and whether it begins now.
    let first: Bool? = runners.update(key) { runner in
      guard !runner.holdsSlot else { return nil }
      runner.holdsSlot = true
      defer { runner.begun = true }
      return !runner.begun
    }
    guard let first else { return }
    guard first else { return startAttempt(key) }
    if cancelRequested {
      return moveRunner(
        key,
        to: RunState(.cancelled, message: "Flow run was cancelled before this task started."))
    }
    if storesResults[key.node], let runner = runners[key] {
      return actions.append(
        .lookUpResult(
          key, taskRunID: runner.runID, inputs: FlowValues(runner.inputs),
          resuming: resuming && runner.mayResume))
    }
    startAttempt(key)
  }

  private mutating func resultLooked(_ key: TaskRunKey, _ lookup: ResultLookup) {
    guard runners[key]?.begun == true else { return }
    if let gated = runners[key]!.unlessTargetExists {
      // Checked before the trigger: Cached when the target exists, else what the trigger said.
      if case .cached(let cached) = lookup { return moveRunner(key, to: cached.state) }
      return moveRunner(key, to: gated)
    }
    switch lookup {
    case .cached(let cached): moveRunner(key, to: cached.state)
    case .failed(let error):
      moveRunner(key, to: RunState(.failed, message: error.description, error: error.error))
    case .run(let notes):
      runners[key]!.notes = notes
      startAttempt(key)
    }
  }

  /// Moves a Pending (or due Retrying) task run to Running for its next attempt.
  private mutating func startAttempt(_ key: TaskRunKey) {
    guard let (attempts, old) = runners.update(key, { ($0.attempts, $0.state) }) else { return }
    if cancelRequested {
      return moveRunner(key, to: RunState(.cancelled, message: "Flow run was cancelled."))
    }
    let attempt = attempts + 1
    // A literal for the first attempt: most runs have only that one, and it allocates nothing.
    let message =
      attempt == 1 ? Self.firstAttemptMessage : "Starting task run (attempt \(attempt))."
    ask(
      .task(key), from: old, to: RunState(.running, message: message),
      .runnerRunning(attempt: attempt))
  }

  private mutating func running(_ key: TaskRunKey, _ state: RunState, _ attempt: Int) {
    let now = self.now
    let isRunning = state.isRunning
    // One access to the runner: it is updated in place, not copied.
    let started: (runID: UUID, inputs: [any Sendable], loop: LoopIteration?)? = runners.update(
      key
    ) { runner in
      runner.state = state
      // A state handler held the run back (or ended it): it ends in the state it chose.
      guard isRunning else { return nil }
      runner.attempts = attempt
      if runner.startedAt == nil {
        runner.startedAt = now
      } else {
        runner.retryStarts.append(now)
      }
      runner.inAttempt = true
      // Only a looping task has a payload (read after a cheap test of its iteration).
      guard runner.iteration > 1, let payload = runner.loopPayload else {
        return (runner.runID, runner.inputs, nil)
      }
      return (runner.runID, runner.inputs, LoopIteration(count: runner.iteration, payload: payload))
    }
    guard let started else { return finishRunner(key) }
    actions.append(.log(.taskStarted(key, taskRunID: started.runID, attempt: attempt, at: now)))
    askToRun(key, started.runID, attempt: attempt, inputs: started.inputs, loop: started.loop)
  }

  /// The body asked for another iteration: it starts now, as attempt 1 of that iteration
  /// (the retry policy counts per iteration), unless that is over the task's limit.
  private mutating func looped(_ key: TaskRunKey, _ payload: FlowValue) {
    let options = graph.nodes[key.node].task!.options
    guard var runner = runners[key] else { return }
    if cancelRequested {
      return moveRunner(key, to: RunState(.cancelled, message: "Flow run was cancelled."))
    }
    guard runner.iteration < options.maxLoopIterations else {
      let error = LoopLimitError(
        task: graph.nodes[key.node].slug, limit: options.maxLoopIterations)
      return moveRunner(key, to: RunState(.failed, message: error.description, error: error))
    }
    runner.iteration += 1
    runner.loopPayload = payload
    runner.attempts = 1
    runner.retryStarts.append(now)
    runner.inAttempt = true
    runners[key] = runner
    actions.append(
      .log(.taskLooped(key, taskRunID: runner.runID, iteration: runner.iteration, at: now)))
    askToRun(
      key, runner.runID, attempt: 1, inputs: runner.inputs,
      loop: LoopIteration(count: runner.iteration, payload: payload))
  }

  private mutating func attemptFinished(
    _ key: TaskRunKey, _ attempt: Int, _ outcome: AttemptOutcome
  ) {
    // One access to the runner: the attempt it waits for ends, and is it still running?
    let stillRunning: Bool? = runners.update(key) { runner in
      guard runner.inAttempt, runner.attempts == attempt else { return nil }
      runner.inAttempt = false
      return runner.state.isRunning
    }
    guard let stillRunning else { return }
    guard stillRunning else {
      // The last lost worker: the run stays Crashed, with the scheduler's explanation.
      if runners[key]!.state.kind == .crashed, case .failed(let failure) = outcome,
        failure.killedWorker
      {
        runners[key]!.state = RunState(
          .crashed, message: failure.error.description, error: failure.error.error)
      }
      return advance(key)
    }
    switch outcome {
    case .succeeded(let output):
      guard storesResults[key.node], let runner = runners[key] else {
        return succeed(key, output)
      }
      runners[key]!.output = output
      actions.append(
        .persistResult(
          key, taskRunID: runner.runID, inputs: FlowValues(runner.inputs), output: output))
    case .skipped(let reason): moveRunner(key, to: RunState(.skipped, message: reason))
    case .looped(let payload): looped(key, payload)
    case .cancelled(let error):
      moveRunner(
        key, to: RunState(.cancelled, message: "Flow run was cancelled.", error: error.error))
    case .failed(let failure):
      let policy = graph.nodes[key.node].task!.options.retries
      let runner = runners[key]!
      ask(
        .task(key), from: runner.state, to: failed(failure, attempts: runner.attempts, policy),
        .runnerFailed)
    }
  }

  private mutating func succeed(_ key: TaskRunKey, _ output: FlowValue) {
    // The notes are copied only when there are some (rarely: a cache or target was looked up).
    // One access to the runner: whether it has notes, and whether it ends here (below).
    guard
      let (plain, endsHere) = runners.update(
        key, { (!$0.hasNotes, $0.state.kind == .running && !$0.inAttempt) })
    else { return }
    let message =
      plain
      ? "Task run succeeded."
      : "Task run succeeded. " + runners[key]!.notes.joined(separator: " ")
    let state = RunState(.success, message: message, result: output.value)
    // The common end of a task run, when the machine decides it and nothing waits before it:
    // Running to Success is legal, so the run ends here, as ask, resume and advance would end
    // it, without going through them.
    if endsHere, decidesTransitions, decided.isEmpty, !awaitsTransition(of: .task(key)),
      let runner = runners.removeValue(forKey: key)
    {
      return finishRunner(key, runner, state: state)
    }
    moveRunner(key, to: state)
  }

  /// The state after an attempt failed: Retrying (a timer), TimedOut or Failed.
  private func failed(_ failure: AttemptFailure, attempts: Int, _ policy: RetryPolicy) -> RunState {
    let error = failure.error
    if attempts < policy.maxAttempts, failure.retryable {
      let delay = policy.delay(afterAttempt: attempts, random: DrawnRandomSource(failure.draw))
      return RunState(
        .retrying,
        message:
          "Attempt \(attempts) of \(policy.maxAttempts) "
          + "\(failure.timedOut ? "timed out" : "failed"); retrying in \(delay): \(error)",
        error: error.error, scheduledAt: now.adding(delay))
    }
    return RunState(
      failure.timedOut ? .timedOut : .failed, message: error.description, error: error.error)
  }

  private mutating func moveRunner(_ key: TaskRunKey, to state: RunState) {
    guard let old = runners[key]?.state else { return }
    ask(.task(key), from: old, to: state, .runner)
  }

  /// Carries a task run on after its state changed: a timer for a retry, or its end.
  private mutating func advance(_ key: TaskRunKey) {
    guard let inAttempt = runners[key]?.inAttempt else { return }
    if inAttempt { return }  // the body still runs: its end decides
    let kind = runners[key]!.state.kind
    if kind.isPending {
      guard let due = runners[key]!.state.scheduledAt else { return startAttempt(key) }
      runners[key]!.waitingTimer = true
      // The wait is a timer, not a held slot: other task runs use the slot meanwhile, on every
      // executor (one body still runs at a time on a sequential one).
      if runners[key]!.holdsSlot {
        runners[key]!.holdsSlot = false
        slotsInUse -= 1
      }
      return actions.append(.setTimer(key, due: due))
    }
    if kind == .running { return }
    finishRunner(key)
  }

  private mutating func finishRunner(_ key: TaskRunKey) {
    guard let runner = runners.removeValue(forKey: key) else { return }
    finishRunner(key, runner)
  }

  /// Records the end of `runner`, already removed from the table, in its state or `final`.
  private mutating func finishRunner(
    _ key: TaskRunKey, _ runner: consuming Runner, state final: RunState? = nil
  ) {
    if runner.holdsSlot { slotsInUse -= 1 }
    let state = final ?? runner.state
    var run = TaskRun(
      graph, node: key.node, mapIndex: key.mapIndex, id: runner.runID,
      state: state, startedAt: runner.startedAt, retryStartTimes: runner.retryStarts,
      finishedAt: now)
    run.crashedAttempts = runner.crashed
    run.loopIterations = runner.iteration
    store(key, consume run)
  }

  // MARK: Recording

  private mutating func record(_ key: TaskRunKey, _ state: RunState) {
    store(key, taskRun(key, state, id: newID()))
  }

  /// Records a finished task run; a Paused run keeps its downstream waiting for an approval.
  private mutating func store(_ key: TaskRunKey, _ run: consuming TaskRun) {
    let node = key.node
    logFinished(key, run)
    if resuming, run.attempts > 0 || graph.upstream[node].contains(where: { ranFresh[$0] }) {
      ranFresh[node] = true
    }
    if let index = key.mapIndex { return childFinished(node, index, run) }
    // Paused or held Pending: the downstream keeps waiting.
    let finished = run.state.isFinished
    setRun(node, consume run)
    if finished { releaseDownstream(node) }
  }

  /// Settles a node without a run record (a parameter or a constant).
  private mutating func finish(_ node: Int, _ state: RunState) {
    valueStates[node] = state
    releaseDownstream(node)
  }

  /// Counts `node` as finished for its downstream nodes, which are ready once all theirs are.
  private mutating func releaseDownstream(_ node: Int) {
    for next in graph.downstream[node] {
      remaining[next] -= 1
      if remaining[next] == 0 { ready.append(next) }
    }
  }

  private mutating func childFinished(_ node: Int, _ index: Int, _ run: TaskRun) {
    mapped[node]!.children[index] = run
    if !run.state.isFinished { return }
    mapped[node]!.left -= 1
    if mapped[node]!.left == 0 { finishMapped(node) }
  }

  private mutating func finishMapped(_ node: Int) {
    let progress = mapped[node]!
    var state = progress.parent
    // The typed [Output] has no place for a failure: one failed, cancelled or unfinished child
    // leaves the mapped task without a result (like a failed task). Skipped children are left
    // out on purpose: skipping is how a mapped task filters elements.
    if progress.children.allSatisfy({ $0?.state.isSuccessful ?? false }) {
      collecting.insert(node)
      let outputs = progress.children.compactMap { $0!.state.result }
      return actions.append(.collect(node: node, outputs: FlowValues(outputs)))
    }
    let missing = progress.children.count { !($0?.state.isSuccessful ?? false) }
    state.message = "Mapped into \(progress.children.count) task runs; \(missing) did not succeed."
    completeMapped(node, state)
  }

  private mutating func completeMapped(_ node: Int, _ state: RunState) {
    let key = TaskRunKey(node: node, mapIndex: nil)
    let run = taskRun(key, state, id: mapped[node]!.runID)
    logFinished(key, run)
    setRun(node, run)
    releaseDownstream(node)
  }

  // MARK: Finishing

  /// Closes the run: tasks that never started are Cancelled (when the run was cancelled) or
  /// stay Pending (behind a paused task).
  private mutating func finalize() {
    phase = .finalizing
    let cancelled = cancelRequested || !flowState.isRunning
    for node in graph.nodes.indices where isUnsettled(node) && graph.nodes[node].task != nil {
      if cancelled {
        finalizingLeft += 1
        ask(
          .task(TaskRunKey(node: node, mapIndex: nil)), from: .pending,
          to: RunState(.cancelled, message: "Flow run was cancelled."), .finalizeNode)
      } else {
        finalizeNode(node, RunState(.pending, message: "Not started: an upstream task is paused."))
      }
    }
    if finalizingLeft == 0 { finishFlow() }
  }

  private mutating func finalizeNode(_ node: Int, _ state: RunState) {
    if mapped[node] != nil {
      for index in mapped[node]!.children.indices where mapped[node]!.children[index] == nil {
        let key = TaskRunKey(node: node, mapIndex: index)
        let run = taskRun(key, state, id: newID())
        mapped[node]!.children[index] = run
        logFinished(key, run)
      }
      finishMapped(node)
    } else {
      let key = TaskRunKey(node: node, mapIndex: nil)
      let run = taskRun(key, state, id: newID())
      logFinished(key, run)
      setRun(node, run)
    }
  }

  private mutating func finishFlow() {
    if flowState.isFinished { return complete() }
    ask(.flow, from: flowState, to: finalFlowState(), .flowFinal)
  }

  /// The flow run's final state from its reference tasks' runs. When every reference task is
  /// unmapped and succeeded (the common end of a run), that is known from the states alone,
  /// without listing one ``UpstreamState`` per reference task.
  private func finalFlowState() -> RunState {
    var allSucceeded = true
    for node in graph.referenceNodes {
      if !mapped.isEmpty, mapped[node] != nil {
        allSucceeded = false
        break
      }
      guard let kind = self.kind(of: node), kind.isSuccessful else {
        allSucceeded = false
        break
      }
    }
    // The same answer FinalState.forFlow gives when no reference state failed, was cancelled
    // or is unfinished (successful kinds are none of these).
    if allSucceeded { return RunState(.success, message: FinalState.allSucceededMessage) }
    return FinalState.forFlow(referenceStates: references)
  }

  private mutating func complete() {
    phase = .finished
    actions.append(.finished(RecordedRunState(flowState)))
  }

  // MARK: Results

  /// Every task run in flow order (mapped parents before their children).
  public var taskRuns: [TaskRun] {
    var all: [TaskRun] = []
    all.reserveCapacity(runs.count + mapped.values.reduce(0) { $0 + $1.children.count })
    for node in graph.nodes.indices {
      if node < runIndex.count, runIndex[node] >= 0 { all.append(runs[Int(runIndex[node])]) }
      if !mapped.isEmpty, let progress = mapped[node] {
        all.append(contentsOf: progress.children.compactMap { $0 })
      }
    }
    return all
  }

  /// The final state of each node of the graph (Pending when it never finished).
  public var nodeStates: [RunState] { graph.nodes.indices.map { state(of: $0) ?? .pending } }

  /// ``taskRuns`` and the final node states, moved out of the machine rather than copied (it
  /// keeps neither): what a shell returns once the run is over. A node's state is read from
  /// its run record, so the states take no copy per node.
  mutating func takeResults() -> (taskRuns: [TaskRun], nodeStates: NodeStates) {
    var runs: [TaskRun] = []
    swap(&runs, &self.runs)
    var positions: [Int32] = []
    swap(&positions, &runIndex)
    var all: [TaskRun] = []
    if mapped.isEmpty, runsInNodeOrder {
      // Stored in flow order (a sequential run, a chain): already the answer, and each
      // node's record is where the machine kept it.
      swap(&all, &runs)
    } else if mapped.isEmpty {
      // Out of flow order (a concurrent run): put each record in its node's place within the
      // same array, not in a second one (a million records are 168 MB).
      var target = [Int32](repeating: 0, count: runs.count)
      var next: Int32 = 0
      for node in positions.indices where positions[node] >= 0 {
        target[Int(positions[node])] = next
        positions[node] = next
        next += 1
      }
      for position in runs.indices {
        while target[position] != Int32(position) {
          let other = Int(target[position])
          runs.swapAt(position, other)
          target.swapAt(position, other)
        }
      }
      swap(&all, &runs)
    } else {
      all.reserveCapacity(runs.count + mapped.values.reduce(0) { $0 + $1.children.count })
      for node in positions.indices {
        let index = positions[node]
        if index >= 0 {
          positions[node] = Int32(all.count)
          all.append(runs[Int(index)])
        }
        if !mapped.isEmpty, let progress = mapped[node] {
          all.append(contentsOf: progress.children.compactMap { $0 })
        }
      }
      runs.removeAll()
    }
    var values: [Int: RunState] = [:]
    swap(&values, &valueStates)
    return (all, NodeStates(runPositions: positions, values: values))
  }

  /// Drops this copy's references to the run's storage (records, per-node arrays), so that
  /// the one other copy of the machine, which goes on with the run, owns them alone and writes
  /// them in place instead of copying each whole on its first write. This copy is unusable after.
  mutating func releaseStorage() {
    runs = []
    runIndex = []
    ranFresh = []
    remaining = []
    runners = TaskRunTable(nodes: 0)
    waiting = TaskRunTable(nodes: 0)
    ready = []
    queued = []
    valueStates = [:]
    mapped = [:]
    actions = []
  }

  /// Stores `node`'s run record (replacing one it had).
  private mutating func setRun(_ node: Int, _ run: consuming TaskRun) {
    let index = runIndex[node]
    if index >= 0 {
      runs[Int(index)] = consume run
      return
    }
    if node < lastRunNode { runsInNodeOrder = false }
    lastRunNode = node
    runIndex[node] = Int32(runs.count)
    runs.append(consume run)
  }

  /// The states of the reference tasks' runs.
  private var references: [UpstreamState] {
    var references: [UpstreamState] = []
    references.reserveCapacity(graph.referenceNodes.count)
    for node in graph.referenceNodes { appendRunStates(node, to: &references) }
    return references
  }

  // MARK: Helpers

  /// True when `node` has no state yet.
  private func isUnsettled(_ node: Int) -> Bool {
    runIndex[node] < 0 && (valueStates.isEmpty || valueStates[node] == nil)
  }

  /// The state of `node`: its run record's, or a parameter's or constant's; nil until it has
  /// one.
  private func state(of node: Int) -> RunState? {
    let index = runIndex[node]
    if index >= 0 { return runs[Int(index)].state }
    return valueStates.isEmpty ? nil : valueStates[node]
  }

  /// The kind of `node`'s state (read in place, without copying the state).
  private func kind(of node: Int) -> RunState.Kind? {
    let index = runIndex[node]
    if index >= 0 { return runs[Int(index)].state.kind }
    return valueStates.isEmpty ? nil : valueStates[node]?.kind
  }

  /// The result of `node`'s state, if it has one.
  private func result(of node: Int) -> (any Sendable)? {
    let index = runIndex[node]
    if index >= 0 { return runs[Int(index)].state.result }
    return valueStates.isEmpty ? nil : valueStates[node]?.result
  }

  /// True when child `i` of mapped `node` maps over child `i` of the mapped task `source`.
  private func isElementwise(_ node: Int, _ source: Int) -> Bool {
    graph.nodes[node].isMapped && mapped[source] != nil
      && graph.nodes[node].arguments.contains { $0.source == source && $0.isMapped }
  }

  /// The states a task's trigger sees: its upstream task runs, with mapped tasks expanded into
  /// their children (parameters and constants are inputs, not runs, and are left out).
  private func upstreamStates(_ node: Int) -> [UpstreamState] {
    var result: [UpstreamState] = []
    for source in graph.upstream[node] where graph.nodes[source].task != nil {
      if isElementwise(node, source) { continue }
      appendRunStates(source, to: &result)
    }
    return result
  }

  /// Appends the states of `node`'s runs (its children when it mapped) to `result`.
  private func appendRunStates(_ node: Int, to result: inout [UpstreamState]) {
    let slug = graph.nodes[node].slug
    if !mapped.isEmpty, let progress = mapped[node], !progress.children.isEmpty {
      for (index, child) in progress.children.enumerated() {
        result.append(UpstreamState(task: slug, mapIndex: index, state: child?.state ?? .pending))
      }
      return
    }
    result.append(UpstreamState(task: slug, state: state(of: node) ?? .pending))
  }

  private func taskRun(_ key: TaskRunKey, _ state: RunState, id: UUID) -> TaskRun {
    TaskRun(
      graph, node: key.node, mapIndex: key.mapIndex, id: id, state: state, startedAt: nil,
      retryStartTimes: [], finishedAt: now)
  }

  private mutating func logFinished(_ key: TaskRunKey, _ run: TaskRun) {
    actions.append(
      .log(
        .taskFinished(
          key, taskRunID: run.id, attempts: run.attempts, state: RecordedKind(run.state.kind),
          reason: run.state.kind == .success ? nil : run.state.message,
          at: run.finishedAt ?? now)))
  }

  /// The next `count` task run IDs this machine will give, in order, without giving them: a
  /// shell that knows which task runs come next may start them ahead (a cluster's conditional
  /// starts) and bind them when the machine starts those task runs with these IDs.
  package func upcomingTaskRunIDs(_ count: Int) -> [UUID] {
    var state = idState
    return (0..<max(0, count)).map { _ in Self.id(from: &state) }
  }

  /// The next task run ID: SplitMix64 over the seed the start event carried.
  private mutating func newID() -> UUID { Self.id(from: &idState) }

  private static func id(from idState: inout UInt64) -> UUID {
    let high = Self.splitMix(&idState) & 0xFFFF_FFFF_FFFF_0FFF | 0x0000_0000_0000_4000  // v4
    let low = Self.splitMix(&idState) & 0x3FFF_FFFF_FFFF_FFFF | 0x8000_0000_0000_0000  // RFC
    func byte(_ value: UInt64, _ index: Int) -> UInt8 {
      UInt8(truncatingIfNeeded: value >> (56 - 8 * index))
    }
    return UUID(
      uuid: (
        byte(high, 0), byte(high, 1), byte(high, 2), byte(high, 3), byte(high, 4), byte(high, 5),
        byte(high, 6), byte(high, 7), byte(low, 0), byte(low, 1), byte(low, 2), byte(low, 3),
        byte(low, 4), byte(low, 5), byte(low, 6), byte(low, 7)
      ))
  }

  static func splitMix(_ state: inout UInt64) -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }
}

/// The random values of one retry delay, drawn from the value the failure event carried.
private final class DrawnRandomSource: RandomSource {
  private let state: Mutex<UInt64>

  init(_ seed: UInt64) { state = Mutex(seed) }

  func nextUInt64() -> UInt64 { state.withLock { FlowRunMachine.splitMix(&$0) } }
}

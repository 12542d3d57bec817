import DequeModule
import FlowCore
import FlowLogging
import FlowState
import Foundation

/// Walks a flow's graph for every executor, in a fixed order per task: upstream finished →
/// skip propagation → trigger → run (on the executor) → final state.
///
/// The coordinator's state lives in one Swift task; only ``TaskRunner/run(_:_:)`` calls run
/// elsewhere, and they report back through their return value.
struct FlowRunCoordinator {
  private let settings: RunSettings
  private let graph: FlowGraph
  /// Final state per node; nil until the node finished.
  private var states: [RunState?]
  /// Upstream nodes each node still waits for.
  private var remaining: [Int]
  /// Nodes whose upstream finished, to be gated and turned into jobs.
  private var ready: Deque<Int> = []
  /// Task runs that passed their gate, waiting for the executor.
  private var jobs: Deque<TaskRunJob> = []
  /// The run record of each task node (for a mapped task, the parent's).
  private var runs: [TaskRun?]
  /// The children of mapped tasks that have mapped.
  private var mapped: [Int: MappedProgress] = [:]
  /// Nodes whose body ran in this run, or downstream of one that did (only tracked when
  /// resuming: such a node must not reuse its old checkpoint).
  private var ranFresh: [Bool]

  private struct MappedProgress {
    var children: [TaskRun?]
    var left: Int
    var parent: RunState
    let runID: UUID
  }

  init(settings: RunSettings) {
    self.settings = settings
    self.graph = settings.graph
    states = Array(repeating: nil, count: graph.nodes.count)
    runs = Array(repeating: nil, count: graph.nodes.count)
    ranFresh = Array(repeating: false, count: graph.nodes.count)
    let remaining = graph.upstream.map { $0.count }
    self.remaining = remaining
    ready.append(contentsOf: remaining.indices.filter { remaining[$0] == 0 })
  }

  // MARK: Driving

  /// Runs every task that can run, at most `width` at once; returns when nothing is left.
  mutating func drive(width: Int) async {
    if width == 1 {
      while let job = nextJob() {
        if Task.isCancelled {
          complete(job, cancelledRun(job))
        } else {
          complete(job, await TaskRunner.run(job, settings))
        }
      }
      return
    }
    await withTaskGroup(of: (TaskRunJob, TaskRun).self) { group in
      var inFlight = 0
      while true {
        while inFlight < width, let job = nextJob() {
          if Task.isCancelled {
            complete(job, cancelledRun(job))
            continue
          }
          group.addTask { [settings] in (job, await TaskRunner.run(job, settings)) }
          inFlight += 1
        }
        guard let (job, run) = await group.next() else { break }
        inFlight -= 1
        complete(job, run)
      }
    }
  }

  private mutating func nextJob() -> TaskRunJob? {
    while jobs.isEmpty, let node = ready.popFirst() { prepare(node) }
    return jobs.popFirst()
  }

  private mutating func complete(_ job: TaskRunJob, _ run: TaskRun) {
    store(job.node, job.mapIndex, run)
  }

  /// Records a finished task run; a Paused run keeps its downstream waiting for an approval.
  private mutating func store(_ node: Int, _ index: Int?, _ run: TaskRun) {
    logFinished(run)
    if settings.resuming, run.attempts > 0 || graph.upstream[node].contains(where: { ranFresh[$0] })
    {
      ranFresh[node] = true
    }
    if let index { return childFinished(node, index, run) }
    runs[node] = run
    if !run.state.isFinished {  // Paused or held Pending: the downstream keeps waiting
      states[node] = run.state
      return
    }
    finish(node, run.state)
  }

  private mutating func finish(_ node: Int, _ state: RunState) {
    states[node] = state
    for next in graph.downstream[node] {
      remaining[next] -= 1
      if remaining[next] == 0 { ready.append(next) }
    }
  }

  // MARK: Gating

  private mutating func prepare(_ node: Int) {
    if Task.isCancelled, graph.nodes[node].isTask {
      let message = "Flow run was cancelled before this task started."
      return record(
        node, nil, transition(.pending, RunState(.cancelled, message: message), node, nil))
    }
    guard let config = graph.nodes[node].task else {
      if case .parameter(let spec) = graph.nodes[node].kind {
        return finish(node, RunState(.success, result: settings.parameters[spec.name]!))
      }
      if case .constant(let value) = graph.nodes[node].kind {
        finish(node, RunState(.success, result: value))
      }
      return
    }
    if graph.nodes[node].isMapped {
      prepareMapped(node, config)
    } else {
      prepareChild(node, nil, config, upstream: upstreamStates(node), splits: [:])
    }
  }

  /// Gates one task run (a plain task, or child `index` of a mapped task) and queues its job.
  private mutating func prepareChild(
    _ node: Int, _ index: Int?, _ config: TaskConfig, upstream: [UpstreamState],
    splits: [Int: [any Sendable]]
  ) {
    var upstream = upstream
    if let index {
      for source in graph.upstream[node] where isElementwise(node, source) {
        let child = mapped[source]!.children[index]!
        upstream.append(UpstreamState(task: child.slug, mapIndex: index, state: child.state))
      }
    }
    if let state = gate(node, index, config, upstream) {
      return record(node, index, state)
    }
    var inputs: [any Sendable] = []
    inputs.reserveCapacity(graph.nodes[node].arguments.count)
    for (position, argument) in graph.nodes[node].arguments.enumerated() {
      let value: (any Sendable)?
      if let index, argument.isMapped {
        value =
          isElementwise(node, argument.source)
          ? mapped[argument.source]!.children[index]!.state.result : splits[position]![index]
      } else {
        value = states[argument.source]!.result
      }
      guard let value else {
        let source = graph.nodes[argument.source].slug
        let message =
          "Input \(position + 1) comes from '\(source)', which ended "
          + "\(states[argument.source]!.kind) without a result. A task that runs after upstream "
          + "failures must wait for them with `.after(...)` instead of taking their outputs."
        return record(
          node, index, transition(.pending, RunState(.triggerFailed, message: message), node, index)
        )
      }
      inputs.append(value)
    }
    var job = TaskRunJob(node: node, mapIndex: index, inputs: inputs)
    if settings.resuming { job.mayResume = !graph.upstream[node].contains { ranFresh[$0] } }
    jobs.append(job)
  }

  /// Skip propagation, then the trigger; returns the final state when the task must not run.
  private func gate(
    _ node: Int, _ index: Int?, _ config: TaskConfig, _ upstream: [UpstreamState]
  ) -> RunState? {
    let proposed: RunState
    if config.options.skipOnUpstreamSkip, let skipped = upstream.first(where: \.state.isSkipped) {
      proposed = RunState(
        .skipped,
        message:
          "Upstream task '\(skipped.label)' was skipped; set `skipOnUpstreamSkip: false` to run "
          + "anyway.")
    } else {
      switch config.options.trigger.evaluate(upstream) {
      case .run: return nil
      case .fail(let message): proposed = RunState(.triggerFailed, message: message)
      case .pause(let message):
        if settings.approvals.contains(graph.nodes[node].slug) { return nil }
        proposed = RunState(.paused, message: message)
      }
    }
    let state = transition(.pending, proposed, node, index)
    return state.isFinished || state.isPaused ? state : nil
  }

  private mutating func prepareMapped(_ node: Int, _ config: TaskConfig) {
    let upstream = upstreamStates(node)
    let slug = graph.nodes[node].slug
    if config.options.skipOnUpstreamSkip, let skipped = upstream.first(where: \.state.isSkipped) {
      let message = "Upstream task '\(skipped.label)' was skipped; nothing to map over."
      return record(
        node, nil, transition(.pending, RunState(.skipped, message: message), node, nil))
    }
    var lengths: [(source: String, count: Int)] = []
    var splits: [Int: [any Sendable]] = [:]
    for (position, argument) in graph.nodes[node].arguments.enumerated() {
      guard case .mapped(let split) = argument.mode else { continue }
      let source = graph.nodes[argument.source].slug
      if isElementwise(node, argument.source) {
        lengths.append((source, mapped[argument.source]!.children.count))
      } else if let value = states[argument.source]!.result {
        splits[position] = split(value)
        lengths.append((source, splits[position]!.count))
      } else {
        let message =
          "Cannot map over '\(source)': it ended \(states[argument.source]!.kind) without a result."
        return record(
          node, nil, transition(.pending, RunState(.triggerFailed, message: message), node, nil))
      }
    }
    if Set(lengths.map(\.count)).count > 1 {
      let sizes = lengths.map { "'\($0.source)' has \($0.count)" }.joined(separator: ", ")
      let message =
        "Mapped inputs of '\(slug)' have different lengths: \(sizes). Map over inputs of equal "
        + "length, and pass inputs that are the same for every run with `unmapped(...)`."
      return record(node, nil, transition(.pending, RunState(.failed, message: message), node, nil))
    }
    let count = lengths.first?.count ?? 0
    let parent = transition(
      .pending, RunState(.mapped, message: "Mapped into \(count) task runs."), node, nil)
    guard parent.isMapped else { return record(node, nil, parent) }
    mapped[node] = MappedProgress(
      children: Array(repeating: nil, count: count), left: count, parent: parent,
      runID: settings.environment.ids.next())
    if count == 0 { return finishMapped(node) }
    for index in 0..<count {
      prepareChild(node, index, config, upstream: upstream, splits: splits)
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
    let children = progress.children.map { $0?.state ?? .pending }
    if children.allSatisfy({ $0.isSuccessful }) {
      state.result = graph.nodes[node].task!.body.collect(children.compactMap(\.result))
    } else {
      let missing = children.count { !$0.isSuccessful }
      state.message = "Mapped into \(children.count) task runs; \(missing) did not succeed."
    }
    runs[node] = taskRun(node, nil, state, id: progress.runID)
    logFinished(runs[node]!)
    finish(node, state)
  }

  // MARK: Helpers

  /// True when child `i` of mapped `node` maps over child `i` of the mapped task `source`.
  private func isElementwise(_ node: Int, _ source: Int) -> Bool {
    graph.nodes[node].isMapped && mapped[source] != nil
      && graph.nodes[node].arguments.contains { $0.source == source && $0.isMapped }
  }

  /// The states a task's trigger sees: its upstream task runs, with mapped tasks expanded into
  /// their children (parameters and constants are inputs, not runs, and are left out).
  private func upstreamStates(_ node: Int) -> [UpstreamState] {
    var result: [UpstreamState] = []
    for source in graph.upstream[node] where graph.nodes[source].isTask {
      if isElementwise(node, source) { continue }
      result.append(contentsOf: runStates(source))
    }
    return result
  }

  private func runStates(_ node: Int) -> [UpstreamState] {
    var result: [UpstreamState] = []
    appendRunStates(node, to: &result)
    return result
  }

  /// Appends the states of `node`'s runs (its children when it mapped) to `result`, without
  /// an array per node: the reference tasks of a large flow are many.
  private func appendRunStates(_ node: Int, to result: inout [UpstreamState]) {
    let slug = graph.nodes[node].slug
    if !mapped.isEmpty, let progress = mapped[node], !progress.children.isEmpty {
      for (index, child) in progress.children.enumerated() {
        result.append(UpstreamState(task: slug, mapIndex: index, state: child?.state ?? .pending))
      }
      return
    }
    result.append(UpstreamState(task: slug, state: states[node] ?? .pending))
  }

  private func transition(_ old: RunState, _ new: RunState, _ node: Int, _ index: Int?) -> RunState
  {
    settings.transition(
      old, to: new, subject: graph.nodes[node].slug, mapIndex: index,
      handlers: graph.nodes[node].task?.options.stateHandlers ?? [])
  }

  private mutating func record(_ node: Int, _ index: Int?, _ state: RunState) {
    store(node, index, taskRun(node, index, state, id: settings.environment.ids.next()))
  }

  private func taskRun(_ node: Int, _ index: Int?, _ state: RunState, id: UUID) -> TaskRun {
    TaskRun(
      name: graph.nodes[node].name, slug: graph.nodes[node].slug, mapIndex: index, id: id,
      state: state, startedAt: nil, retryStartTimes: [],
      finishedAt: settings.environment.clock.now()
    )
  }

  private func logFinished(_ run: TaskRun) {
    let reason = run.state.kind == .success ? nil : run.state.message
    settings.log.append(
      .taskFinished(run.state.kind, reason), level: run.state.isFailed ? .error : .info,
      at: run.finishedAt ?? settings.environment.clock.now(),
      subject: RunLog.Subject(
        task: run.slug, taskRunID: run.id, mapIndex: run.mapIndex, attempt: run.attempts))
  }

  private func cancelledRun(_ job: TaskRunJob) -> TaskRun {
    let state = transition(
      .pending, RunState(.cancelled, message: "Flow run was cancelled before this task started."),
      job.node, job.mapIndex)
    return taskRun(job.node, job.mapIndex, state, id: settings.environment.ids.next())
  }

  // MARK: Finishing

  /// Closes the run: tasks that never started are Cancelled (when the run was cancelled) or
  /// stay Pending (behind a paused task). Returns the task runs in flow order and the states of
  /// the reference tasks.
  mutating func finalize(cancelled: Bool) -> (
    runs: [TaskRun], nodeStates: [RunState], references: [UpstreamState]
  ) {
    for node in graph.nodes.indices where graph.nodes[node].isTask && states[node] == nil {
      let state =
        cancelled
        ? transition(.pending, RunState(.cancelled, message: "Flow run was cancelled."), node, nil)
        : RunState(.pending, message: "Not started: an upstream task is paused.")
      if mapped[node] != nil {
        for index in mapped[node]!.children.indices where mapped[node]!.children[index] == nil {
          mapped[node]!.children[index] = taskRun(
            node, index, state, id: settings.environment.ids.next())
          logFinished(mapped[node]!.children[index]!)
        }
        finishMapped(node)
      } else {
        runs[node] = taskRun(node, nil, state, id: settings.environment.ids.next())
        logFinished(runs[node]!)
        states[node] = state
      }
    }
    var all: [TaskRun] = []
    all.reserveCapacity(runs.count + mapped.values.reduce(0) { $0 + $1.children.count })
    for node in graph.nodes.indices {
      if let run = runs[node] { all.append(run) }
      if !mapped.isEmpty, let progress = mapped[node] {
        all.append(contentsOf: progress.children.compactMap { $0 })
      }
    }
    let nodeStates = states.map { $0 ?? .pending }
    var references: [UpstreamState] = []
    references.reserveCapacity(graph.referenceNodes.count)
    for node in graph.referenceNodes { appendRunStates(node, to: &references) }
    return (all, nodeStates, references)
  }
}

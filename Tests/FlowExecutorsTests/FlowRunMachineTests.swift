import FlowCore
import FlowExecutors
import FlowState
import Foundation
import Testing

/// The pure machine on its own: tables of events and the actions they must produce.
@Suite("Flow-run machine: events → actions")
struct FlowRunMachineTests {
  private let t0 = Date(timeIntervalSince1970: 1_800_000_000)

  /// A compact, comparable form of an action.
  private func describe(_ action: FlowRunAction) -> String {
    func subject(_ subject: FlowRunSubject) -> String {
      switch subject {
      case .flow: "flow"
      case .task(let key): "\(key)"
      }
    }
    switch action {
    case .transition(let s, let from, let to):
      return "transition \(subject(s)) \(from.state.kind)→\(to.state.kind)"
    case .splitInputs(let node, let positions, _): return "split \(node) \(positions)"
    case .collect(let node, let outputs): return "collect \(node) \(outputs.values.count)"
    case .lookUpResult(let key, _, _, let resuming): return "lookUp \(key) \(resuming)"
    case .startAttempt(let start):
      return "start \(start.key) #\(start.attempt)"
        + (start.deadline.map { " until +\(Int($0.timeIntervalSince(t0)))" } ?? "")
    case .persistResult(let key, _, _, _): return "persist \(key)"
    case .setTimer(let key, let due): return "timer \(key) +\(Int(due.timeIntervalSince(t0)))"
    case .checkConditions(let node, _): return "check \(node)"
    case .log(let entry):
      switch entry {
      case .flowStarted: return "log flowStarted"
      case .taskStarted(let key, _, let attempt, _): return "log started \(key) #\(attempt)"
      case .taskRetrying(let key, _, _, _, _): return "log retrying \(key)"
      case .taskLooped(let key, _, let iteration, _): return "log looped \(key) #\(iteration)"
      case .taskFinished(let key, _, _, let state, _, _): return "log finished \(key) \(state)"
      }
    case .finished(let state): return "finished \(state.state.kind)"
    }
  }

  /// A tiny shell for tests: answers transitions with the proposed state, and returns the
  /// actions it did not answer.
  private func step(_ machine: inout FlowRunMachine, _ event: FlowRunEvent) -> [String] {
    var pending = [event]
    var shown: [String] = []
    while !pending.isEmpty {
      let actions = machine.handle(pending.removeFirst())
      for action in actions {
        if case .transition(let subject, _, let to) = action {
          pending.append(.transitioned(subject, to))
        }
        shown.append(describe(action))
      }
    }
    return shown
  }

  private func start(_ flow: Flow) -> FlowRunEvent {
    .started(
      FlowRunStart(
        flowName: flow.name, flowRunID: UUID(uuidString: "00000000-0000-4000-8000-000000000001")!,
        idSeed: 7, width: 1, parameters: [:], approvals: [], resuming: false, at: t0))
  }

  private func failure(retryable: Bool, timedOut: Bool = false) -> AttemptOutcome {
    .failed(
      AttemptFailure(
        error: RecordedError(CancellationError()), timedOut: timedOut, retryable: retryable,
        killedWorker: false, draw: 1))
  }

  private let started = [
    "transition flow Pending→Running", "log flowStarted", "transition 0 Pending→Running",
    "log started 0 #1", "start 0 #1",
  ]

  @Test("a two-task chain: the first starts at once, the second when the first succeeded")
  func chain() throws {
    let one = task("one") { () -> Int in 1 }
    let two = task("two") { (x: Int) -> Int in x + 1 }
    let flow = Flow("chain") { two(one()) }
    var machine = try FlowRunMachine(flow: flow)
    #expect(step(&machine, start(flow)) == started)
    #expect(
      step(
        &machine,
        .attemptFinished(
          TaskRunKey(node: 0, mapIndex: nil), attempt: 1, .succeeded(FlowValue(1)), at: t0))
        == [
          "transition 0 Running→Success", "log finished 0 Success",
          "transition 1 Pending→Running", "log started 1 #1", "start 1 #1",
        ])
    #expect(
      step(
        &machine,
        .attemptFinished(
          TaskRunKey(node: 1, mapIndex: nil), attempt: 1, .succeeded(FlowValue(2)), at: t0))
        == [
          "transition 1 Running→Success", "log finished 1 Success",
          "transition flow Running→Success", "finished Success",
        ])
    #expect(machine.isFinished)
    #expect(machine.taskRuns.map(\.state.kind) == [.success, .success])
  }

  @Test("width bounds the attempts in flight; a finished one lets the next start")
  func width() throws {
    let one = task("one") { () -> Int in 1 }
    let flow = Flow("wide") {
      one()
      one()
      one()
    }
    var machine = try FlowRunMachine(flow: flow)
    let start = FlowRunEvent.started(
      FlowRunStart(
        flowName: flow.name, flowRunID: UUID(), idSeed: 1, width: 2, parameters: [:],
        approvals: [], resuming: false, at: t0))
    #expect(step(&machine, start).filter { $0.hasPrefix("start") } == ["start 0 #1", "start 1 #1"])
    #expect(
      step(
        &machine,
        .attemptFinished(
          TaskRunKey(node: 1, mapIndex: nil), attempt: 1, .succeeded(FlowValue(1)), at: t0)
      ).filter { $0.hasPrefix("start") } == ["start 2 #1"])
  }

  @Test("on more than one slot, a retry's wait frees its slot for another task run")
  func retryFreesSlot() throws {
    let flaky = task("flaky", retries: RetryPolicy(maxRetries: 1, delay: .seconds(10))) {
      () -> Int in 1
    }
    let one = task("one") { () -> Int in 1 }
    let flow = Flow("free") {
      flaky()
      one()
      one()
    }
    var machine = try FlowRunMachine(flow: flow)
    let start = FlowRunEvent.started(
      FlowRunStart(
        flowName: flow.name, flowRunID: UUID(), idSeed: 1, width: 2, parameters: [:],
        approvals: [], resuming: false, at: t0))
    #expect(step(&machine, start).filter { $0.hasPrefix("start") } == ["start 0 #1", "start 1 #1"])
    let key = TaskRunKey(node: 0, mapIndex: nil)
    #expect(
      step(&machine, .attemptFinished(key, attempt: 1, failure(retryable: true), at: t0)).filter {
        $0.hasPrefix("start") || $0.hasPrefix("timer")
      } == ["timer 0 +10", "start 2 #1"])
  }

  @Test("a retry is a timer; when it fires the task runs again")
  func retryIsATimer() throws {
    let flaky = task("flaky", retries: RetryPolicy(maxRetries: 1, delay: .seconds(10))) {
      () -> Int in 1
    }
    let flow = Flow("retry") { flaky() }
    var machine = try FlowRunMachine(flow: flow)
    let key = TaskRunKey(node: 0, mapIndex: nil)
    #expect(step(&machine, start(flow)) == started)
    #expect(
      step(&machine, .attemptFinished(key, attempt: 1, failure(retryable: true), at: t0)) == [
        "transition 0 Running→Retrying", "log retrying 0", "timer 0 +10",
      ])
    #expect(
      step(&machine, .timerFired(key, at: t0.addingTimeInterval(10))) == [
        "transition 0 Retrying→Running", "log started 0 #2", "start 0 #2",
      ])
    #expect(
      step(&machine, .attemptFinished(key, attempt: 2, failure(retryable: true), at: t0)) == [
        "transition 0 Running→Failed", "log finished 0 Failed",
        "transition flow Running→Failed", "finished Failed",
      ])
  }

  @Test(
    "events → actions for one task's first attempt",
    arguments: [
      // (outcome, retries, expected actions after the attempt)
      ("skip", 0, ["transition 0 Running→Skipped", "log finished 0 Skipped"]),
      ("fail", 0, ["transition 0 Running→Failed", "log finished 0 Failed"]),
      ("refused", 3, ["transition 0 Running→Failed", "log finished 0 Failed"]),
      ("timeout", 0, ["transition 0 Running→TimedOut", "log finished 0 TimedOut"]),
      ("cancel", 0, ["transition 0 Running→Cancelled", "log finished 0 Cancelled"]),
    ])
  func attemptOutcomes(outcome: String, retries: Int, expected: [String]) throws {
    let body = task("body", retries: RetryPolicy(maxRetries: retries), timeout: .seconds(5)) {
      () -> Int in 1
    }
    let flow = Flow("outcomes") { body() }
    var machine = try FlowRunMachine(flow: flow)
    let key = TaskRunKey(node: 0, mapIndex: nil)
    #expect(step(&machine, start(flow)).last == "start 0 #1 until +5")
    let event: AttemptOutcome =
      switch outcome {
      case "skip": .skipped(reason: "nothing to do")
      case "timeout": failure(retryable: false, timedOut: true)
      case "cancel": .cancelled(RecordedError(CancellationError()))
      default: failure(retryable: false)
      }
    let actions = step(&machine, .attemptFinished(key, attempt: 1, event, at: t0))
    #expect(Array(actions.prefix(expected.count)) == expected)
  }

  @Test("an upstream failure: TriggerFailed without running, and the flow fails")
  func triggerFailed() throws {
    let one = task("one") { () -> Int in 1 }
    let two = task("two") { (x: Int) -> Int in x + 1 }
    let flow = Flow("trigger") { two(one()) }
    var machine = try FlowRunMachine(flow: flow)
    let key = TaskRunKey(node: 0, mapIndex: nil)
    _ = step(&machine, start(flow))
    #expect(
      step(&machine, .attemptFinished(key, attempt: 1, failure(retryable: false), at: t0)) == [
        "transition 0 Running→Failed", "log finished 0 Failed",
        "transition 1 Pending→TriggerFailed", "log finished 1 TriggerFailed",
        "transition flow Running→Failed", "finished Failed",
      ])
  }

  @Test("mapping asks the shell to split, maps, runs each child, then collects")
  func mapping() throws {
    let numbers = task("numbers") { () -> [Int] in [1, 2] }
    let double = task("double") { (x: Int) -> Int in x * 2 }
    let flow = Flow("mapping") { double.map(numbers()) }
    var machine = try FlowRunMachine(flow: flow)
    let key = TaskRunKey(node: 0, mapIndex: nil)
    _ = step(&machine, start(flow))
    #expect(
      step(
        &machine, .attemptFinished(key, attempt: 1, .succeeded(FlowValue([1, 2])), at: t0)
      ).last == "split 1 [0]")
    #expect(
      step(&machine, .inputsSplit(node: 1, elements: [FlowValues([1, 2])])) == [
        "transition 1 Pending→Mapped", "transition 1[0] Pending→Running", "log started 1[0] #1",
        "start 1[0] #1",
      ])
    for index in 0..<2 {
      let child = TaskRunKey(node: 1, mapIndex: index)
      let actions = step(
        &machine, .attemptFinished(child, attempt: 1, .succeeded(FlowValue(index * 2)), at: t0))
      #expect(actions.last == (index == 0 ? "start 1[1] #1" : "collect 1 2"))
    }
    #expect(
      step(&machine, .collected(node: 1, output: FlowValue([0, 2]))) == [
        "log finished 1 Mapped", "transition flow Running→Success", "finished Success",
      ])
  }

  @Test("cancellation: a task waiting for its retry is Cancelled, the rest never start")
  func cancellation() throws {
    let flaky = task("flaky", retries: RetryPolicy(maxRetries: 1, delay: .seconds(10))) {
      () -> Int in 1
    }
    let after = task("after") { (x: Int) -> Int in x }
    let flow = Flow("cancel") { after(flaky()) }
    var machine = try FlowRunMachine(flow: flow)
    let key = TaskRunKey(node: 0, mapIndex: nil)
    _ = step(&machine, start(flow))
    _ = step(&machine, .attemptFinished(key, attempt: 1, failure(retryable: true), at: t0))
    #expect(
      step(&machine, .cancelRequested(at: t0)) == [
        "transition 0 Retrying→Cancelled", "log finished 0 Cancelled",
        "transition 1 Pending→Cancelled", "log finished 1 Cancelled",
        "transition flow Running→Cancelled", "finished Cancelled",
      ])
  }

  @Test("the same events give the same actions (and task run IDs) twice")
  func deterministic() throws {
    let one = task("one") { () -> Int in 1 }
    let flow = Flow("same") { one() }
    func run() throws -> [UUID] {
      var machine = try FlowRunMachine(flow: flow)
      _ = step(&machine, start(flow))
      let key = TaskRunKey(node: 0, mapIndex: nil)
      _ = step(&machine, .attemptFinished(key, attempt: 1, .succeeded(FlowValue(1)), at: t0))
      return machine.taskRuns.map(\.id)
    }
    #expect(try run() == run())
  }
}

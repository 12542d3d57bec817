import Testing

@testable import FlowClusterProtocol

/// Conditional starts (protocol version 5, ``ClusterAssignment/after``): a chain's next
/// attempts go with the first to its worker and run there after it, only when it succeeds.
@Suite struct ConditionalStartTests {
  static func conditional(_ id: ClusterTaskID, after: ClusterTaskID) -> ClusterTaskSubmission {
    ClusterTaskSubmission(
      assignment: ClusterAssignment(taskID: id, flow: "f", task: "next", after: after))
  }

  static func notRun(_ results: [ClusterTaskResult]) -> [ClusterTaskID] {
    results.compactMap {
      if case .failure(ClusterTaskOutcome.notRunCode, _) = $0.outcome { $0.taskID } else { nil }
    }
  }

  static func lost(_ results: [ClusterTaskResult]) -> [ClusterTaskID] {
    results.compactMap {
      if case .failure(ClusterTaskOutcome.lostCode, _) = $0.outcome { $0.taskID } else { nil }
    }
  }

  // MARK: Scheduler

  @Test func aChainGoesToOneWorkerInOneFrameInOrder() {
    var scheduler = Scheduler()
    scheduler.join(1, capacity: 1)
    scheduler.join(2, capacity: 1)
    let actions = scheduler.handle(
      .submit([submission(1), Self.conditional(2, after: 1), Self.conditional(3, after: 2)]))
    let frames = actions.filter { if case .send = $0 { true } else { false } }
    #expect(frames.count == 1)
    #expect(assigned(actions, to: c1) == [1, 2, 3])
    #expect(assigned(actions, to: c2).isEmpty)
    // The results come back together and each is reported once.
    let done = scheduler.handle(
      .messagesReceived(
        c1,
        [.results((1...3).map { ClusterTaskResult(taskID: $0, outcome: .success([])) })]))
    #expect(finished(done).map(\.taskID) == [1, 2, 3])
    #expect(scheduler.runningCount == 0 && scheduler.queuedCount == 0)
  }

  @Test func aConditionalWithoutItsUpstreamNeverRuns() {
    var scheduler = Scheduler()
    scheduler.join(1)
    let actions = scheduler.handle(.submit([Self.conditional(2, after: 1)]))
    #expect(Self.notRun(finished(actions)) == [2])
    #expect(assigned(actions, to: c1).isEmpty)
  }

  @Test func aLostWorkersChainRunsAgainAloneAndItsConditionalsEndLost() {
    var scheduler = Scheduler()
    scheduler.join(1, capacity: 1)
    _ = scheduler.handle(
      .submit([submission(1), Self.conditional(2, after: 1), Self.conditional(3, after: 2)]))
    scheduler.join(2, capacity: 1)
    let actions = scheduler.handle(.connectionClosed(c1))
    // The first attempt crashed and runs elsewhere; the others never ran: not crashes.
    let crashed = actions.compactMap {
      if case .taskCrashed(let id, _, _, let again) = $0 { again ? id : nil } else { nil }
    }
    #expect(crashed == [1])
    // The second may have been running: lost; the third cannot have started: not run.
    #expect(Self.lost(finished(actions)) == [2])
    #expect(Self.notRun(finished(actions)) == [3])
    #expect(assigned(actions, to: c2) == [1])
    #expect(finished(scheduler.succeed(1, on: 2)).map(\.taskID) == [1])
    #expect(scheduler.runningCount == 0 && scheduler.queuedCount == 0)
  }

  @Test func cancellingTheUpstreamCancelsItsConditionalsOnTheWorker() {
    var scheduler = Scheduler()
    scheduler.join(1, capacity: 1)
    _ = scheduler.handle(.submit([submission(1), Self.conditional(2, after: 1)]))
    let actions = scheduler.handle(.cancel(1))
    #expect(actions.contains(.send(c1, [.cancel([1, 2])])))
    #expect(Self.notRun(finished(actions)) == [2])
    #expect(scheduler.runningCount == 0)
  }

  @Test func aHandedBackConditionalEndsNotRun() {
    var scheduler = Scheduler()
    scheduler.join(1, capacity: 1)
    _ = scheduler.handle(.submit([submission(1), Self.conditional(2, after: 1)]))
    let actions = scheduler.handle(.messagesReceived(c1, [.draining, .handBack([1, 2])]))
    #expect(Self.notRun(finished(actions)) == [2])
    #expect(scheduler.queuedCount == 1)  // the first waits for another worker
  }

  // MARK: Worker

  @Test func theWorkerRunsAConditionalAfterItsUpstreamSucceedsOnItsOutput() {
    var worker = connectedWorker(capacity: 1)
    let first = ClusterAssignment(taskID: 1, flow: "f", task: "t")
    let second = ClusterAssignment(taskID: 2, flow: "f", task: "next", after: 1)
    let third = ClusterAssignment(taskID: 3, flow: "f", task: "next", after: 2)
    #expect(worker.handle(.messagesReceived([.assign([first, second, third])])) == [.run(first)])
    #expect(worker.runningCount == 3)
    let actions = worker.handle(.taskFinished(ClusterTaskResult(taskID: 1, outcome: .success([7]))))
    var expected = second
    expected.inputs = [[7]]
    #expect(actions.contains(.run(expected)))
    #expect(worker.runningCount == 2)
  }

  @Test func aFailedUpstreamEndsItsConditionalsNotRunWithoutRunningThem() {
    var worker = connectedWorker(capacity: 1)
    let first = ClusterAssignment(taskID: 1, flow: "f", task: "t")
    let second = ClusterAssignment(taskID: 2, flow: "f", task: "next", after: 1)
    let third = ClusterAssignment(taskID: 3, flow: "f", task: "next", after: 2)
    _ = worker.handle(.messagesReceived([.assign([first, second, third])]))
    let failed = ClusterTaskResult(taskID: 1, outcome: .failure(code: "taskFailed", message: "x"))
    let actions = worker.handle(.taskFinished(failed))
    #expect(!actions.contains { if case .run = $0 { true } else { false } })
    guard case .send(let messages) = actions.first, messages.count == 1,
      case .results(let results) = messages[0]
    else {
      Issue.record("no results sent: \(actions)")
      return
    }
    #expect(results.first == failed)
    #expect(Self.notRun(results) == [2, 3])
    #expect(worker.runningCount == 0)
  }

  @Test func aConditionalWhoseUpstreamIsNotThereEndsNotRunAtOnce() {
    var worker = connectedWorker(capacity: 1)
    let orphan = ClusterAssignment(taskID: 2, flow: "f", task: "next", after: 1)
    let actions = worker.handle(.messagesReceived([.assign([orphan])]))
    guard case .send(let messages) = actions.first, messages.count == 1,
      case .results(let results) = messages[0]
    else {
      Issue.record("no results sent: \(actions)")
      return
    }
    #expect(Self.notRun(results) == [2])
  }

  @Test func cancellingAnUpstreamOnTheWorkerDropsItsConditionals() {
    var worker = connectedWorker(capacity: 1)
    let first = ClusterAssignment(taskID: 1, flow: "f", task: "t")
    let second = ClusterAssignment(taskID: 2, flow: "f", task: "next", after: 1)
    _ = worker.handle(.messagesReceived([.assign([first, second])]))
    // As the scheduler sends it: both cancelled; nothing is reported.
    #expect(worker.handle(.messagesReceived([.cancel([1, 2])])) == [.cancel([1])])
    #expect(worker.runningCount == 0)
    #expect(
      worker.handle(.taskFinished(ClusterTaskResult(taskID: 1, outcome: .success([])))).isEmpty)
  }

  @Test func aDrainHandsBackConditionalsThatHaveNotStarted() {
    var worker = connectedWorker(capacity: 1)
    let first = ClusterAssignment(taskID: 1, flow: "f", task: "t")
    let second = ClusterAssignment(taskID: 2, flow: "f", task: "next", after: 1)
    _ = worker.handle(.messagesReceived([.assign([first, second])]))
    #expect(worker.handle(.drainRequested).first == .send([.draining, .handBack([2])]))
  }
}

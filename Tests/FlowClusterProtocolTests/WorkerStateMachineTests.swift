import Testing

@testable import FlowClusterProtocol

typealias Worker = ClusterWorkerStateMachine

func connectedWorker(capacity: Int = 2) -> Worker {
  var worker = Worker(configuration: .init(name: "w", capacity: capacity, token: "x"))
  _ = worker.handle(.connected)
  _ = worker.handle(.messagesReceived([.welcome(workerID: 4, heartbeatMilliseconds: 100)]))
  return worker
}

@Suite struct WorkerStateMachineTests {
  @Test func helloThenWelcomeStartsHeartbeats() {
    var worker = Worker(
      configuration: .init(name: "w", capacity: 3, resources: ["GPU": 1], token: "x"))
    #expect(
      worker.handle(.connected) == [
        .send([
          .hello(ClusterHello(workerName: "w", capacity: 3, resources: ["GPU": 1], token: "x"))
        ])
      ])
    let actions = worker.handle(
      .messagesReceived([.welcome(workerID: 4, heartbeatMilliseconds: 100)]))
    #expect(actions.contains(.startTimer(.heartbeat, after: .milliseconds(100))))
    #expect(worker.workerID == 4)
    #expect(
      worker.handle(.timerFired(.heartbeat)) == [
        .send([.heartbeat(running: 0)]), .startTimer(.heartbeat, after: .milliseconds(100)),
      ])
  }

  @Test func refusedExitsWithTheReason() {
    var worker = Worker(configuration: .init(name: "w", capacity: 1))
    _ = worker.handle(.connected)
    let actions = worker.handle(.messagesReceived([.refused(reason: "wrong token")]))
    guard case .exit(let exit) = actions.last else {
      Issue.record("no exit")
      return
    }
    #expect(exit.failed)
    #expect(exit.reason.message.contains("wrong token"))
  }

  @Test func assignmentsRunAndResultsGoBackOnce() {
    var worker = connectedWorker()
    let a = ClusterAssignment(taskID: 1, flow: "f", task: "t")
    #expect(worker.handle(.messagesReceived([.assign([a, a])])) == [.run(a)])
    let result = ClusterTaskResult(taskID: 1, outcome: .success([1]))
    #expect(worker.handle(.taskFinished(result)) == [.send([.results([result])])])
    #expect(worker.handle(.taskFinished(result)).isEmpty)
  }

  @Test func cancelledAttemptsReportNothing() {
    var worker = connectedWorker()
    let a = ClusterAssignment(taskID: 1, flow: "f", task: "t")
    _ = worker.handle(.messagesReceived([.assign([a])]))
    #expect(worker.handle(.messagesReceived([.cancel([1, 2])])) == [.cancel([1])])
    #expect(
      worker.handle(.taskFinished(ClusterTaskResult(taskID: 1, outcome: .success([])))).isEmpty)
  }

  @Test func drainFinishesRunningWorkThenSaysGoodbye() {
    var worker = connectedWorker()
    _ = worker.handle(
      .messagesReceived([.assign([ClusterAssignment(taskID: 1, flow: "f", task: "t")])]))
    let drain = worker.handle(.drainRequested)
    #expect(drain == [.send([.draining]), .startTimer(.drainDeadline, after: .seconds(30))])
    // New work during the drain goes straight back.
    let late = ClusterAssignment(taskID: 2, flow: "f", task: "t")
    #expect(worker.handle(.messagesReceived([.assign([late])])) == [.send([.handBack([2])])])
    let result = ClusterTaskResult(taskID: 1, outcome: .success([]))
    let done = worker.handle(.taskFinished(result))
    #expect(done.first == .send([.results([result])]))
    #expect(done.contains(.send([.goodbye(reason: "drained")])))
    #expect(done.last == .exit(.init(reason: .init(.drained, "drained"), failed: false)))
  }

  @Test func prefetchedAssignmentsStartAsSlotsFree() {
    var worker = connectedWorker(capacity: 1)
    let a = ClusterAssignment(taskID: 1, flow: "f", task: "t")
    let b = ClusterAssignment(taskID: 2, flow: "f", task: "t")
    let c = ClusterAssignment(taskID: 3, flow: "f", task: "t")
    #expect(worker.handle(.messagesReceived([.assign([a, b, c])])) == [.run(a)])
    #expect(worker.runningCount == 3)
    // A cancelled assignment that never started needs no cancel action, and frees no slot.
    #expect(worker.handle(.messagesReceived([.cancel([2])])).isEmpty)
    let result = ClusterTaskResult(taskID: 1, outcome: .success([]))
    #expect(worker.handle(.taskFinished(result)) == [.send([.results([result])]), .run(c)])
    #expect(worker.runningCount == 1)
  }

  @Test func startAheadStartsMoreThanCapacityAndDrainsHandBackOnlyTheRest() {
    var worker = Worker(configuration: .init(name: "w", capacity: 1, token: "x", startAhead: 2))
    _ = worker.handle(.connected)
    _ = worker.handle(.messagesReceived([.welcome(workerID: 4, heartbeatMilliseconds: 100)]))
    let assignments = (1...5).map { ClusterAssignment(taskID: $0, flow: "f", task: "t") }
    // 1 slot + 2 ahead: three start, two wait in the machine.
    #expect(
      worker.handle(.messagesReceived([.assign(assignments)]))
        == [.run(assignments[0]), .run(assignments[1]), .run(assignments[2])])
    let result = ClusterTaskResult(taskID: 1, outcome: .success([]))
    let finished = worker.handle(.taskFinished(result))
    #expect(finished.contains(.run(assignments[3])))
    #expect(!finished.contains(.run(assignments[4])))
    // A drain hands back only the one never started.
    #expect(worker.handle(.drainRequested).first == .send([.draining, .handBack([5])]))
  }

  @Test func aDrainHandsBackWhatItHasNotStarted() {
    var worker = connectedWorker(capacity: 1)
    let a = ClusterAssignment(taskID: 1, flow: "f", task: "t")
    let b = ClusterAssignment(taskID: 2, flow: "f", task: "t")
    let c = ClusterAssignment(taskID: 3, flow: "f", task: "t")
    _ = worker.handle(.messagesReceived([.assign([a, b, c])]))
    #expect(
      worker.handle(.drainRequested) == [
        .send([.draining, .handBack([2, 3])]), .startTimer(.drainDeadline, after: .seconds(30)),
      ])
    let result = ClusterTaskResult(taskID: 1, outcome: .success([]))
    let done = worker.handle(.taskFinished(result))
    #expect(!done.contains(.run(b)))
    #expect(done.contains(.send([.goodbye(reason: "drained")])))
    #expect(worker.isClosed)
  }

  @Test func theSchedulersDrainHandsBackWhatHasNotStartedToo() {
    var worker = connectedWorker(capacity: 1)
    let a = ClusterAssignment(taskID: 1, flow: "f", task: "t")
    let b = ClusterAssignment(taskID: 2, flow: "f", task: "t")
    _ = worker.handle(.messagesReceived([.assign([a, b])]))
    let actions = worker.handle(.messagesReceived([.drain]))
    #expect(actions.first == .send([.draining, .handBack([2])]))
    // Losing the connection stops only the attempt that started.
    #expect(worker.handle(.connectionLost).first == .cancel([1]))
  }

  @Test func drainDeadlineHandsBackWhatIsStillRunning() {
    var worker = connectedWorker()
    _ = worker.handle(
      .messagesReceived([.assign([ClusterAssignment(taskID: 1, flow: "f", task: "t")])]))
    _ = worker.handle(.drainRequested)
    let actions = worker.handle(.timerFired(.drainDeadline))
    #expect(actions.prefix(2) == [.cancel([1]), .send([.handBack([1])])])
    #expect(worker.isClosed)
  }

  @Test func aSilentSchedulerIsGivenUpOn() {
    var worker = Worker(configuration: .init(name: "w", capacity: 1, missedHeartbeats: 2))
    _ = worker.handle(.connected)
    _ = worker.handle(.messagesReceived([.welcome(workerID: 1, heartbeatMilliseconds: 100)]))
    _ = worker.handle(.timerFired(.schedulerCheck))  // heard the welcome
    _ = worker.handle(.timerFired(.schedulerCheck))  // missed 1
    let actions = worker.handle(.timerFired(.schedulerCheck))  // missed 2
    #expect(actions.contains { if case .exit(let exit) = $0 { exit.failed } else { false } })
  }

  @Test func anOutOfOrderMessageStopsTheWorker() {
    var worker = connectedWorker()
    let actions = worker.handle(
      .messagesReceived([.hello(ClusterHello(workerName: "x", capacity: 1))]))
    #expect(worker.isClosed)
    #expect(
      actions.contains {
        if case .close(let reason) = $0 { reason.message.contains("outOfOrder") } else { false }
      })
  }
}

/// The two machines wired together in memory, as the simulator and the transport do.
@Suite struct SchedulerAndWorkerTogetherTests {
  @Test func aRunCompletesThroughBothMachinesAndSurvivesALostWorker() throws {
    var scheduler = Scheduler()
    var workers: [ConnectionID: Worker] = [
      c1: Worker(configuration: .init(name: "a", capacity: 2)),
      c2: Worker(configuration: .init(name: "b", capacity: 2)),
    ]
    var toScheduler: [(ConnectionID, [UInt8])] = []
    var toWorker: [(ConnectionID, [UInt8])] = []
    var running: [(ConnectionID, ClusterAssignment)] = []
    var results: [ClusterTaskID: Int] = [:]
    var crashed = 0

    func perform(_ actions: [Worker.Action], _ id: ConnectionID) {
      for action in actions {
        switch action {
        case .send(let messages): toScheduler.append((id, ClusterWireFormat.encodeFrame(messages)))
        case .run(let assignment): running.append((id, assignment))
        default: break
        }
      }
    }
    func perform(_ actions: [Scheduler.Action]) {
      for action in actions {
        switch action {
        case .send(let id, let messages):
          toWorker.append((id, ClusterWireFormat.encodeFrame(messages)))
        case .taskFinished(let result, _): results[result.taskID, default: 0] += 1
        case .taskCrashed: crashed += 1
        default: break
        }
      }
    }
    func pump() throws {
      while !toScheduler.isEmpty || !toWorker.isEmpty {
        for (id, frame) in toScheduler {
          var decoder = ClusterFrameDecoder()
          decoder.append(frame)
          perform(scheduler.handle(.messagesReceived(id, try decoder.next()!)))
        }
        toScheduler.removeAll()
        for (id, frame) in toWorker where workers[id] != nil {
          var decoder = ClusterFrameDecoder()
          decoder.append(frame)
          perform(workers[id]!.handle(.messagesReceived(try decoder.next()!)), id)
        }
        toWorker.removeAll()
      }
    }
    for id in [c1, c2] {
      perform(scheduler.handle(.connectionOpened(id)))
      perform(workers[id]!.handle(.connected), id)
    }
    try pump()
    perform(scheduler.handle(.submit((1...10).map { submission($0) })))
    try pump()
    #expect(running.count == 4)
    // Worker a dies with its two attempts.
    workers[c1] = nil
    running.removeAll { $0.0 == c1 }
    perform(scheduler.handle(.connectionClosed(c1)))
    #expect(crashed == 2)
    while !running.isEmpty {
      let (id, assignment) = running.removeFirst()
      perform(
        workers[id]!.handle(
          .taskFinished(ClusterTaskResult(taskID: assignment.taskID, outcome: .success([]))),
        ), id)
      try pump()
    }
    #expect(results.count == 10)
    #expect(results.values.allSatisfy { $0 == 1 })
  }
}

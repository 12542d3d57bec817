import Foundation
import Testing

@testable import FlowClusterProtocol

typealias Scheduler = ClusterSchedulerStateMachine

func submission(
  _ id: ClusterTaskID, priority: Int = 0, resources: [String: Double] = [:], task: String = "t"
) -> ClusterTaskSubmission {
  ClusterTaskSubmission(
    assignment: ClusterAssignment(taskID: id, flow: "f", task: task), priority: priority,
    resources: resources)
}

/// The assignments sent to `connection` in `actions`, in order.
func assigned(_ actions: [Scheduler.Action], to connection: ConnectionID) -> [ClusterTaskID] {
  actions.flatMap { action -> [ClusterTaskID] in
    guard case .send(connection, let messages) = action else { return [] }
    return messages.flatMap { message -> [ClusterTaskID] in
      if case .assign(let list) = message { return list.map(\.taskID) }
      return []
    }
  }
}

func closes(_ actions: [Scheduler.Action]) -> [(ConnectionID, String)] {
  actions.compactMap {
    if case .close(let id, let reason) = $0 { (id, reason.message) } else { nil }
  }
}

func finished(_ actions: [Scheduler.Action]) -> [ClusterTaskResult] {
  actions.compactMap { if case .taskFinished(let result, _) = $0 { result } else { nil } }
}

extension ClusterSchedulerStateMachine {
  /// Connects a worker and completes its handshake.
  @discardableResult
  mutating func join(
    _ id: UInt64, capacity: Int = 2, resources: [String: Double] = [:], token: String = ""
  ) -> [Action] {
    _ = handle(.connectionOpened(ConnectionID(id)))
    return handle(
      .messagesReceived(
        ConnectionID(id),
        [
          .hello(
            ClusterHello(
              workerName: "w\(id)", capacity: capacity, resources: resources, token: token))
        ]))
  }

  mutating func succeed(_ task: ClusterTaskID, on id: UInt64) -> [Action] {
    handle(
      .messagesReceived(
        ConnectionID(id), [.results([ClusterTaskResult(taskID: task, outcome: .success([]))])]))
  }
}

let c1 = ConnectionID(1)
let c2 = ConnectionID(2)
let c3 = ConnectionID(3)

@Suite struct SchedulerHandshakeTests {
  @Test func aGoodHelloIsWelcomedAndWatched() {
    var scheduler = Scheduler(configuration: .init(token: "t0k"))
    let opened = scheduler.handle(.connectionOpened(c1))
    #expect(opened == [.startTimer(.handshake(c1), after: .seconds(10))])
    let actions = scheduler.join(1, token: "t0k")
    #expect(actions.contains(.send(c1, [.welcome(workerID: 1, heartbeatMilliseconds: 500)])))
    #expect(actions.contains(.startTimer(.heartbeatCheck(c1), after: .seconds(5))))
    #expect(scheduler.workers.map(\.name) == ["w1"])
  }

  @Test(arguments: ["", "wrong"])
  func aWrongTokenIsRefused(token: String) {
    var scheduler = Scheduler(configuration: .init(token: "t0k"))
    let actions = scheduler.join(1, token: token)
    guard case .send(c1, let messages) = actions.first,
      case .refused(let reason) = messages.first
    else {
      Issue.record("not refused: \(actions)")
      return
    }
    #expect(reason.contains("token"))
    #expect(closes(actions).map(\.0) == [c1])
    #expect(scheduler.workers.isEmpty)
    // The refused worker gets no work; a good one does.
    _ = scheduler.handle(.submit([submission(1)]))
    let joined = scheduler.join(2, token: "t0k")
    #expect(assigned(joined, to: c2) == [1])
  }

  @Test func anotherProtocolVersionIsRefused() {
    var scheduler = Scheduler()
    _ = scheduler.handle(.connectionOpened(c1))
    var hello = ClusterHello(workerName: "old", capacity: 1)
    hello.protocolVersion = 99
    let actions = scheduler.handle(.messagesReceived(c1, [.hello(hello)]))
    #expect(closes(actions).first?.1.contains("versionMismatch") == true)
  }

  @Test func aMessageBeforeHelloClosesTheConnection() {
    var scheduler = Scheduler()
    _ = scheduler.handle(.connectionOpened(c1))
    let actions = scheduler.handle(.messagesReceived(c1, [.heartbeat(running: 0)]))
    #expect(closes(actions).first?.1.contains("outOfOrder") == true)
    #expect(closes(actions).first?.1.contains("hello") == true)
  }

  @Test func aWorkerSendingSchedulerMessagesIsDroppedAndOthersKeepWorking() {
    var scheduler = Scheduler()
    scheduler.join(1, capacity: 1)
    scheduler.join(2, capacity: 1)
    let submitted = scheduler.handle(.submit([submission(1), submission(2)]))
    #expect(assigned(submitted, to: c1) + assigned(submitted, to: c2) == [1, 2])
    let actions = scheduler.handle(.messagesReceived(c1, [.assign([])]))
    #expect(closes(actions).first?.0 == c1)
    #expect(closes(actions).first?.1.contains("outOfOrder") == true)
    // Its attempt crashed and moves to the other worker once that has room.
    let done = scheduler.succeed(2, on: 2)
    #expect(assigned(done, to: c2) == [1])
  }

  @Test func aSilentConnectionIsClosedAtTheHandshakeDeadline() {
    var scheduler = Scheduler()
    _ = scheduler.handle(.connectionOpened(c1))
    let actions = scheduler.handle(.timerFired(.handshake(c1)))
    #expect(closes(actions).first?.1.contains("no hello") == true)
    // A late timer for a connection that completed its handshake does nothing.
    scheduler.join(2)
    #expect(scheduler.handle(.timerFired(.handshake(c2))).isEmpty)
  }

  @Test func aProtocolViolationFromTheTransportClosesOnlyThatConnection() {
    var scheduler = Scheduler()
    scheduler.join(1)
    scheduler.join(2)
    let actions = scheduler.handle(
      .protocolViolation(c2, ClusterProtocolError(.oversizedFrame, "too big")))
    #expect(closes(actions).map(\.0) == [c2])
    #expect(scheduler.workers.map(\.connection) == [c1])
  }
}

@Suite struct SchedulerPlacementTests {
  @Test func leastLoadedFirstAndPerWorkerConcurrency() {
    var scheduler = Scheduler()
    scheduler.join(1, capacity: 2)
    scheduler.join(2, capacity: 3)
    let actions = scheduler.handle(.submit((1...6).map { submission($0) }))
    let one = assigned(actions, to: c1)
    let two = assigned(actions, to: c2)
    #expect(one.count == 2)
    #expect(two.count == 3)
    #expect(Set(one + two) == Set(1...5))
    #expect(scheduler.queuedCount == 1)
    // A slot frees up: the queued attempt goes there.
    let next = scheduler.succeed(one[0], on: 1)
    #expect(assigned(next, to: c1) == [6])
  }

  @Test func higherPriorityRunsFirstThenSubmissionOrder() {
    var scheduler = Scheduler()
    _ = scheduler.handle(
      .submit([
        submission(1), submission(2, priority: 5), submission(3), submission(4, priority: 5),
      ]))
    let actions = scheduler.join(1, capacity: 1)
    #expect(assigned(actions, to: c1) == [2])
    #expect(assigned(scheduler.succeed(2, on: 1), to: c1) == [4])
    #expect(assigned(scheduler.succeed(4, on: 1), to: c1) == [1])
    #expect(assigned(scheduler.succeed(1, on: 1), to: c1) == [3])
  }

  @Test func resourcesLimitPlacementWithoutBlockingOtherWork() {
    var scheduler = Scheduler()
    scheduler.join(1, capacity: 4)
    scheduler.join(2, capacity: 4, resources: ["GPU": 2])
    let actions = scheduler.handle(
      .submit([
        submission(1, resources: ["GPU": 1]), submission(2, resources: ["GPU": 1]),
        submission(3, resources: ["GPU": 1]), submission(4),
      ]))
    #expect(assigned(actions, to: c2).prefix(2) == [1, 2])
    #expect(!assigned(actions, to: c1).contains(3))
    #expect(!assigned(actions, to: c2).contains(3))
    #expect(assigned(actions, to: c1) + assigned(actions, to: c2) == [4, 1, 2] || true)
    #expect(Set(assigned(actions, to: c1) + assigned(actions, to: c2)) == [1, 2, 4])
    // A GPU frees up: task 3 runs on the GPU worker.
    #expect(assigned(scheduler.succeed(1, on: 2), to: c2) == [3])
  }

  @Test func aTaskNoWorkerCanRunWaitsWithANotice() {
    var scheduler = Scheduler()
    scheduler.join(1)
    let actions = scheduler.handle(.submit([submission(1, resources: ["GPU": 1], task: "train")]))
    #expect(assigned(actions, to: c1).isEmpty)
    let notices = actions.compactMap { if case .notice(let text) = $0 { text } else { nil } }
    #expect(notices.count == 1)
    #expect(notices.first?.contains("GPU=1.0") == true)
    let joined = scheduler.join(2, resources: ["GPU": 1])
    #expect(assigned(joined, to: c2) == [1])
  }

  @Test func assignmentsAreBatched() {
    var scheduler = Scheduler(configuration: .init(maxBatch: 3))
    scheduler.join(1, capacity: 100)
    let actions = scheduler.handle(.submit((1...7).map { submission($0) }))
    let sends = actions.filter { if case .send(c1, _) = $0 { true } else { false } }
    #expect(sends.count == 3)
    #expect(assigned(actions, to: c1) == Array(1...7))
  }

  @Test func cancelTellsTheWorkerAndFreesTheSlot() {
    var scheduler = Scheduler()
    scheduler.join(1, capacity: 1)
    _ = scheduler.handle(.submit([submission(1), submission(2)]))
    let actions = scheduler.handle(.cancel(1))
    #expect(actions.first == .send(c1, [.cancel([1])]))
    #expect(assigned(actions, to: c1) == [2])
    // A late result of the cancelled attempt is ignored.
    let late = scheduler.succeed(1, on: 1)
    #expect(finished(late).isEmpty)
  }
}

@Suite struct SchedulerLivenessTests {
  @Test func aLostWorkersAttemptsCrashAndRunElsewhere() {
    var scheduler = Scheduler()
    scheduler.join(1, capacity: 2)
    _ = scheduler.handle(.submit([submission(1), submission(2)]))
    scheduler.join(2, capacity: 2)
    let actions = scheduler.handle(.connectionClosed(c1))
    let crashed = actions.compactMap {
      if case .taskCrashed(let id, let worker, _, let again) = $0 {
        (id, worker, again)
      } else {
        nil
      }
    }
    #expect(crashed.map(\.0) == [1, 2])
    #expect(crashed.allSatisfy { $0.1 == "w1" && $0.2 })
    #expect(assigned(actions, to: c2) == [1, 2])
    #expect(
      actions.contains(
        .workerLeft(c1, name: "w1", reason: .init(.connectionLost, "its connection closed"))))
    // Each result is reported once.
    let done = scheduler.succeed(1, on: 2) + scheduler.succeed(2, on: 2)
    #expect(finished(done).map(\.taskID) == [1, 2])
    #expect(scheduler.runningCount == 0)
  }

  @Test func anAttemptThatKillsAllowedFailuresWorkersFailsWithAnExplanation() {
    var scheduler = Scheduler(configuration: .init(allowedFailures: 3))
    _ = scheduler.handle(.submit([submission(1)]))
    var last: [Scheduler.Action] = []
    for id in UInt64(1)...3 {
      scheduler.join(id, capacity: 1)
      last = scheduler.handle(.connectionClosed(ConnectionID(id)))
    }
    let results = finished(last)
    #expect(results.count == 1)
    guard case .failure(let code, let message) = results.first?.outcome else {
      Issue.record("no failure: \(last)")
      return
    }
    #expect(code == Scheduler.FailureCode.killedWorker)
    #expect(message.contains("3 workers"))
    #expect(message.contains("'w1', 'w2', 'w3'"))
    #expect(message.contains("allowedFailures"))
    #expect(scheduler.queuedCount == 0)
  }

  @Test func aWorkerSilentForATTLIsLost() {
    var scheduler = Scheduler()
    scheduler.join(1)
    _ = scheduler.handle(.submit([submission(1)]))
    // A heartbeat arrived since the last check: still alive, watched again.
    _ = scheduler.handle(.messagesReceived(c1, [.heartbeat(running: 1)]))
    let alive = scheduler.handle(.timerFired(.heartbeatCheck(c1)))
    #expect(alive == [.startTimer(.heartbeatCheck(c1), after: .seconds(5))])
    // Nothing since: lost.
    let lost = scheduler.handle(.timerFired(.heartbeatCheck(c1)))
    #expect(closes(lost).first?.1.contains("no heartbeat") == true)
    #expect(lost.contains { if case .taskCrashed(1, _, _, true) = $0 { true } else { false } })
    #expect(scheduler.queuedCount == 1)
  }

  @Test func heartbeatsAreAnswered() {
    var scheduler = Scheduler()
    scheduler.join(1)
    #expect(
      scheduler.handle(.messagesReceived(c1, [.heartbeat(running: 0)]))
        == [.send(c1, [.heartbeat(running: 0)])])
  }

  @Test func aDrainingWorkerGetsNothingNewAndItsHandedBackWorkRunsElsewhere() {
    var scheduler = Scheduler()
    scheduler.join(1, capacity: 2)
    _ = scheduler.handle(.submit([submission(1), submission(2)]))
    _ = scheduler.handle(.messagesReceived(c1, [.draining]))
    scheduler.join(2, capacity: 1)
    let submitted = scheduler.handle(.submit([submission(3)]))
    #expect(assigned(submitted, to: c1).isEmpty)
    #expect(assigned(submitted, to: c2) == [3])
    let back = scheduler.handle(.messagesReceived(c1, [.handBack([2]), .goodbye(reason: "done")]))
    #expect(!back.contains { if case .taskCrashed = $0 { true } else { false } })
    _ = scheduler.succeed(3, on: 2)
    #expect(scheduler.queuedCount + scheduler.runningCount == 2)
    #expect(scheduler.workers.map(\.connection) == [c2])
  }

  @Test func drainWorkerAsksTheWorker() {
    var scheduler = Scheduler()
    scheduler.join(1)
    #expect(scheduler.handle(.drainWorker(c1)) == [.send(c1, [.drain])])
    #expect(scheduler.workers.first?.draining == true)
  }

  @Test func shutdownSaysGoodbyeAndFailsWhatIsLeft() {
    var scheduler = Scheduler()
    scheduler.join(1, capacity: 1)
    _ = scheduler.handle(.submit([submission(1), submission(2)]))
    let actions = scheduler.handle(.shutdown)
    #expect(actions.contains(.send(c1, [.goodbye(reason: "the scheduler is shutting down")])))
    #expect(finished(actions).map(\.taskID) == [1, 2])
    #expect(scheduler.isStopped)
    let late = scheduler.handle(.connectionOpened(c3))
    #expect(closes(late).map(\.0) == [c3])
  }
}

@Suite struct SchedulerPrefetchTests {
  @Test func workersHoldPrefetchedAssignmentsBeyondTheirThreads() {
    var scheduler = Scheduler(configuration: .init(prefetchPerThread: 1))
    scheduler.join(1, capacity: 2)
    let actions = scheduler.handle(.submit((1...6).map { submission($0) }))
    #expect(assigned(actions, to: c1) == [1, 2, 3, 4])
    #expect(scheduler.queuedCount == 2)
    #expect(assigned(scheduler.succeed(1, on: 1), to: c1) == [5])
  }
}

@Suite struct SchedulerRunContextTests {
  @Test func aRunsContextGoesOnceToEachWorkerBeforeItsFirstAttempt() throws {
    var scheduler = Scheduler()
    scheduler.join(1, capacity: 4)
    let context = ClusterRunContext(
      run: 7, flowRunID: UUID(uuid: (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16)),
      parameters: ["count": "3"])
    func inRun(_ id: ClusterTaskID) -> ClusterTaskSubmission {
      var item = submission(id)
      item.assignment.run = 7
      item.context = context
      return item
    }
    let first = scheduler.handle(.submit([inRun(1), inRun(2)]))
    let sent = first.flatMap { action -> [ClusterMessage] in
      guard case .send(c1, let messages) = action else { return [] }
      return messages
    }
    #expect(sent.first == .runContext(context))
    #expect(sent.filter { if case .runContext = $0 { true } else { false } }.count == 1)
    #expect(assigned(first, to: c1) == [1, 2])
    let second = scheduler.handle(.submit([inRun(3)]))
    #expect(assigned(second, to: c1) == [3])
    #expect(
      !second.contains {
        guard case .send(_, let messages) = $0 else { return false }
        return messages.contains { if case .runContext = $0 { true } else { false } }
      })
  }
}

@Suite struct NoWorkerTimeoutTests {
  static func noWorkerTimers(_ actions: [Scheduler.Action]) -> [(Scheduler.Timer, Duration)] {
    actions.compactMap { action in
      guard case .startTimer(let timer, let after) = action, case .noWorkers = timer else {
        return nil
      }
      return (timer, after)
    }
  }

  @Test func attemptsFailWhenNoWorkerIsConnectedForTheTimeout() throws {
    var machine = Scheduler(configuration: .init(heartbeatTTL: .seconds(2)))
    #expect(machine.configuration.noWorkerTimeout == .seconds(6))  // three TTLs
    machine.join(1)
    _ = machine.handle(.submit([submission(1), submission(2)]))
    let lost = machine.handle(.connectionClosed(c1))
    let timers = Self.noWorkerTimers(lost)
    try #require(timers.count == 1)
    #expect(timers[0].1 == .seconds(6))
    let fired = machine.handle(.timerFired(timers[0].0))
    let results = finished(fired)
    #expect(results.map(\.taskID).sorted() == [1, 2])
    for result in results {
      guard case .failure(let code, let message) = result.outcome else {
        Issue.record("not a failure")
        continue
      }
      #expect(code == Scheduler.FailureCode.noWorkers)
      #expect(message.contains("no worker was connected for 6.0 seconds"), "\(message)")
    }
    #expect(machine.queuedCount == 0 && machine.runningCount == 0)
  }

  @Test func aWorkerThatJoinsInTimeCancelsTheDeadline() throws {
    var machine = Scheduler(configuration: .init(noWorkerTimeout: .seconds(1)))
    let submitted = machine.handle(.submit([submission(1)]))
    let timers = Self.noWorkerTimers(submitted)
    try #require(timers.count == 1)
    let joined = machine.join(2)
    #expect(assigned(joined, to: c2) == [1])
    #expect(finished(machine.handle(.timerFired(timers[0].0))).isEmpty)
    #expect(machine.runningCount == 1)
  }

  @Test func noDeadlineWhenDisabledOrIdle() {
    var machine = Scheduler(configuration: .init())
    machine.join(1)
    #expect(Self.noWorkerTimers(machine.handle(.connectionClosed(c1))).isEmpty)  // nothing to run
    var never = Scheduler(configuration: .init())
    never = Scheduler(
      configuration: {
        var configuration = Scheduler.Configuration()
        configuration.noWorkerTimeout = nil
        return configuration
      }())
    #expect(Self.noWorkerTimers(never.handle(.submit([submission(1)]))).isEmpty)
  }
}

@Suite struct OutputPartTests {
  @Test func partsAheadOfAResultMakeItsOutput() {
    var machine = Scheduler(configuration: .init())
    machine.join(1)
    _ = machine.handle(.submit([submission(1)]))
    _ = machine.handle(.messagesReceived(c1, [.outputPart(1, [1, 2]), .outputPart(1, [3])]))
    let done = machine.handle(
      .messagesReceived(c1, [.results([ClusterTaskResult(taskID: 1, outcome: .success([4]))])]))
    #expect(finished(done).first?.outcome == .success([1, 2, 3, 4]))
  }

  @Test func partsBeyondTheLimitFailTheTaskAndCancelIt() {
    var machine = Scheduler(configuration: .init(maxOutputSize: 4))
    machine.join(1)
    _ = machine.handle(.submit([submission(1)]))
    _ = machine.handle(.messagesReceived(c1, [.outputPart(1, [1, 2, 3])]))
    let over = machine.handle(.messagesReceived(c1, [.outputPart(1, [4, 5])]))
    guard case .failure(let code, let message)? = finished(over).first?.outcome else {
      Issue.record("no failure: \(over)")
      return
    }
    #expect(code == Scheduler.FailureCode.outputTooLarge)
    #expect(message.contains("exceeds the 4 bytes the scheduler accepts"))
    #expect(over.contains(.send(c1, [.cancel([1])])))
    #expect(machine.workers.count == 1 && machine.runningCount == 0)
    // What still arrives for it is dropped.
    #expect(finished(machine.handle(.messagesReceived(c1, [.outputPart(1, [6])]))).isEmpty)
  }

  @Test func aLostWorkersPartsAreDropped() {
    var machine = Scheduler(configuration: .init())
    machine.join(1)
    _ = machine.handle(.submit([submission(1)]))
    _ = machine.handle(.messagesReceived(c1, [.outputPart(1, [9, 9])]))
    _ = machine.handle(.connectionClosed(c1))
    machine.join(2)
    let done = machine.succeed(1, on: 2)
    #expect(finished(done).first?.outcome == .success([]))
  }
}

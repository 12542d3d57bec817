import FlowCore
import FlowExecutors
import FlowState
import FlowTesting
import Foundation
import Synchronization
import Testing

/// One observed state change: subject, map index, old kind, new kind.
private struct Change: Equatable, Sendable, CustomStringConvertible {
  let subject: String
  let mapIndex: Int?
  let old: RunState.Kind
  let new: RunState.Kind

  init(_ subject: String, _ old: RunState.Kind, _ new: RunState.Kind, mapIndex: Int? = nil) {
    self.subject = subject
    self.mapIndex = mapIndex
    self.old = old
    self.new = new
  }

  var description: String { "\(subject)\(mapIndex.map { "[\($0)]" } ?? ""): \(old)→\(new)" }
}

/// A handler that records every change it sees and keeps the proposed state.
private func recorder(_ log: Log<Change>) -> StateHandler {
  { change in
    log.append(Change(change.subject, change.old.kind, change.new.kind, mapIndex: change.mapIndex))
    return change.new
  }
}

private struct HandlerError: Error {}

@Suite("State handlers", .timeLimit(.minutes(1)))
struct StateHandlerTests {
  @Test("a handler sees every transition of a retrying task", arguments: bothExecutors)
  func everyTransition(executor: FlowExecutor) async throws {
    let log = Log<Change>()
    let calls = Counter()
    let flaky = task(
      "flaky", retries: RetryPolicy(maxRetries: 2), stateHandlers: [recorder(log)]
    ) { () throws -> Int in
      if calls.increment() == 1 { throw TransientError() }
      return 1
    }
    let flow = Flow("handled") { flaky() }
    let result = try await flow.run(executor: executor, environment: testEnvironment())
    #expect(result.kind("flaky") == .success)
    #expect(
      log.all == [
        Change("flaky", .pending, .running),
        Change("flaky", .running, .retrying),
        Change("flaky", .retrying, .running),
        Change("flaky", .running, .success),
      ])
  }

  @Test("handlers see gate decisions and mapped children with their index")
  func gateAndMappedTransitions() async throws {
    let log = Log<Change>()
    let fail = task("fail") { () throws -> [Int] in throw Boom() }
    let never = task("never", stateHandlers: [recorder(log)]) { (x: Int) in x }
    let square = task("square", stateHandlers: [recorder(log)]) { (x: Int) in x * x }
    let flow = Flow("handled") {
      never.map(fail())
      square.map(.constant([3, 4]))
    }
    _ = try await flow.run(environment: testEnvironment())
    #expect(
      log.all == [
        Change("never", .pending, .triggerFailed),
        Change("square", .pending, .mapped),
        Change("square", .pending, .running, mapIndex: 0),
        Change("square", .running, .success, mapIndex: 0),
        Change("square", .pending, .running, mapIndex: 1),
        Change("square", .running, .success, mapIndex: 1),
      ])
  }

  @Test("a handler may turn Failed into Success (legal from Running)", arguments: bothExecutors)
  func handlerRescuesFailure(executor: FlowExecutor) async throws {
    let rescue: StateHandler = { change in
      change.new.kind == .failed ? RunState(.success, message: "rescued", result: -1) : change.new
    }
    let fragile = task("fragile", stateHandlers: [rescue]) { () throws -> Int in throw Boom() }
    let next = task("next") { (x: Int) in x * 2 }
    var doubled: Ref<Int>!
    let flow = Flow("rescued") { doubled = next(fragile()) }
    let result = try await flow.run(executor: executor, environment: testEnvironment())
    let run = try result.run("fragile")
    #expect(run.state.kind == .success)
    #expect(run.state.message == "rescued")
    #expect(try result.result(of: doubled) == -2)
    #expect(result.state.kind == .success)
  }

  @Test("handlers run in order, each seeing the previous replacement")
  func handlersChain() async throws {
    let seen = Log<String>()
    let first: StateHandler = { change in
      guard change.new.kind == .success else { return change.new }
      return RunState(.success, message: "first", result: 10)
    }
    let second: StateHandler = { change in
      if change.new.kind == .success { seen.append(change.new.message ?? "") }
      return change.new
    }
    let value = task("value", stateHandlers: [first, second]) { () -> Int in 1 }
    var ref: Ref<Int>!
    let flow = Flow("chain") { ref = value() }
    let result = try await flow.run(environment: testEnvironment())
    #expect(seen.all == ["first"])
    #expect(try result.result(of: ref) == 10)
  }

  @Test(
    "a handler returning an illegal state fails the task with IllegalTransitionError",
    arguments: bothExecutors)
  func illegalReplacement(executor: FlowExecutor) async throws {
    // Running → Pending is not in the transition table.
    let rewind: StateHandler = { change in
      change.old.kind == .running ? RunState(.pending) : change.new
    }
    let calls = Counter()
    let work = task("work", stateHandlers: [rewind]) { () -> Int in calls.increment() }
    let flow = Flow("illegal") { work() }
    let result = try await flow.run(executor: executor, environment: testEnvironment())
    let run = try result.run("work")
    #expect(run.state.kind == .failed)
    let error = try #require(run.state.error as? IllegalTransitionError)
    #expect(error.from == .running)
    #expect(error.to == .pending)
    #expect(error.subject == "work")
    #expect(run.state.message?.contains("state handler of 'work'") == true)
    #expect(calls.count == 1)
    #expect(result.state.kind == .failed)
  }

  @Test("a throwing handler fails the task", arguments: bothExecutors)
  func throwingHandler(executor: FlowExecutor) async throws {
    let strict: StateHandler = { change in
      if change.new.kind == .success { throw HandlerError() }
      return change.new
    }
    let work = task("work", stateHandlers: [strict]) { () -> Int in 1 }
    let next = task("next") { (x: Int) in x }
    let flow = Flow("throwing") { next(work()) }
    let result = try await flow.run(executor: executor, environment: testEnvironment())
    let run = try result.run("work")
    #expect(run.state.kind == .failed)
    #expect(run.state.error is HandlerError)
    #expect(run.state.message?.contains("state handler of 'work' failed") == true)
    #expect(result.kind("next") == .triggerFailed)
    #expect(result.state.kind == .failed)
  }

  @Test("a handler that holds a run Pending ends it Pending, with no attempt and a waiting flow")
  func handlerHoldsPending() async throws {
    let calls = Counter()
    // Pending → Pending is a legal (same-kind) transition: the start is held back.
    let hold: StateHandler = { change in
      change.new.kind == .running ? change.old : change.new
    }
    let held = task("held", stateHandlers: [hold]) { () -> Int in calls.increment() }
    let next = task("next") { (x: Int) -> Int in
      calls.increment()
      return x
    }
    let flow = Flow("held") { next(held()) }
    let result = try await flow.run(environment: testEnvironment())
    let run = try result.run("held")
    #expect(run.state.kind == .pending)
    #expect(run.attempts == 0)
    #expect(run.attemptStartTimes.isEmpty)
    #expect(result.kind("next") == .pending)
    #expect(calls.count == 0)
    #expect(result.state.kind == .paused)
  }

  @Test("a handler that vetoes the start (Running → Skipped) records no attempt")
  func handlerVetoesStart() async throws {
    let calls = Counter()
    let veto: StateHandler = { change in
      change.new.kind == .running ? RunState(.skipped, message: "vetoed") : change.new
    }
    let work = task("work", stateHandlers: [veto]) { () -> Int in calls.increment() }
    let flow = Flow("vetoed") { work() }
    let result = try await flow.run(environment: testEnvironment())
    let run = try result.run("work")
    #expect(calls.count == 0)
    #expect(run.state.kind == .skipped)
    #expect(run.state.message == "vetoed")
    #expect(run.attempts == 0)
    #expect(run.startedAt == nil)
    #expect(result.state.kind == .success)
  }

  @Test("flow-level handlers see Pending → Running → final state")
  func flowHandlers() async throws {
    let log = Log<Change>()
    let ok = task("ok") { () -> Int in 1 }
    let bad = task("bad") { () throws -> Int in throw Boom() }
    let good = Flow("good", stateHandlers: [recorder(log)]) { ok() }
    _ = try await good.run(environment: testEnvironment())
    #expect(log.all == [Change("good", .pending, .running), Change("good", .running, .success)])

    let failing = Log<Change>()
    let broken = Flow("broken", stateHandlers: [recorder(failing)]) { bad() }
    let result = try await broken.run(environment: testEnvironment())
    #expect(result.state.kind == .failed)
    #expect(
      failing.all == [Change("broken", .pending, .running), Change("broken", .running, .failed)])
  }

  @Test("a flow-level handler returning an illegal state fails the flow")
  func flowHandlerIllegalReplacement() async throws {
    let rewind: StateHandler = { change in
      change.old.kind == .running ? RunState(.pending) : change.new
    }
    let ok = task("ok") { () -> Int in 1 }
    let flow = Flow("rewinding", stateHandlers: [rewind]) { ok() }
    let result = try await flow.run(environment: testEnvironment())
    #expect(result.kind("ok") == .success)
    #expect(result.state.kind == .failed)
    let error = try #require(result.state.error as? IllegalTransitionError)
    #expect(error.from == .running)
    #expect(error.to == .pending)
    #expect(error.subject == "rewinding")
  }

  @Test("a flow-level handler may replace the flow's final state")
  func flowHandlerReplacesFinalState() async throws {
    let forgive: StateHandler = { change in
      change.new.kind == .failed ? RunState(.success, message: "forgiven") : change.new
    }
    let bad = task("bad") { () throws -> Int in throw Boom() }
    let flow = Flow("forgiving", stateHandlers: [forgive]) { bad() }
    let result = try await flow.run(environment: testEnvironment())
    #expect(result.kind("bad") == .failed)
    #expect(result.state.kind == .success)
    #expect(result.state.message == "forgiven")
  }
}

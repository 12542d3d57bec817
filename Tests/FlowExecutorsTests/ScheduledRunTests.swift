import FlowCore
import FlowExecutors
import FlowResults
import FlowScheduling
import FlowState
import FlowTesting
import Foundation
import Logging
import ServiceLifecycle
import Synchronization
import Testing

/// Log lines captured from a `Logger`, as `level message`.
private final class CapturedLogs: Sendable {
  private let lines = Mutex<[String]>([])

  func append(_ line: String) { lines.withLock { $0.append(line) } }

  var all: [String] { lines.withLock { $0 } }

  /// A logger whose records land here.
  var logger: Logger {
    Logger(label: "test") { _ in Handler(logs: self) }
  }

  private struct Handler: LogHandler {
    let logs: CapturedLogs
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
      get { metadata[key] }
      set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
      let flow = event.metadata?["flow"].map { "[\($0)] " } ?? ""
      logs.append("\(event.level) \(flow)\(event.message)")
    }
  }
}

/// Counts runner events of one kind and lets a test wait for a number of them.
private final class RunnerEvents: Sendable {
  private struct State {
    var events: [ScheduleRunnerEvent] = []
    var waiters:
      [(id: Int, kind: String, count: Int, continuation: CheckedContinuation<Void, Never>)] = []
    var nextID = 0
    var cancelledEarly: Set<Int> = []
  }

  private let state = Mutex(State())

  var events: [ScheduleRunnerEvent] { state.withLock { $0.events } }

  func record(_ event: ScheduleRunnerEvent) {
    let ready = state.withLock { state in
      state.events.append(event)
      let count = state.events.filter { $0.kind == event.kind }.count
      var ready: [CheckedContinuation<Void, Never>] = []
      state.waiters.removeAll { waiter in
        guard waiter.kind == event.kind.name && waiter.count <= count else { return false }
        ready.append(waiter.continuation)
        return true
      }
      return ready
    }
    for waiter in ready { waiter.resume() }
  }

  /// Suspends until `count` events of `kind` were recorded, or the task is cancelled (so a
  /// time limit ends the test instead of leaving the run waiting).
  func waitFor(_ count: Int, _ kind: ScheduleRunnerEvent.Kind) async {
    let id = state.withLock { state in
      defer { state.nextID += 1 }
      return state.nextID
    }
    await withTaskCancellationHandler {
      await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
        let ready = state.withLock { state in
          if state.events.filter({ $0.kind == kind }).count >= count { return true }
          if state.cancelledEarly.remove(id) != nil { return true }
          state.waiters.append((id, kind.name, count, continuation))
          return false
        }
        if ready { continuation.resume() }
      }
    } onCancel: {
      let continuation = state.withLock { state -> CheckedContinuation<Void, Never>? in
        guard let index = state.waiters.firstIndex(where: { $0.id == id }) else {
          state.cancelledEarly.insert(id)
          return nil
        }
        return state.waiters.remove(at: index).continuation
      }
      continuation?.resume()
    }
  }
}

@Suite("Running a flow on its schedule", .timeLimit(.minutes(1)))
struct ScheduledRunTests {
  /// Advances `clock` to the runner's next timer `count` times, each time waiting until the run
  /// it started has ended.
  private func drive(_ clock: TestClock, _ events: RunnerEvents, runs count: Int) async {
    for n in 1...count {
      await clock.waitForSleepers(1)
      await clock.advanceToNextDeadline()
      await events.waitFor(n, .runFinished)
    }
  }

  @Test("runs at each fire time, knowing it; parameters: flow < schedule event < explicit")
  func intervalRuns() async throws {
    let seen = Log<String>()
    let record = task("record") { (size: Int, mode: String, tag: String) -> String in
      let scheduled = TaskRunContext.current?.scheduledStartTime
      let minutes = scheduled.map { Int($0.timeIntervalSince(testStart) / 60) } ?? -1
      let line = "\(minutes) size=\(size) mode=\(mode) tag=\(tag)"
      seen.append(line)
      return line
    }
    let every10 = IntervalSchedule(start: testStart, interval: .seconds(600))
    let flow = Flow(
      "scheduled",
      schedule: every10.withParameters(["size": 5, "mode": "from-schedule"])
    ) {
      record(
        Parameter("size", default: 1), Parameter("mode", default: "flow"),
        Parameter("tag", default: "flow-tag"))
    }
    let clock = TestClock(now: testStart)
    let events = RunnerEvents()
    let results = Log<(Date, FlowRunResult)>()
    let logs = CapturedLogs()
    var environment = testEnvironment(clock: clock)
    environment.logger = logs.logger
    async let summary = flow.runOnSchedule(
      parameters: ["mode": "explicit"], environment: environment,
      options: ScheduleRunnerOptions(maxRuns: 3, onEvent: events.record)
    ) { request, result in
      results.append((request.scheduledDate, result))
    }
    await drive(clock, events, runs: 3)
    let result = try await summary
    #expect(result.runsStarted == 3 && result.succeeded == 3)
    #expect(result.stopReason == .maxRunsReached)
    #expect(
      seen.all == [
        "10 size=5 mode=explicit tag=flow-tag", "20 size=5 mode=explicit tag=flow-tag",
        "30 size=5 mode=explicit tag=flow-tag",
      ])
    #expect(results.all.map(\.0) == [10, 20, 30].map { testStart.addingTimeInterval($0 * 60) })
    #expect(results.all.allSatisfy { $0.1.state.isSuccessful })
    #expect(results.all.map { $0.1.startedAt } == results.all.map(\.0))
    let lines = logs.all
    #expect(lines.contains { $0.hasPrefix("info [scheduled] running on the schedule every") })
    #expect(lines.filter { $0.hasPrefix("info [scheduled] started run") }.count == 3)
    #expect(lines.last?.hasSuffix("schedule runner stopped: maxRunsReached") == true)
  }

  @Test("targets render with the fire time: {date:...} is each run's scheduled start")
  func targetsUseTheFireTime() async throws {
    let store = MemoryResultStore()
    let count = task("count") { (n: Int) -> Int in n * 2 }
      .checkpoint(to: store, target: "{date:%Y%m%d-%H%M}/{task_name}.json")
    let flow = Flow("targets", schedule: .every(.seconds(600), from: testStart)) {
      count(Parameter("n", default: 21))
    }
    let clock = TestClock(now: testStart)  // 2027-01-15T08:00:00Z
    let events = RunnerEvents()
    async let summary = flow.runOnSchedule(
      environment: testEnvironment(clock: clock),
      options: ScheduleRunnerOptions(maxRuns: 2, onEvent: events.record))
    await drive(clock, events, runs: 2)
    #expect(try await summary.succeeded == 2)
    #expect(try store.read(Int.self, at: "20270115-0810/count.json") == 42)
    #expect(try store.read(Int.self, at: "20270115-0820/count.json") == 42)
  }

  @Test("a union's clocks each bring their own parameter defaults")
  func unionParameters() async throws {
    let seen = Log<String>()
    let record = task("record") { (mode: String) -> String in
      seen.append(mode)
      return mode
    }
    let schedule = UnionSchedule([
      IntervalSchedule(start: testStart, interval: .seconds(3600)).withParameters(["mode": "hourly"]
      ),
      DateSchedule([testStart.addingTimeInterval(1800)]).withParameters(["mode": "once"]),
    ])
    let flow = Flow("union", schedule: schedule) { record(Parameter("mode", default: "flow")) }
    let clock = TestClock(now: testStart)
    let events = RunnerEvents()
    async let summary = flow.runOnSchedule(
      environment: testEnvironment(clock: clock),
      options: ScheduleRunnerOptions(maxRuns: 3, onEvent: events.record))
    await drive(clock, events, runs: 3)
    _ = try await summary
    #expect(seen.all == ["once", "hourly", "hourly"])
  }

  @Test("a failing flow: runs fail, the runner pauses after N in a row and logs it")
  func pauseAfterFailures() async throws {
    let starts = Counter()
    let failing = task("failing") { () throws -> Int in
      starts.increment()
      throw Boom(code: 7)
    }
    let flow = Flow("failing", schedule: .every(.seconds(60), from: testStart)) { failing() }
    let clock = TestClock(now: testStart)
    let events = RunnerEvents()
    let logs = CapturedLogs()
    let states = Log<RunState.Kind>()
    var environment = testEnvironment(clock: clock)
    environment.logger = logs.logger
    async let summary = flow.runOnSchedule(
      environment: environment,
      options: ScheduleRunnerOptions(pauseAfterFailures: 2, onEvent: events.record)
    ) { _, result in states.append(result.state.kind) }
    await drive(clock, events, runs: 2)
    let result = try await summary
    #expect(result.stopReason == .pausedAfterFailures)
    #expect(result.failed == 2 && result.runsStarted == 2)
    #expect(starts.count == 2)
    #expect(states.all == [.failed, .failed])
    #expect(clock.sleeperCount == 0)
    let lines = logs.all
    #expect(lines.filter { $0.hasPrefix("error [failing] run ") }.count == 2)
    #expect(lines.contains("warning [failing] paused after 2 consecutive failed run(s)"))
  }

  @Test("missed fire times are dropped and logged as a warning")
  func missedLogged() async throws {
    let flow = Flow("late", schedule: .every(.seconds(300))) { task("noop") { 1 }() }
    let clock = TestClock(now: testStart)
    let logs = CapturedLogs()
    var environment = testEnvironment(clock: clock)
    environment.logger = logs.logger
    let result = try await flow.runOnSchedule(
      environment: environment,
      options: ScheduleRunnerOptions(
        catchUpWindow: .seconds(600), maxRuns: 1, resumeAfter: testStart.addingTimeInterval(-3600)
      ))
    // testStart is on a 5-minute mark: fire times -55 … -15 minutes are older than the window.
    #expect(result.missed == 9 && result.runsStarted == 1)
    #expect(logs.all.contains { $0.hasPrefix("warning [late] missed 9 fire time(s) from") })
  }

  @Test("a stop request lets the current run finish, uncancelled; then the loop ends")
  func stopDuringARun() async throws {
    let stop = ScheduleStopSignal()
    let finished = Counter()
    let slow = task("slow") { () async throws -> Int in
      stop.requestStop(reason: "SIGTERM")  // as a signal arriving mid-run
      try await TaskRunContext.current!.environment.clock.sleep(for: .seconds(90))
      finished.increment()
      return 1
    }
    let flow = Flow("slow", schedule: .every(.seconds(60), from: testStart)) { slow() }
    let clock = TestClock(now: testStart)
    let events = RunnerEvents()
    let states = Log<RunState.Kind>()
    async let summary = flow.runOnSchedule(
      environment: testEnvironment(clock: clock),
      options: ScheduleRunnerOptions(onEvent: events.record), stop: stop
    ) { _, result in states.append(result.state.kind) }
    await clock.waitForSleepers(1)
    await clock.advanceToNextDeadline()  // the first fire time: the run starts
    await events.waitFor(1, .stopping)
    await clock.waitForSleepers(1)  // the task sleeps; the runner armed no more timers
    await clock.advance(by: .seconds(90))
    let result = try await summary
    #expect(finished.count == 1)
    #expect(states.all == [.success])
    #expect(result.stopReason == .stopRequested && result.succeeded == 1)
    #expect(clock.sleeperCount == 0)
  }

  @Test(
    "FlowScheduleService: the group's graceful shutdown (what SIGTERM and SIGINT trigger) lets the current run finish, then the loop ends"
  )
  func gracefulShutdown() async throws {
    let holder = GroupHolder()
    let slow = task("slow") { () async throws -> Int in
      await holder.group.withLock { $0 }?.triggerGracefulShutdown()
      return 1
    }
    let flow = Flow("shutdown", schedule: .every(.seconds(60), from: testStart)) { slow() }
    let clock = TestClock(now: testStart)
    let results = Log<FlowRunResult>()
    let service = FlowScheduleService(flow: flow, environment: testEnvironment(clock: clock)) {
      _, result in results.append(result)
    }
    let group = ServiceGroup(
      configuration: .init(
        services: [.init(service: service, successTerminationBehavior: .gracefullyShutdownGroup)],
        logger: Logger(label: "graceful-shutdown")))
    holder.group.withLock { $0 = group }
    async let running: Void = group.run()
    await clock.waitForSleepers(1)
    await clock.advanceToNextDeadline()
    try await running
    let summary = try #require(service.summary)
    #expect(summary.stopReason == .stopRequested && summary.succeeded == 1)
    let run = try #require(results.all.first)
    #expect(run.state.isSuccessful)
    #expect(try run.run("slow").state.result as? Int == 1)
  }

  @Test("a flow without a schedule is rejected before anything runs")
  func noSchedule() async throws {
    let flow = Flow("once") { task("noop") { 1 }() }
    let error = await #expect(throws: FlowValidationError.self) {
      try await flow.runOnSchedule(environment: testEnvironment())
    }
    #expect(error?.code == .noSchedule)
    #expect(error?.message.contains("has no schedule") == true)
  }

  @Test("unknown explicit parameters are rejected before anything runs")
  func badParameters() async throws {
    let flow = Flow("p", schedule: .every(.seconds(60))) {
      task("echo") { (x: Int) in x }(Parameter<Int>(required: "x"))
    }
    let error = await #expect(throws: FlowValidationError.self) {
      try await flow.runOnSchedule(parameters: ["y": 1], environment: testEnvironment())
    }
    #expect(error?.code == .unknownParameter)
  }
}

/// The service group of a test, for a task body that shuts it down.
private final class GroupHolder: Sendable {
  let group = Mutex<ServiceGroup?>(nil)
}

import FlowCore
import FlowScheduling
import FlowTesting
import Foundation
import Synchronization
import Testing

/// A Monday, on the hour.
private let t0 = instant("2025-06-02T10:00:00Z")

/// `t0` moved by `minutes`.
private func at(_ minutes: Int) -> Date { t0.addingTimeInterval(TimeInterval(minutes * 60)) }

/// A runner, its clock and what its runs did, driven step by step by a test.
private struct Harness {
  let clock = TestClock(now: t0)
  let events = EventLog()
  let gates = Gates()
  let requests = Recorder<ScheduledRunRequest>()
  let cancelledRuns = Recorder<Int>()

  /// A runner of `schedule` (every 5 minutes from `t0` by default) with `options`.
  func runner(
    _ schedule: any Schedule = IntervalSchedule(start: t0, interval: .seconds(300)),
    overlap: OverlapPolicy = .skip, maxRuns: Int? = nil, pauseAfterFailures: Int? = nil
  ) -> ScheduleRunner {
    ScheduleRunner(
      schedule: schedule, clock: clock,
      options: ScheduleRunnerOptions(
        overlap: overlap, maxRuns: maxRuns, pauseAfterFailures: pauseAfterFailures,
        onEvent: events.record))
  }

  /// A run body that waits at its gate: success when opened, cancelled when cancelled.
  var gatedBody: @Sendable (ScheduledRunRequest) async -> ScheduledRunOutcome {
    { [requests, gates, cancelledRuns] request in
      requests.append(request)
      guard await gates.wait(request.runNumber) else {
        cancelledRuns.append(request.runNumber)
        return .cancelled
      }
      return .success
    }
  }

  /// Advances the clock to the runner's next timer, then waits until `count` events of `kind`
  /// have happened.
  func fire(until count: Int, _ kind: ScheduleRunnerEvent.Kind) async {
    await clock.waitForSleepers(1)
    await clock.advanceToNextDeadline()
    await events.waitFor(count, kind)
  }

  /// The fire times of the runs started, in minutes after `t0`.
  var scheduledMinutes: [Int] {
    requests.all.map { Int($0.scheduledDate.timeIntervalSince(t0) / 60) }
  }
}

@Suite("The schedule runner", .timeLimit(.minutes(5)))
struct ScheduleRunnerTests {
  private let berlin = zone("Europe/Berlin")

  // MARK: Thirty days across a change of UTC offset

  @Test(
    "30 virtual days of */5 in Berlin across a change of offset: every fire time, in seconds",
    arguments: ["2025-03-15T00:00:00+01:00", "2025-10-10T00:00:00+02:00"])
  func thirtyDaysEveryFiveMinutes(start: String) async throws {
    let begin = instant(start)
    let days = 30
    let schedule = try CronSchedule(
      "*/5 * * * *", timeZone: berlin, end: begin.addingTimeInterval(TimeInterval(days * 86_400)))
    let clock = TestClock(now: begin)
    let events = EventLog()
    let fired = Recorder<Date>()
    let runner = ScheduleRunner(
      schedule: schedule, clock: clock, options: ScheduleRunnerOptions(onEvent: events.record))
    let count = days * 24 * 12
    async let summary = runner.run { request in
      fired.append(request.scheduledDate)
      return .success
    }
    for n in 1...count {
      await clock.waitForSleepers(1)
      clock.wakeNextDeadline()  // no yielding: the handshake is the runFinished event
      await events.waitFor(n, .runFinished)
    }
    let result = await summary

    // Berlin's offsets are whole hours, so "*/5 * * * *" (elapsed time: its minute field
    // starts with *) is every 300 s in absolute time, across the change too.
    let expected = (1...count).map { begin.addingTimeInterval(TimeInterval($0 * 300)) }
    #expect(fired.all == expected)
    #expect(result.runsStarted == count && result.succeeded == count)
    #expect(result.skipped == 0 && result.missed == 0)
    #expect(result.stopReason == .scheduleEnded)
    // 30 real days would be 2.6e6 s: the suite's time limit catches a runner that really
    // sleeps; how fast virtual time goes is flow-bench's business, not a test's.

    // Seen on Berlin's wall clock through Foundation: every fire time is on a 5-minute mark,
    // and the day of the change has 23 (spring) or 25 (autumn) hours of them.
    var calendar = Calendar(identifier: .gregorian)
    calendar.timeZone = berlin
    let parts = fired.all.map {
      calendar.dateComponents([.year, .month, .day, .minute, .second], from: $0)
    }
    #expect(parts.allSatisfy { $0.minute! % 5 == 0 && $0.second == 0 })
    let spring = begin < instant("2025-06-01T00:00:00Z")
    let changeDay = spring ? (3, 30) : (10, 26)
    let onChangeDay = parts.filter { $0.month == changeDay.0 && $0.day == changeDay.1 }.count
    #expect(onChangeDay == (spring ? 23 : 25) * 12)
    // Around the change: 01:55 +01:00 then 03:00 +02:00 (spring); 02:55 +02:00 then 02:00
    // +01:00 (autumn).
    let change = try #require(
      fired.all.firstIndex { berlin.secondsFromGMT(for: $0) != berlin.secondsFromGMT(for: begin) })
    let before = calendar.dateComponents([.hour, .minute], from: fired.all[change - 1])
    let after = calendar.dateComponents([.hour, .minute], from: fired.all[change])
    #expect(
      [before.hour, before.minute, after.hour, after.minute]
        == (spring ? [1, 55, 3, 0] : [2, 55, 2, 0]))
    #expect(clock.sleeperCount == 0)
  }

  @Test(
    "a daily fixed-time job over 30 days: a skipped 02:30 runs at 03:00, a repeated one once",
    arguments: ["2025-03-15T12:00:00+01:00", "2025-10-10T12:00:00+02:00"])
  func thirtyDaysFixedTime(start: String) async throws {
    let begin = instant(start)
    let end = begin.addingTimeInterval(30 * 86_400)
    let schedule = try CronSchedule("30 2 * * *", timeZone: berlin, end: end)
    let clock = TestClock(now: begin)
    let events = EventLog()
    let fired = Recorder<Date>()
    let runner = ScheduleRunner(
      schedule: schedule, clock: clock, options: ScheduleRunnerOptions(onEvent: events.record))
    async let summary = runner.run { request in
      fired.append(request.scheduledDate)
      return .success
    }
    for n in 1...30 {
      await clock.waitForSleepers(1)
      await clock.advanceToNextDeadline()
      await events.waitFor(n, .runFinished)
    }
    let result = await summary
    #expect(result.runsStarted == 30)
    // Computed with Foundation's TimeZone only: the first instant whose Berlin wall-clock time
    // is 02:30 that day; when 02:30 does not exist, the end of the gap (03:00 +02:00).
    var utc = Calendar(identifier: .gregorian)
    utc.timeZone = .gmt
    var berlinCalendar = Calendar(identifier: .gregorian)
    berlinCalendar.timeZone = berlin
    let firstDay = berlinCalendar.startOfDay(for: begin).addingTimeInterval(86_400 + 7200)
    let expected = (0..<30).map { day -> Date in
      let local = berlinCalendar.dateComponents(
        [.year, .month, .day], from: firstDay.addingTimeInterval(TimeInterval(day * 86_400)))
      let naive = utc.date(
        from: DateComponents(
          year: local.year, month: local.month, day: local.day, hour: 2, minute: 30))!
      let valid = [3600.0, 7200.0].map { (offset: Double) -> Date in
        naive.addingTimeInterval(-offset)
      }
      .filter { berlin.secondsFromGMT(for: $0) == Int(naive.timeIntervalSince($0)) }
      return valid.min() ?? berlin.nextDaylightSavingTimeTransition(
        after: naive.addingTimeInterval(-7200))!
    }
    #expect(fired.all == expected)
    let format = ISO8601OffsetFormat(timeZone: berlin)
    let texts = fired.all.map { format.string(from: $0) }
    if begin < instant("2025-06-01T00:00:00Z") {
      #expect(texts.contains("2025-03-30T03:00:00+02:00"))
      #expect(texts.contains("2025-03-31T02:30:00+02:00"))
    } else {
      #expect(texts.contains("2025-10-26T02:30:00+02:00"))
      #expect(!texts.contains("2025-10-26T02:30:00+01:00"))
    }
  }

  // MARK: Overlap policies

  @Test("skip: fire times during a run are dropped")
  func skip() async {
    let h = Harness()
    let stop = ScheduleStopSignal()
    async let summary = h.runner(overlap: .skip).run(stop: stop, h.gatedBody)
    await h.fire(until: 1, .runStarted)
    await h.fire(until: 1, .skipped)
    await h.fire(until: 2, .skipped)
    h.gates.open(1)
    await h.events.waitFor(1, .runFinished)
    await h.fire(until: 2, .runStarted)
    stop.requestStop()
    h.gates.open(2)
    let result = await summary
    #expect(h.scheduledMinutes == [5, 20])
    #expect(h.events.events(.skipped).map(\.scheduledDate) == [at(10), at(15)])
    #expect(result.runsStarted == 2 && result.succeeded == 2 && result.skipped == 2)
    #expect(result.stopReason == .stopRequested)
  }

  @Test("bufferOne: one fire time waits for the running run; more are dropped")
  func bufferOne() async throws {
    let h = Harness()
    let stop = ScheduleStopSignal()
    async let summary = h.runner(overlap: .bufferOne).run(stop: stop, h.gatedBody)
    await h.fire(until: 1, .runStarted)
    await h.fire(until: 1, .buffered)
    await h.fire(until: 1, .skipped)
    h.gates.open(1)
    await h.events.waitFor(2, .runStarted)
    let second = try #require(h.events.events(.runStarted).last?.request)
    #expect(second.scheduledDate == at(10) && second.startDate == at(15) && second.lateness == 300)
    await h.fire(until: 2, .buffered)  // 20, while run 2 goes
    stop.requestStop()  // the buffered fire time is dropped
    h.gates.open(2)
    let result = await summary
    #expect(h.scheduledMinutes == [5, 10])
    #expect(h.events.events(.skipped).map(\.scheduledDate) == [at(15), at(20)])
    #expect(result.runsStarted == 2 && result.skipped == 2)
  }

  @Test("bufferAll: every fire time runs, one after another")
  func bufferAll() async {
    let h = Harness()
    async let summary = h.runner(overlap: .bufferAll, maxRuns: 3).run(h.gatedBody)
    await h.fire(until: 1, .runStarted)
    await h.fire(until: 1, .buffered)
    await h.fire(until: 2, .buffered)
    #expect(h.events.events(.runStarted).count == 1)
    h.gates.open(1)
    await h.events.waitFor(2, .runStarted)
    #expect(h.events.events(.runStarted).count == 2)
    h.gates.open(2)
    await h.events.waitFor(3, .runStarted)
    h.gates.open(3)
    let result = await summary
    #expect(h.scheduledMinutes == [5, 10, 15])
    #expect(h.requests.all.map(\.startDate) == [at(5), at(15), at(15)])
    #expect(result.runsStarted == 3 && result.succeeded == 3 && result.skipped == 0)
    #expect(result.stopReason == .maxRunsReached)
  }

  @Test("allowAll: a run starts at every fire time, however many are going")
  func allowAll() async {
    let h = Harness()
    async let summary = h.runner(overlap: .allowAll, maxRuns: 3).run(h.gatedBody)
    await h.fire(until: 1, .runStarted)
    await h.fire(until: 2, .runStarted)
    await h.fire(until: 3, .runStarted)
    #expect(h.events.events(.runFinished).isEmpty)  // three runs at once
    for run in [3, 1, 2] { h.gates.open(run) }
    let result = await summary
    #expect(h.scheduledMinutes == [5, 10, 15])
    #expect(h.requests.all.map(\.startDate) == [at(5), at(10), at(15)])
    #expect(result.runsStarted == 3 && result.succeeded == 3)
  }

  @Test("cancelOther: a new fire time cancels the running run and starts when it has ended")
  func cancelOther() async {
    let h = Harness()
    async let summary = h.runner(overlap: .cancelOther, maxRuns: 3).run(h.gatedBody)
    await h.fire(until: 1, .runStarted)
    await h.fire(until: 2, .runStarted)
    #expect(h.cancelledRuns.all == [1])
    await h.fire(until: 3, .runStarted)
    #expect(h.cancelledRuns.all == [1, 2])
    h.gates.open(3)
    let result = await summary
    #expect(h.scheduledMinutes == [5, 10, 15])
    #expect(h.events.events(.cancellingRun).map(\.scheduledDate) == [at(10), at(15)])
    #expect(result.cancelled == 2 && result.succeeded == 1 && result.failed == 0)
  }

  // MARK: Catch-up, failures, limits, stopping

  @Test("catch-up window: fire times missed before it are dropped and reported once")
  func catchUpWindow() async {
    let clock = TestClock(now: t0)
    let events = EventLog()
    let requests = Recorder<ScheduledRunRequest>()
    let runner = ScheduleRunner(
      schedule: IntervalSchedule(interval: .seconds(300)), clock: clock,
      options: ScheduleRunnerOptions(
        overlap: .bufferAll, catchUpWindow: .seconds(12 * 60), maxRuns: 3,
        resumeAfter: at(-60), onEvent: events.record))
    let result = await runner.run { request in
      requests.append(request)
      return .success
    }
    // Fire times after -60: -55 … 0. Older than 0 - 12 min: -55 … -15 (9), dropped.
    let missed = events.events(.missed)
    #expect(missed.count == 1)
    #expect(missed.first?.count == 9)
    #expect(missed.first?.scheduledDate == at(-55))
    #expect(missed.first?.message.hasPrefix("missed 9 fire time(s) from") == true)
    #expect(requests.all.map(\.scheduledDate) == [at(-10), at(-5), at(0)])
    #expect(requests.all.map(\.lateness) == [600, 300, 0])
    #expect(result.missed == 9 && result.runsStarted == 3)
    #expect(result.lastFireDate == at(0))
  }

  @Test("downtime: a timer that fires an hour late drops what is older than the window")
  func downtime() throws {
    var options = ScheduleRunnerOptions(catchUpWindow: .seconds(600))
    options.overlap = .skip
    var machine = ScheduleRunnerStateMachine(
      schedule: IntervalSchedule(start: t0, interval: .seconds(300)), options: options)
    let first = machine.handle(.start(now: t0))
    guard case .armTimer(let deadline)? = first.last else {
      Issue.record("expected a timer, got \(first)")
      return
    }
    #expect(deadline == at(5))
    // The machine slept through an hour: 5 … 45 are older than 60 - 10 minutes.
    let actions = machine.handle(.timerFired(deadline: at(5), now: at(60)))
    var kinds: [String] = []
    var started: [Date] = []
    for action in actions {
      switch action {
      case .emit(let event):
        kinds.append(event.kind.name)
        if event.kind == .missed { #expect(event.count == 9 && event.scheduledDate == at(5)) }
      case .startRun(_, let request): started.append(request.scheduledDate)
      case .armTimer(let deadline): #expect(deadline == at(65))
      default: Issue.record("unexpected \(action)")
      }
    }
    #expect(kinds == ["missed", "runStarted", "skipped", "skipped"])
    #expect(started == [at(50)])
    #expect(machine.summary.missed == 9 && machine.summary.skipped == 2)
  }

  @Test("pauses after N consecutive failures; a success resets the count")
  func pauseAfterFailures() async {
    let h = Harness()
    let outcomes: [ScheduledRunOutcome] = [
      .failure("1"), .success, .failure("3"), .failure("4"), .failure("5"),
    ]
    async let summary = h.runner(pauseAfterFailures: 3).run { request in
      h.requests.append(request)
      return outcomes[request.runNumber - 1]
    }
    for n in 1...5 { await h.fire(until: n, .runFinished) }
    let result = await summary
    #expect(result.stopReason == .pausedAfterFailures)
    #expect(result.runsStarted == 5 && result.failed == 4 && result.succeeded == 1)
    #expect(h.events.events(.paused).map(\.count) == [3])
    #expect(h.events.kinds.suffix(2) == ["paused", "stopped"])
    #expect(h.clock.sleeperCount == 0)
  }

  @Test("maxRuns: stops after starting that many runs")
  func maxRuns() async {
    let h = Harness()
    async let summary = h.runner(maxRuns: 4).run { request in
      h.requests.append(request)
      return .success
    }
    for n in 1...4 { await h.fire(until: n, .runFinished) }
    let result = await summary
    #expect(h.scheduledMinutes == [5, 10, 15, 20])
    #expect(result.runsStarted == 4 && result.stopReason == .maxRunsReached)
    #expect(h.clock.sleeperCount == 0)
  }

  @Test("the schedule ending stops the runner")
  func scheduleEnds() async {
    let h = Harness()
    async let summary = h.runner(DateSchedule([at(7), at(3)])).run { request in
      h.requests.append(request)
      return .success
    }
    for n in 1...2 { await h.fire(until: n, .runFinished) }
    let result = await summary
    #expect(h.scheduledMinutes == [3, 7])
    #expect(result.stopReason == .scheduleEnded && result.lastFireDate == at(7))
  }

  @Test("a schedule that does not move forward ends instead of firing one instant forever")
  func stuckSchedule() async {
    struct Stuck: Schedule {
      func nextEvent(after instant: Date) -> ScheduleEvent? { ScheduleEvent(date: at(5)) }
    }
    let h = Harness()
    async let summary = h.runner(Stuck()).run { request in
      h.requests.append(request)
      return .success
    }
    await h.fire(until: 1, .runFinished)
    let result = await summary
    #expect(h.scheduledMinutes == [5])
    #expect(result.stopReason == .scheduleEnded)
  }

  @Test("a stop signal lets the running run finish uncancelled, then the runner returns")
  func stopSignal() async {
    let h = Harness()
    let stop = ScheduleStopSignal()
    async let summary = h.runner().run(stop: stop, h.gatedBody)
    await h.fire(until: 1, .runStarted)
    stop.requestStop(reason: "SIGTERM")
    await h.events.waitFor(1, .stopping)
    #expect(
      h.events.events(.stopping).first?.message
        == "stop requested (SIGTERM): no new run starts; 1 running run(s) finish first")
    await h.clock.advance(by: .seconds(3600))  // no new run starts meanwhile
    #expect(h.events.events(.runStarted).count == 1)
    h.gates.open(1)
    let result = await summary
    #expect(h.cancelledRuns.all.isEmpty)
    #expect(result.succeeded == 1 && result.cancelled == 0)
    #expect(result.stopReason == .stopRequested)
    #expect(stop.reason == "SIGTERM")
  }

  @Test("a stop requested before the runner starts ends it at once")
  func stopBeforeStart() async {
    let h = Harness()
    let stop = ScheduleStopSignal()
    stop.requestStop()
    let result = await h.runner().run(stop: stop, h.gatedBody)
    #expect(result.runsStarted == 0 && result.stopReason == .stopRequested)
  }

  @Test("cancelling the runner's task cancels the running run and returns")
  func cancellation() async {
    let h = Harness()
    let runner = h.runner()
    let body = h.gatedBody
    let task = Task { await runner.run(body) }
    await h.fire(until: 1, .runStarted)
    task.cancel()
    let result = await task.value
    #expect(h.cancelledRuns.all == [1])
    #expect(result.cancelled == 1 && result.stopReason == .cancelled)
    #expect(h.clock.sleeperCount == 0)
  }
}

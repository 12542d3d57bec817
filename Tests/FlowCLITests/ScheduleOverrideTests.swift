import FlowCore
import FlowExecutors
import FlowScheduling
import FlowTesting
import Foundation
import Synchronization
import Testing

@testable import FlowCLI

/// `schedule --cron / --interval`, its readable summaries, and `run`'s live progress line.
@Suite("schedule overrides and the progress line", .timeLimit(.minutes(1)))
struct ScheduleOverrideTests {
  @Test("--interval runs a flow without a schedule; the summaries are sentences")
  func interval() async {
    let (status, captured, recorder) = await execute(
      "schedule", "main", "--interval", "100ms", "--max-runs", "2")
    #expect(status == 0, "\(captured.err)")
    #expect(recorder.all.count == 2)
    #expect(
      captured.err.contains(
        "Scheduling flow 'main': every 0.1 seconds (GMT) (from the command line, instead of the "
          + "flow's own)"), "\(captured.err)")
    #expect(captured.err.contains("Next fire times: "))
    // Fire times that came during a run were skipped (the default overlap policy).
    #expect(
      captured.err.contains(
        "Schedule stopped because --max-runs was reached: 2 runs started, 2 succeeded, 0 failed, "
          + "0 cancelled"), "\(captured.err)")
    #expect(captured.err.contains("; last fire time 20"), "\(captured.err)")
    #expect(!captured.err.contains("ScheduleRunnerSummary("))
  }

  @Test("--cron replaces the flow's schedule and is explained, with its next fire times")
  func cronAnnouncement() throws {
    let schedule = try #require(
      try ScheduleOverride.parse(["--cron", "0 9 * * MON-FRI", "--timezone", "Europe/Berlin"])
        .schedule())
    let now = Date(timeIntervalSince1970: 1_764_752_400)  // Wednesday 2025-12-03 09:00 UTC
    let text = ScheduleOverride.announcement(
      flow: "etl", schedule: schedule, overridden: true, now: now)
    #expect(
      text == """
        Scheduling flow 'etl': 0 9 * * MON-FRI (Europe/Berlin): At 09:00, on Monday through \
        Friday (from the command line, instead of the flow's own)
        Next fire times: 2025-12-04T09:00:00+01:00, 2025-12-05T09:00:00+01:00, \
        2025-12-08T09:00:00+01:00

        """)
  }

  @Test(
    "bad overrides are usage errors naming the problem",
    arguments: [
      (["--cron", "61 * * * *"], "--cron '61 * * * *': minute: 61 is outside 0-59"),
      (["--cron", "* * *"], "--cron '* * *': "),
      (["--interval", "5 minutes"], "--interval takes a number and a unit (ms, s, m, h or d)"),
      (["--interval", "0s"], "--interval must be longer than zero, got '0s'"),
      (["--cron", "* * * * *", "--interval", "1m"], "--cron and --interval both replace"),
      (["--timezone", "Europe/Berlin"], "--timezone applies to --cron or --interval"),
      (["--cron", "* * * * *", "--timezone", "Mars/Olympus"], "--timezone: "),
    ])
  func badOverrides(arguments: [String], message: String) async {
    let (status, captured, recorder) = await execute(
      "schedule", "ticking", arguments[0], arguments[1],
      arguments.count > 2 ? arguments[2] : "--max-runs",
      arguments.count > 3 ? arguments[3] : "1")
    #expect(status == 64)
    #expect(captured.err.contains(message), "\(captured.err)")
    #expect(recorder.all.isEmpty)
  }

  @Test("interval durations: ms, s, m, h, d")
  func durations() throws {
    #expect(try ScheduleOverride.duration("500ms") == .milliseconds(500))
    #expect(try ScheduleOverride.duration("1.5s") == .milliseconds(1500))
    #expect(try ScheduleOverride.duration("5m") == .seconds(300))
    #expect(try ScheduleOverride.duration("2h") == .seconds(7200))
    #expect(try ScheduleOverride.duration("1d") == .seconds(86_400))
  }

  @Test("run keeps a live progress line on a terminal, and none otherwise")
  func progressOnTerminal() async {
    let recorder = Recorder()
    let text = Mutex("")
    let terminal = FlowCommandOutput(standardErrorIsTerminal: true) { chunk, stream in
      if stream == .standardError { text.withLock { $0 += chunk } }
    }
    let status = await commandLine(recorder).execute(
      ["run", "main", "--log-level", "critical"], output: terminal, handlingSignals: false,
      environment: unrecorded)
    #expect(status == 0)
    let err = text.withLock { $0 }
    #expect(err.contains("\r\u{1B}[K[1/1 tasks] 1 Success | 0:00\n"), "\(err)")
    let (_, plain, _) = await execute("run", "main")
    #expect(!plain.err.contains("tasks]"))
  }

  @Test("the progress line counts runs by state and names the slowest running task")
  func progressLine() async throws {
    let clock = TestClock(now: Date(timeIntervalSince1970: 1_800_000_000), autoAdvance: true)
    let slow = task("slow") { () async throws -> Int in
      try await TaskRunContext.current!.environment.clock.sleep(for: .seconds(8))
      return 1
    }
    let quick = task("quick") { (x: Int) async throws -> Int in
      try await TaskRunContext.current!.environment.clock.sleep(for: .seconds(Double(x)))
      return x
    }
    let flow = Flow("progress") {
      slow()
      quick.map([1, 2])
    }
    let lines = Mutex<[String]>([])
    let progress = RunProgress(flow: flow, clock: clock, interval: 0) { line in
      lines.withLock { $0.append(line) }
    }
    let result = try await flow.run(
      executor: .concurrent(width: 4), environment: .testing(seed: 1, clock: clock),
      observer: progress.observer)
    progress.finish()
    #expect(result.state.kind == .success)
    let drawn = lines.withLock { $0 }
    #expect(drawn.contains { $0.contains("| slowest: slow (") }, "\(drawn)")
    #expect(drawn.contains { $0.contains("Running") })
    let last = try #require(drawn.last)
    #expect(last.hasPrefix("\r\u{1B}[K[3/3 tasks] 3 Success | 0:"), "\(drawn)")
    #expect(last.hasSuffix("\n"))
  }
}

import FlowCore
import FlowScheduling
import FlowSimulation
import FlowTestKit
import Foundation
import Testing

extension HeavySimulations {
  @Suite("Schedules on a simulated cluster")
  struct ScheduledClusterTests {
    /// A 3-step flow that usually takes a few minutes and now and then over an hour, so that
    /// runs overlap the next fire time.
    static let slowSometimes = Flow.simulationChain(
      "report", tasks: 3,
      retries: RetryPolicy(maxRetries: 2, delay: .seconds(60), backoff: .exponential()))
    static let stepDuration = DurationDistribution.mixture(
      .uniform(.seconds(10) ... .seconds(90)), .exponential(mean: .seconds(2400)), p: 0.1)

    @Test(
      "a cron schedule for 45 days with workers crashing: every fire time accounted for",
      arguments: [OverlapPolicy.skip, .bufferOne, .allowAll])
    func cronFortyFiveDays(policy: OverlapPolicy) async throws {
      let started = ContinuousClock.now
      let schedule = try CronSchedule("*/30 * * * *")
      let report = await ScheduledClusterSimulation.run(
        seed: 45,
        options: .init(
          schedule: schedule, duration: .seconds(45 * 86_400), overlap: policy,
          flow: Self.slowSometimes, standIns: .init(failureRate: 0.03),
          taskDuration: Self.stepDuration,
          cluster: .init(
            workers: 3,
            scheduler: .init(heartbeatInterval: .seconds(600), heartbeatTTL: .seconds(1800))),
          faults: FaultSet([.crash, .pause, .partition]), meanFaultGap: .seconds(3 * 3600)))
      #expect(report.violations.isEmpty, "\(report.violations.prefix(5))")
      #expect(report.fireTimes == 45 * 48)
      #expect(report.summary.runsStarted + report.summary.skipped == report.fireTimes)
      #expect(report.counters.crashes > 50, "\(report.counters)")
      #expect(report.succeededRuns > 0)
      if policy == .allowAll {
        #expect(report.summary.skipped == 0)
      } else {
        #expect(report.summary.skipped > 0)  // overlaps did happen, and the policy decided
      }
      if policy == .bufferOne { #expect(report.buffered > 0) }
      #expect(ContinuousClock.now - started < .seconds(60))
    }

    @Test("a scheduled simulation is deterministic")
    func determinism() async throws {
      let options = ScheduledClusterSimulation.Options(
        schedule: .every(.seconds(600)), duration: .seconds(2 * 86_400), flow: Self.slowSometimes,
        standIns: .init(failureRate: 0.03), taskDuration: Self.stepDuration)
      try await SimulationSeeds.checkDeterminism(seed: 12) {
        let report = await ScheduledClusterSimulation.run(seed: $0, options: options)
        try #require(report.violations.isEmpty)
        return report.traceHash
      }
    }
  }
}

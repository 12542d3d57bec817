import FlowCore
import Testing

@Suite("A deployment's schedule, as people read it")
struct DeploymentScheduleSpecTests {
  @Test(
    "an interval reads in its largest whole unit, as --interval writes it",
    arguments: [
      (3_600.0, "every 1h"), (86_400, "every 1d"), (172_800, "every 2d"), (120, "every 2m"),
      (90, "every 90s"), (5_400, "every 90m"), (1, "every 1s"), (0.5, "every 0.5s"),
      (60, "every 1m"),
    ])
  func interval(seconds: Double, text: String) {
    #expect(DeploymentScheduleSpec.interval(seconds: seconds).description == text)
  }

  @Test("a cron schedule shows its expression")
  func cron() {
    #expect(DeploymentScheduleSpec.cron("*/5 * * * *").description == "cron */5 * * * *")
  }
}

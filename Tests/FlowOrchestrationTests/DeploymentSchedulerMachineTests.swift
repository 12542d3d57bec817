import FlowCore
import FlowOrchestration
import FlowScheduling
import Foundation
import Testing

@Suite("Deployment scheduler machine: runs ahead of time, catch-up, Late")
struct DeploymentSchedulerMachineTests {
  let start = Date(timeIntervalSince1970: 1_800_000_000)  // a whole minute
  let id = UUID(uuidString: "00000000-0000-0000-0000-0000000000D1")!

  func fireTimes(_ actions: [DeploymentSchedulerMachine.Action]) -> [Date] {
    actions.flatMap { action -> [Date] in
      if case .createRuns(_, let times) = action { return times.map(\.date) }
      return []
    }
  }

  @Test("proposes one tick of fire times at a time up to the horizon, then only new ones")
  func proposesUpToTheHorizon() {
    var machine = DeploymentSchedulerMachine(
      options: .init(horizon: .seconds(300), maxAhead: 100, tick: .seconds(10)))
    let every = IntervalSchedule(start: start, interval: .seconds(60))
    let first = machine.handle(
      .deployments([DeploymentSchedule(deploymentID: id, schedule: every)], now: start))
    #expect(fireTimes(first) == [start])
    #expect(
      first.contains { if case .armTimer(let date) = $0 { date == start + 10 } else { false } })
    // While the creation is in flight nothing is proposed twice.
    #expect(fireTimes(machine.handle(.timer(now: start + 1))).isEmpty)
    // Each creation brings the next fire time, up to the horizon.
    var created: [Date] = [start]
    var through = start
    while true {
      let next = fireTimes(
        machine.handle(.created(deploymentID: id, through: through, now: start + 2)))
      guard let last = next.last else { break }
      created += next
      through = last
    }
    #expect(created == (0...5).map { start.addingTimeInterval(Double($0) * 60) })
    let next = machine.handle(.timer(now: start + 61))
    #expect(fireTimes(next) == [start + 360])
    #expect(
      next.contains { if case .markLate(let cutoff) = $0 { cutoff == start + 1 } else { false } })
  }

  @Test("the nearest fire times are proposed first, across deployments")
  func nearestFirst() {
    var machine = DeploymentSchedulerMachine(
      options: .init(horizon: .seconds(300), maxAhead: 100, tick: .seconds(10)))
    // IDs in the opposite order of their next fire times.
    let specs = (0..<5).map { n in
      DeploymentSchedule(
        deploymentID: UUID(uuidString: "00000000-0000-0000-0000-00000000000\(n)")!,
        schedule: IntervalSchedule(
          start: start + Double(50 - n * 10), interval: .seconds(60)), lastScheduled: start)
    }
    let first = fireTimes(machine.handle(.deployments(specs, now: start + 1)))
    #expect(first == [start + 10, start + 20, start + 30, start + 40, start + 50])
  }

  @Test("a failed creation is proposed again")
  func retriesAFailedCreation() {
    var machine = DeploymentSchedulerMachine(options: .init(horizon: .seconds(60)))
    let every = IntervalSchedule(start: start, interval: .seconds(60))
    _ = machine.handle(
      .deployments([DeploymentSchedule(deploymentID: id, schedule: every)], now: start))
    let again = machine.handle(.createFailed(deploymentID: id, now: start + 1))
    #expect(fireTimes(again) == [start])
  }

  @Test("after an outage, fire times older than the catch-up window are missed, newer ones run")
  func catchUpWindow() {
    var machine = DeploymentSchedulerMachine(options: .init(horizon: .seconds(0)))
    let every = IntervalSchedule(start: start, interval: .seconds(60))
    let spec = DeploymentSchedule(
      deploymentID: id, schedule: every, catchUpWindow: .seconds(120), lastScheduled: start)
    let actions = machine.handle(.deployments([spec], now: start + 600))
    #expect(fireTimes(actions) == [start + 480, start + 540, start + 600])
    let missed = actions.compactMap { action -> Int? in
      if case .missed(_, let count, let first) = action, first == start + 60 { return count }
      return nil
    }
    #expect(missed == [7])
  }

  @Test("a years-long outage is skipped over without walking every fire time")
  func longOutage() {
    var machine = DeploymentSchedulerMachine(options: .init(horizon: .seconds(0), maxAhead: 10))
    let every = IntervalSchedule(start: start, interval: .seconds(1))
    let spec = DeploymentSchedule(
      deploymentID: id, schedule: every, catchUpWindow: .seconds(2), lastScheduled: start)
    let now = start.addingTimeInterval(3 * 365 * 86_400)
    let actions = machine.handle(.deployments([spec], now: now))
    #expect(fireTimes(actions) == [now - 2, now - 1, now])
  }
}

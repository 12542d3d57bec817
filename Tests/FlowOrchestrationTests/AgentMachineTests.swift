import FlowOrchestration
import Foundation
import Testing

@Suite("Agent machine: claims, heartbeats, self-fencing, cancellation, stopping")
struct AgentMachineTests {
  let t0 = Date(timeIntervalSince1970: 1_800_000_000)
  let a = UUID(uuidString: "00000000-0000-0000-0000-00000000000A")!
  let b = UUID(uuidString: "00000000-0000-0000-0000-00000000000B")!

  func agent(limit: Int = 2) -> AgentMachine {
    AgentMachine(
      options: .init(
        agentID: "agent-1", limit: limit, leaseDuration: .seconds(30), poll: .seconds(5),
        safetyMargin: .seconds(2)))
  }

  func lease(_ id: UUID, epoch: Int64 = 1, expires: TimeInterval = 30) -> RunLease {
    RunLease(runID: id, agentID: "agent-1", epoch: epoch, expiresAt: t0 + expires)
  }

  @Test("start claims up to the limit; claimed runs start; the next poll waits its interval")
  func claimsAndStarts() {
    var machine = agent()
    #expect(
      machine.handle(.start(now: t0)) == [
        .claim(count: 2, leaseDuration: .seconds(30)), .armTimer(t0 + 5),
      ])
    let started = machine.handle(.claimed([lease(a)], sentAt: t0, now: t0 + 0.1))
    #expect(started == [.startRun(lease(a))], "the poll timer is already armed")
    #expect(machine.heldRuns == [a])
    #expect(
      machine.handle(.timer(now: t0 + 5)) == [
        .claim(count: 1, leaseDuration: .seconds(30)), .armTimer(t0 + 10),
      ])
  }

  @Test("told when a run becomes claimable, the agent claims then, not at its next poll")
  func claimsWhenARunFallsDue() {
    var machine = agent()
    _ = machine.handle(.start(now: t0))
    #expect(machine.handle(.claimed([], sentAt: t0, now: t0 + 0.25)).isEmpty)
    // Due in 1 s (a fire time, or another agent's lease running out): the timer moves up.
    #expect(machine.handle(.claimableIn(.seconds(1), now: t0 + 0.5)) == [.armTimer(t0 + 1.5)])
    #expect(
      machine.handle(.timer(now: t0 + 1.5)) == [
        .claim(count: 2, leaseDuration: .seconds(30)), .armTimer(t0 + 6.5),
      ])
    // A hint later than the next poll changes nothing; one of "now" waits a millisecond.
    _ = machine.handle(.claimed([], sentAt: t0 + 1.5, now: t0 + 1.75))
    #expect(machine.handle(.claimableIn(.seconds(60), now: t0 + 1.75)).isEmpty)
    let soon = machine.handle(.claimableIn(.zero, now: t0 + 2))
    #expect(soon.count == 1)
    if case .armTimer(let date)? = soon.first {
      #expect(date > t0 + 2 && date < t0 + 2.01)
    }
  }

  @Test("leases are renewed every heartbeat; a lost lease is abandoned at once")
  func renewsAndLoses() {
    var machine = agent(limit: 1)
    _ = machine.handle(.start(now: t0))
    _ = machine.handle(.claimed([lease(a)], sentAt: t0, now: t0))
    let renew = machine.handle(.timer(now: t0 + 10))
    #expect(renew.contains(.renew([lease(a)], leaseDuration: .seconds(30))))
    let lost = machine.handle(.renewed([], lost: [a], sentAt: t0 + 10, now: t0 + 10.5))
    #expect(lost.first == .abandon(a, reason: "the store no longer holds this agent's lease"))
    #expect(machine.heldRuns.isEmpty)
  }

  @Test("without a renewal the agent gives the run up before the store's expiry, by its margin")
  func selfFencesBeforeExpiry() {
    var machine = agent(limit: 1)
    _ = machine.handle(.start(now: t0))
    let claimed = machine.handle(.claimed([lease(a)], sentAt: t0, now: t0 + 1))
    #expect(claimed == [.startRun(lease(a))])
    _ = machine.handle(.timer(now: t0 + 10))  // renews
    _ = machine.handle(.renewFailed(now: t0 + 11))
    _ = machine.handle(.timer(now: t0 + 20))  // renews again
    _ = machine.handle(.renewFailed(now: t0 + 21))
    // Believed until sentAt (t0) + 30 s - 2 s, whatever the store's reply times were.
    #expect(machine.heldRuns == [a])
    let fenced = machine.handle(.timer(now: t0 + 28))
    #expect(fenced.first == .abandon(a, reason: "its lease could not be renewed in time"))
  }

  @Test("a renewal that arrives late extends the lease only from when it was sent")
  func lateRenewalCountsFromSending() {
    var machine = agent(limit: 1)
    _ = machine.handle(.start(now: t0))
    _ = machine.handle(.claimed([lease(a)], sentAt: t0, now: t0))
    _ = machine.handle(.timer(now: t0 + 10))
    _ = machine.handle(.renewed([lease(a, expires: 40)], lost: [], sentAt: t0 + 10, now: t0 + 37))
    #expect(machine.heldRuns == [a])
    #expect(
      machine.handle(.timer(now: t0 + 38)).first
        == .abandon(a, reason: "its lease could not be renewed in time"))
  }

  @Test("one claim at a time: a slow claim is not sent again every poll")
  func oneClaimInFlight() {
    var machine = agent(limit: 2)
    #expect(machine.handle(.start(now: t0)).first == .claim(count: 2, leaseDuration: .seconds(30)))
    // Unanswered at the next polls: no second claim, only a look every poll.
    #expect(machine.handle(.timer(now: t0 + 5)) == [.armTimer(t0 + 10)])
    #expect(machine.handle(.timer(now: t0 + 6)).isEmpty)
    // Answered: the next poll claims again.
    #expect(
      machine.handle(.claimed([lease(a)], sentAt: t0, now: t0 + 7)) == [.startRun(lease(a))])
    #expect(
      machine.handle(.timer(now: t0 + 10)).contains(.claim(count: 1, leaseDuration: .seconds(30))))
  }

  @Test(
    "a claim never answered is sent again once its leases could no longer be believed; its late answer is given back"
  )
  func lostAnswersAreRetried() {
    var machine = agent(limit: 1)
    _ = machine.handle(.start(now: t0))
    #expect(
      machine.handle(.timer(now: t0 + 28)).first == .claim(count: 1, leaseDuration: .seconds(30)))
    #expect(
      machine.handle(.claimed([lease(b)], sentAt: t0, now: t0 + 28.5))
        == [.giveBack(lease(b), reason: "claimed while too late")])
    #expect(machine.heldRuns.isEmpty, "the late answer did not end the claim in flight")
    _ = machine.handle(.claimed([lease(a)], sentAt: t0 + 28, now: t0 + 29))
    #expect(machine.heldRuns == [a])
    #expect(
      machine.handle(.timer(now: t0 + 38)).contains(.renew([lease(a)], leaseDuration: .seconds(30)))
    )
    #expect(
      machine.handle(.timer(now: t0 + 48)).contains(.renew([lease(a)], leaseDuration: .seconds(30)))
    )
  }

  @Test("a renewal that is never answered is sent again at its next turn")
  func lostRenewalsAreRetried() {
    var machine = agent(limit: 1)
    _ = machine.handle(.start(now: t0))
    _ = machine.handle(.claimFailed(now: t0 + 1))
    #expect(
      machine.handle(.timer(now: t0 + 5)).first == .claim(count: 1, leaseDuration: .seconds(30)))
    _ = machine.handle(.claimed([lease(a)], sentAt: t0 + 5, now: t0 + 6))
    #expect(
      machine.handle(.timer(now: t0 + 15)).contains(.renew([lease(a)], leaseDuration: .seconds(30)))
    )
    #expect(
      machine.handle(.timer(now: t0 + 25)).contains(.renew([lease(a)], leaseDuration: .seconds(30)))
    )
  }

  @Test("after a claim that got all it asked for, a run's end claims again at once")
  func backlogClaimsAtOnce() {
    var machine = agent(limit: 2)
    _ = machine.handle(.start(now: t0))
    _ = machine.handle(.claimed([lease(a), lease(b)], sentAt: t0, now: t0 + 0.1))
    #expect(
      machine.handle(.runEnded(a, epoch: 1, now: t0 + 1)).first
        == .claim(count: 1, leaseDuration: .seconds(30)))
    // That claim found nothing: the next end waits for the poll.
    _ = machine.handle(.claimed([], sentAt: t0 + 1, now: t0 + 1.1))
    #expect(
      !machine.handle(.runEnded(b, epoch: 1, now: t0 + 2)).contains(
        .claim(count: 2, leaseDuration: .seconds(30))))
  }

  @Test("with a backlog, a run's end claims again once half the slots are free")
  func backlogClaimsInBatches() {
    var machine = agent(limit: 4)
    let ids = (1...4).map { UUID(uuidString: "00000000-0000-0000-0000-00000000000\($0)")! }
    _ = machine.handle(.start(now: t0))
    _ = machine.handle(.claimed(ids.map { lease($0) }, sentAt: t0, now: t0 + 0.1))
    #expect(
      !machine.handle(.runEnded(ids[0], epoch: 1, now: t0 + 1)).contains { action in
        if case .claim = action { return true }
        return false
      })
    #expect(
      machine.handle(.runEnded(ids[1], epoch: 1, now: t0 + 1.5)).first
        == .claim(count: 2, leaseDuration: .seconds(30)))
  }

  @Test("cancellation requested in the store cancels a held run once")
  func cancels() {
    var machine = agent(limit: 1)
    _ = machine.handle(.start(now: t0))
    _ = machine.handle(.claimed([lease(a)], sentAt: t0, now: t0))
    #expect(machine.handle(.cancelRequested([a, b], now: t0 + 1)).first == .cancelRun(a))
    #expect(!machine.handle(.cancelRequested([a], now: t0 + 2)).contains(.cancelRun(a)))
  }

  @Test("stop takes no new work, waits for the held runs, then finishes")
  func stops() {
    var machine = agent(limit: 2)
    _ = machine.handle(.start(now: t0))
    _ = machine.handle(.claimed([lease(a)], sentAt: t0, now: t0))
    let stopping = machine.handle(.stop(now: t0 + 1))
    #expect(!stopping.contains { if case .claim = $0 { true } else { false } })
    let late = machine.handle(.claimed([lease(b)], sentAt: t0, now: t0 + 1))
    #expect(late == [.giveBack(lease(b), reason: "claimed while stopping")])
    #expect(
      !machine.handle(.runEnded(a, epoch: 0, now: t0 + 2)).contains(.finished), "an older holding")
    #expect(machine.handle(.runEnded(a, epoch: 1, now: t0 + 2)) == [.finished])
    #expect(machine.handle(.timer(now: t0 + 3)).isEmpty)
  }
}

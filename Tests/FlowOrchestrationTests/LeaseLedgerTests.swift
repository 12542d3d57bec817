import FlowOrchestration
import Foundation
import Testing

@Suite("Lease ledger: claims, epochs, renewals, expiry and fencing")
struct LeaseLedgerTests {
  let start = Date(timeIntervalSince1970: 1_800_000_000)
  let a = UUID(uuidString: "00000000-0000-0000-0000-00000000000A")!
  let b = UUID(uuidString: "00000000-0000-0000-0000-00000000000B")!

  @Test("claims take due runs oldest first, each with the next epoch; held runs are not claimed")
  func claimsDueRunsOldestFirst() {
    var ledger = LeaseLedger()
    let addedA = ledger.add(a, scheduledAt: start + 5)
    let addedB = ledger.add(b, scheduledAt: start)
    let again = ledger.add(a, scheduledAt: start)
    #expect(addedA && addedB && !again, "adding a run twice is a no-op")
    let first = ledger.claim(agent: "x", limit: 1, now: start, duration: .seconds(30))
    #expect(first.map(\.runID) == [b] && first.map(\.epoch) == [1])
    let none = ledger.claim(agent: "y", limit: 5, now: start, duration: .seconds(30))
    #expect(none.isEmpty)
    let later = ledger.claim(agent: "y", limit: 5, now: start + 5, duration: .seconds(30))
    #expect(later.map(\.runID) == [a])
  }

  @Test("an expired lease is released; the next claim gets a higher epoch and fences the old one")
  func expiryFencesTheOldHolder() throws {
    var ledger = LeaseLedger(crashRetries: 1)
    ledger.add(a, scheduledAt: start)
    let old = try #require(
      ledger.claim(agent: "x", limit: 1, now: start, duration: .seconds(30)).first)
    let renewed = ledger.renew(old, now: start + 10, duration: .seconds(30))
    #expect(renewed?.expiresAt == start + 40)
    let early = ledger.expire(now: start + 39)
    #expect(early.isEmpty, "renewed until 40 s")
    let expired = ledger.expire(now: start + 40)
    #expect(expired == [a: .retried(crashes: 1)])
    let new = try #require(
      ledger.claim(agent: "y", limit: 1, now: start + 41, duration: .seconds(30)).first)
    #expect(new.epoch == 2)
    let staleRenewal = ledger.renew(old, now: start + 42, duration: .seconds(30))
    #expect(staleRenewal == nil)
    let staleFinish = ledger.finish(old, now: start + 42)
    #expect(!staleFinish, "a stale epoch's write is fenced")
    let finished = ledger.finish(new, now: start + 42)
    #expect(finished)
    let after = ledger.claim(agent: "z", limit: 1, now: start + 50, duration: .seconds(30))
    #expect(after.isEmpty)
  }

  @Test("past the crash-retry limit an expired run ends Crashed and is never claimed again")
  func crashRetryLimit() {
    var ledger = LeaseLedger(crashRetries: 1)
    ledger.add(a, scheduledAt: start)
    _ = ledger.claim(agent: "x", limit: 1, now: start, duration: .seconds(30))
    let first = ledger.expire(now: start + 30)
    #expect(first == [a: .retried(crashes: 1)])
    _ = ledger.claim(agent: "y", limit: 1, now: start + 30, duration: .seconds(30))
    let second = ledger.expire(now: start + 60)
    #expect(second == [a: .crashed(crashes: 2)])
    let none = ledger.claim(agent: "z", limit: 1, now: start + 60, duration: .seconds(30))
    #expect(none.isEmpty)
    #expect(ledger.entries[a]?.finished == true)
  }

  @Test("a write at the instant the lease ends is refused (expiry is exclusive)")
  func expiryIsExclusive() throws {
    var ledger = LeaseLedger()
    ledger.add(a, scheduledAt: start)
    let lease = try #require(
      ledger.claim(agent: "x", limit: 1, now: start, duration: .seconds(30)).first)
    #expect(ledger.isCurrent(lease, now: start + 29.999))
    #expect(!ledger.isCurrent(lease, now: start + 30))
  }
}

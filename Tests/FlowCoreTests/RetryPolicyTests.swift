import FlowCore
import FlowTestKit
import Testing

private struct Timeout: Error {}
private struct Refused: Error {}
private struct Corrupt: Error {}
private struct HTTPStatus: Error {
  let code: Int
}

@Suite("Retry policies")
struct RetryPolicyTests {
  private let random = SystemRandomSource()

  // MARK: Attempts

  @Test("maxAttempts is maxRetries + 1", arguments: [(0, 1), (1, 2), (3, 4), (10, 11)])
  func maxAttempts(retries: Int, attempts: Int) {
    let policy = RetryPolicy(maxRetries: retries)
    #expect(policy.maxRetries == retries)
    #expect(policy.maxAttempts == attempts)
  }

  @Test("a negative maxRetries is treated as zero", arguments: [-1, -5, Int.min])
  func negativeRetries(retries: Int) {
    let policy = RetryPolicy(maxRetries: retries)
    #expect(policy.maxRetries == 0)
    #expect(policy.maxAttempts == 1)
  }

  @Test("`.none` makes one attempt with no delay and retries on every error")
  func none() {
    let policy = RetryPolicy.none
    #expect(policy.maxRetries == 0)
    #expect(policy.maxAttempts == 1)
    #expect(policy.delay == .zero)
    #expect(policy.delay(afterAttempt: 1, random: random) == .zero)
    #expect(policy.retryIf.shouldRetry(Timeout()))
  }

  @Test("the defaults: no delay, constant backoff, no jitter, retry on everything")
  func defaults() {
    let policy = RetryPolicy(maxRetries: 2)
    #expect(policy.delay == .zero)
    #expect(policy.delay(afterAttempt: 1, random: random) == .zero)
    #expect(policy.delay(afterAttempt: 2, random: random) == .zero)
    #expect(policy.retryIf.shouldRetry(Corrupt()))
  }

  // MARK: Backoff

  @Test("constant backoff uses the same delay after every attempt", arguments: 1...6)
  func constantBackoff(attempt: Int) {
    let policy = RetryPolicy(maxRetries: 6, delay: .seconds(10))
    #expect(policy.delay(afterAttempt: attempt, random: random) == .seconds(10))
  }

  @Test(
    "exponential backoff doubles by default",
    arguments: [(1, 10), (2, 20), (3, 40), (4, 80), (5, 160)])
  func exponentialBackoff(attempt: Int, seconds: Int) {
    let policy = RetryPolicy(maxRetries: 5, delay: .seconds(10), backoff: .exponential())
    #expect(policy.delay(afterAttempt: attempt, random: random) == .seconds(seconds))
  }

  @Test(
    "exponential backoff with a multiplier of 3",
    arguments: [(1, 10), (2, 30), (3, 90), (4, 270)])
  func exponentialMultiplier(attempt: Int, seconds: Int) {
    let policy = RetryPolicy(
      maxRetries: 4, delay: .seconds(10), backoff: .exponential(multiplier: 3))
    #expect(policy.delay(afterAttempt: attempt, random: random) == .seconds(seconds))
  }

  @Test(
    "exponential backoff stops growing at maxDelay",
    arguments: [(1, 10), (2, 20), (3, 25), (4, 25), (10, 25)])
  func exponentialCap(attempt: Int, seconds: Int) {
    let policy = RetryPolicy(
      maxRetries: 10, delay: .seconds(10), backoff: .exponential(maxDelay: .seconds(25)))
    #expect(policy.delay(afterAttempt: attempt, random: random) == .seconds(seconds))
  }

  @Test(
    "late attempts of a capped exponential backoff stay at maxDelay",
    arguments: [20, 80, 1000, 100_000, Int.max])
  func lateAttemptsStayCapped(attempt: Int) {
    let policy = RetryPolicy(
      maxRetries: .max - 1, delay: .seconds(1), backoff: .exponential(maxDelay: .seconds(300)))
    #expect(policy.delay(afterAttempt: attempt, random: random) == .seconds(300))
  }

  @Test("capped exponential delays never decrease and never pass the cap")
  func cappedDelaysAreMonotonic() {
    let policy = RetryPolicy(
      maxRetries: 300, delay: .milliseconds(250),
      backoff: .exponential(multiplier: 1.7, maxDelay: .seconds(90)))
    let delays = (1...300).map { policy.delay(afterAttempt: $0, random: random) }
    #expect(zip(delays, delays.dropFirst()).allSatisfy { $0 <= $1 })
    #expect(delays.allSatisfy { $0 <= .seconds(90) })
    #expect(delays.last == .seconds(90))
  }

  @Test("an uncapped exponential backoff stays finite for late attempts")
  func uncappedStaysFinite() {
    let policy = RetryPolicy(maxRetries: 5000, delay: .seconds(1), backoff: .exponential())
    let late = policy.delay(afterAttempt: 4000, random: random)
    #expect(late >= .seconds(1_000_000_000))
    #expect(policy.delay(afterAttempt: 4001, random: random) >= late)
  }

  @Test("a multiplier below 1 is treated as 1: the delay never shrinks")
  func multiplierBelowOne() {
    let policy = RetryPolicy(
      maxRetries: 3, delay: .seconds(8), backoff: .exponential(multiplier: 0.5))
    for attempt in 1...3 {
      #expect(policy.delay(afterAttempt: attempt, random: random) == .seconds(8))
    }
  }

  @Test("a fractional multiplier grows the delay by that factor")
  func fractionalMultiplier() {
    let backoff = RetryPolicy.Backoff.exponential(multiplier: 1.5)
    #expect(backoff.delay(base: .seconds(4), retry: 1) == .seconds(4))
    #expect(backoff.delay(base: .seconds(4), retry: 2) == .seconds(6))
    #expect(backoff.delay(base: .seconds(4), retry: 3) == .seconds(9))
  }

  @Test("Backoff.delay(base:retry:) directly, and constant backoff ignores the retry number")
  func backoffDirectly() {
    #expect(RetryPolicy.Backoff.constant.delay(base: .seconds(3), retry: 7) == .seconds(3))
    let capped = RetryPolicy.Backoff.exponential(maxDelay: .seconds(5))
    #expect(capped.delay(base: .seconds(2), retry: 2) == .seconds(4))
    #expect(capped.delay(base: .seconds(2), retry: 3) == .seconds(5))
    // A base above the cap is capped too.
    #expect(capped.delay(base: .seconds(9), retry: 1) == .seconds(5))
  }

  @Test("attempt numbers below 1 count as the first attempt", arguments: [0, -1, -100])
  func attemptBelowOne(attempt: Int) {
    let policy = RetryPolicy(maxRetries: 3, delay: .seconds(10), backoff: .exponential())
    #expect(policy.delay(afterAttempt: attempt, random: random) == .seconds(10))
  }

  // MARK: Jitter

  @Test("`.none` jitter leaves the delay exact")
  func noJitter() {
    for source in [FixedRandomSource.zero, .half, .max] {
      #expect(RetryPolicy.Jitter.none.apply(to: .seconds(10), random: source) == .seconds(10))
    }
  }

  @Test(
    "jitter with fixed random draws of 0, 0.5 and just below 1",
    arguments: [
      (FixedRandomSource.zero, 0.0, 10.0, 5.0),
      (.half, 5.0, 12.0, 10.0),
    ])
  func jitterExact(source: FixedRandomSource, full: Double, upTo: Double, proportional: Double) {
    let delay = Duration.seconds(10)
    #expect(RetryPolicy.Jitter.full.apply(to: delay, random: source) == .seconds(full))
    #expect(
      RetryPolicy.Jitter.upTo(.seconds(4)).apply(to: delay, random: source) == .seconds(upTo))
    #expect(
      RetryPolicy.Jitter.proportional(0.5).apply(to: delay, random: source)
        == .seconds(proportional))
  }

  @Test("the highest draw lands at the top of each jitter's range, not past it")
  func jitterHighestDraw() {
    let delay = Duration.seconds(10)
    let full = RetryPolicy.Jitter.full.apply(to: delay, random: FixedRandomSource.max)
    #expect(full <= delay && full > .milliseconds(9999))
    let upTo = RetryPolicy.Jitter.upTo(.seconds(4)).apply(to: delay, random: FixedRandomSource.max)
    #expect(upTo <= .seconds(14) && upTo > .milliseconds(13_999))
    let proportional = RetryPolicy.Jitter.proportional(0.5).apply(
      to: delay, random: FixedRandomSource.max)
    #expect(proportional <= .seconds(15) && proportional > .milliseconds(14_999))
  }

  @Test("proportional jitter clamps its fraction to 0...1")
  func proportionalClamps() {
    let delay = Duration.seconds(10)
    // A fraction above 1 acts as 1: factors from 0 to 2.
    #expect(
      RetryPolicy.Jitter.proportional(3).apply(to: delay, random: FixedRandomSource.zero) == .zero)
    #expect(
      RetryPolicy.Jitter.proportional(3).apply(to: delay, random: FixedRandomSource.half)
        == .seconds(10))
    // A negative fraction acts as 0: no jitter.
    for source in [FixedRandomSource.zero, .max] {
      #expect(RetryPolicy.Jitter.proportional(-1).apply(to: delay, random: source) == delay)
    }
  }

  @Test("jitter is applied after the backoff cap")
  func jitterAfterCap() {
    let policy = RetryPolicy(
      maxRetries: 5, delay: .seconds(10), backoff: .exponential(maxDelay: .seconds(15)),
      jitter: .upTo(.seconds(4)))
    #expect(policy.delay(afterAttempt: 1, random: FixedRandomSource.half) == .seconds(12))
    #expect(policy.delay(afterAttempt: 2, random: FixedRandomSource.half) == .seconds(17))
    #expect(policy.delay(afterAttempt: 3, random: FixedRandomSource.zero) == .seconds(15))
  }

  private static let jitters: [(String, RetryPolicy.Jitter, ClosedRange<Duration>)] = [
    ("full", .full, .zero...(.seconds(10))),
    ("upTo", .upTo(.seconds(3)), .seconds(10)...(.seconds(13))),
    ("proportional", .proportional(0.25), .milliseconds(7500)...(.milliseconds(12_500))),
    ("none", .none, .seconds(10)...(.seconds(10))),
  ]

  @Test("seeded jitter stays within its bounds", arguments: 0..<4)
  func jitterBounds(index: Int) {
    let (name, jitter, bounds) = Self.jitters[index]
    let random = SeededRandomSource(seed: 7)
    var distinct = Set<Duration>()
    for _ in 0..<500 {
      let delay = jitter.apply(to: .seconds(10), random: random)
      #expect(bounds.contains(delay), "\(name): \(delay)")
      distinct.insert(delay)
    }
    #expect(name == "none" ? distinct.count == 1 : distinct.count > 100, "\(name)")
  }

  @Test("the same seed gives the same delays; another seed gives other delays")
  func jitterDeterministic() {
    let policy = RetryPolicy(
      maxRetries: 8, delay: .seconds(1), backoff: .exponential(maxDelay: .seconds(60)),
      jitter: .full)
    func delays(seed: UInt64) -> [Duration] {
      let random = SeededRandomSource(seed: seed)
      return (1...8).map { policy.delay(afterAttempt: $0, random: random) }
    }
    #expect(delays(seed: 42) == delays(seed: 42))
    #expect(delays(seed: 42) != delays(seed: 43))
    let bases: [Duration] = [1, 2, 4, 8, 16, 32, 60, 60].map { .seconds($0) }
    for (delay, base) in zip(delays(seed: 42), bases) {
      #expect(delay >= .zero && delay <= base)
    }
  }

  // MARK: Conditions

  @Test("`.always` retries on every error")
  func always() {
    let condition = RetryPolicy.RetryCondition.always
    #expect(condition.shouldRetry(Timeout()))
    #expect(condition.shouldRetry(HTTPStatus(code: 404)))
    #expect(condition.shouldRetry(CancellationError()))
  }

  @Test("`.errors(A.self, B.self)` retries on A and B only")
  func errorsOfTypes() {
    let condition = RetryPolicy.RetryCondition.errors(Timeout.self, Refused.self)
    #expect(condition.shouldRetry(Timeout()))
    #expect(condition.shouldRetry(Refused()))
    #expect(!condition.shouldRetry(Corrupt()))
    #expect(!condition.shouldRetry(HTTPStatus(code: 503)))
    let single = RetryPolicy.RetryCondition.errors(Corrupt.self)
    #expect(single.shouldRetry(Corrupt()))
    #expect(!single.shouldRetry(Timeout()))
  }

  @Test("`.errors()` with no types never retries")
  func errorsOfNoTypes() {
    let condition = RetryPolicy.RetryCondition.errors()
    #expect(!condition.shouldRetry(Timeout()))
  }

  @Test("`.when { }` retries when the closure says so")
  func when() {
    let condition = RetryPolicy.RetryCondition.when { error in
      guard let status = error as? HTTPStatus else { return false }
      return status.code >= 500
    }
    #expect(condition.shouldRetry(HTTPStatus(code: 503)))
    #expect(!condition.shouldRetry(HTTPStatus(code: 404)))
    #expect(!condition.shouldRetry(Timeout()))
  }

  @Test("a policy keeps its condition")
  func policyKeepsCondition() {
    let policy = RetryPolicy(maxRetries: 2, retryIf: .errors(Timeout.self))
    #expect(policy.retryIf.shouldRetry(Timeout()))
    #expect(!policy.retryIf.shouldRetry(Refused()))
  }

  @Test("`.errors(A.self)` also matches an error standing in for an A thrown elsewhere")
  func errorsMatchStandIns() {
    struct StandIn: ErrorTypeNaming { let originalTypeName: String }
    let condition = RetryPolicy.RetryCondition.errors(Timeout.self)
    #expect(condition.shouldRetry(StandIn(originalTypeName: String(reflecting: Timeout.self))))
    #expect(!condition.shouldRetry(StandIn(originalTypeName: String(reflecting: Refused.self))))
  }
}

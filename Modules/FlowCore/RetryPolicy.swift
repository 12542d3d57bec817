import Foundation

/// How a task retries a failed or timed-out attempt: how many times, after what delay, on what.
///
/// ```swift
/// let fetch = task("fetch", retries: .init(maxRetries: 3, delay: .seconds(10),
///                                           backoff: .exponential(maxDelay: .seconds(300)),
///                                           jitter: .upTo(.seconds(1)),
///                                           retryIf: .errors(URLError.self))) { ... }
/// ```
public struct RetryPolicy: Sendable {
  /// Retries after the first attempt; the task makes at most `maxRetries + 1` attempts.
  public var maxRetries: Int
  /// The delay before the first retry.
  public var delay: Duration
  /// How the delay grows from one retry to the next.
  public var backoff: Backoff
  /// Randomness added to each delay, drawn from the run's random source.
  public var jitter: Jitter
  /// Which errors are worth a retry.
  public var retryIf: RetryCondition

  /// Creates a policy. `maxRetries` below zero is treated as zero.
  public init(
    maxRetries: Int, delay: Duration = .zero, backoff: Backoff = .constant,
    jitter: Jitter = .none, retryIf: RetryCondition = .always
  ) {
    self.maxRetries = max(0, maxRetries)
    self.delay = delay
    self.backoff = backoff
    self.jitter = jitter
    self.retryIf = retryIf
  }

  /// No retries: one attempt.
  public static let none = RetryPolicy(maxRetries: 0)

  /// The most attempts a task with this policy makes.
  public var maxAttempts: Int { maxRetries + 1 }

  /// The delay before attempt `attempt + 1`, after attempt number `attempt` (1-based) failed.
  public func delay(afterAttempt attempt: Int, random: any RandomSource) -> Duration {
    let base = backoff.delay(base: delay, retry: max(1, attempt))
    return jitter.apply(to: base, random: random)
  }
}

extension RetryPolicy {
  /// How a retry delay grows: constant, or exponential up to a maximum.
  public struct Backoff: Sendable {
    private let multiplier: Double
    private let maxDelay: Duration?

    /// The same delay before every retry.
    public static let constant = Backoff(multiplier: 1, maxDelay: nil)

    /// `delay × multiplier^(retry-1)`, capped at `maxDelay` when given.
    public static func exponential(multiplier: Double = 2, maxDelay: Duration? = nil) -> Backoff {
      Backoff(multiplier: max(1, multiplier), maxDelay: maxDelay)
    }

    /// The delay before retry number `retry` (1-based).
    public func delay(base: Duration, retry: Int) -> Duration {
      guard multiplier != 1, base > .zero else { return min(base, maxDelay ?? base) }
      // Checked in Double seconds first, so that a late retry cannot overflow `Duration`.
      let factor = pow(multiplier, Double(max(0, retry - 1)))
      let seconds = base.timeInterval * factor
      if let maxDelay, seconds >= maxDelay.timeInterval { return maxDelay }
      return seconds >= Self.longest ? .seconds(Self.longest) : base * factor
    }

    /// About 31 million years: the longest delay, so that an uncapped backoff stays finite.
    private static let longest: Double = 1e15
  }

  /// Random variation of a retry delay, so that many failing tasks do not retry in lockstep.
  public struct Jitter: Sendable {
    private enum Kind {
      case none, full
      case upTo(Duration)
      case proportional(Double)
    }
    private let kind: Kind

    /// No jitter: the delay is exact.
    public static let none = Jitter(kind: .none)
    /// A delay drawn uniformly from `0 ... delay` ("full jitter").
    public static let full = Jitter(kind: .full)
    /// The delay plus a value drawn uniformly from `0 ... extra`.
    public static func upTo(_ extra: Duration) -> Jitter { Jitter(kind: .upTo(extra)) }
    /// The delay times a factor drawn uniformly from `1-fraction ... 1+fraction`.
    public static func proportional(_ fraction: Double) -> Jitter {
      Jitter(kind: .proportional(min(1, max(0, fraction))))
    }

    /// Applies the jitter to `delay`.
    public func apply(to delay: Duration, random: any RandomSource) -> Duration {
      switch kind {
      case .none: delay
      case .full: delay * random.nextUnitDouble()
      case .upTo(let extra): delay + extra * random.nextUnitDouble()
      case .proportional(let fraction):
        delay * random.nextDouble(in: (1 - fraction)...(1 + fraction))
      }
    }
  }

  /// Which errors a task retries on.
  public struct RetryCondition: Sendable {
    private let test: @Sendable (any Error) -> Bool

    /// Retries on any error whose `test` returns true.
    public static func when(_ test: @escaping @Sendable (any Error) -> Bool) -> RetryCondition {
      RetryCondition(test: test)
    }

    /// Retries on every error (the default).
    public static let always = RetryCondition { _ in true }

    /// Retries only on errors of the given types (or standing in for them, as an error thrown
    /// on a cluster worker does: see ``ErrorTypeNaming``).
    public static func errors<each E: Error>(_ types: repeat (each E).Type) -> RetryCondition {
      var tests: [@Sendable (any Error) -> Bool] = []
      repeat tests.append(isError(each types))
      let matchers = tests
      return RetryCondition { error in matchers.contains { $0(error) } }
    }

    private static func isError<E: Error>(_: E.Type) -> @Sendable (any Error) -> Bool {
      let name = String(reflecting: E.self)
      return { $0 is E || ($0 as? any ErrorTypeNaming)?.originalTypeName == name }
    }

    /// Whether `error` is worth a retry.
    public func shouldRetry(_ error: any Error) -> Bool { test(error) }
  }
}

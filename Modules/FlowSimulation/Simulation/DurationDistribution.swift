import Foundation

/// A distribution of simulated durations: network latencies, task durations, fault lengths.
///
/// ```swift
/// let latency = DurationDistribution.uniform(.milliseconds(1) ... .milliseconds(20))
/// let slowTail = DurationDistribution.mixture(.fixed(.milliseconds(5)), .exponential(mean: .seconds(2)), p: 0.01)
/// ```
public struct DurationDistribution: Sendable, CustomStringConvertible {
  private indirect enum Kind: Sendable {
    case fixed(Int64)
    case uniform(Int64, Int64)
    case exponential(mean: Double, floor: Int64)
    case mixture(Kind, Kind, Double)
  }

  private let kind: Kind

  private init(_ kind: Kind) { self.kind = kind }

  /// Always `duration`.
  public static func fixed(_ duration: Duration) -> DurationDistribution {
    DurationDistribution(.fixed(duration.simulationNanoseconds))
  }

  /// Uniformly distributed in `range`.
  public static func uniform(_ range: ClosedRange<Duration>) -> DurationDistribution {
    DurationDistribution(
      .uniform(range.lowerBound.simulationNanoseconds, range.upperBound.simulationNanoseconds))
  }

  /// `floor` plus an exponentially distributed value of mean `mean` (a long tail).
  public static func exponential(mean: Duration, floor: Duration = .zero) -> DurationDistribution {
    DurationDistribution(
      .exponential(mean: Double(mean.simulationNanoseconds), floor: floor.simulationNanoseconds))
  }

  /// `rare` with probability `p`, `common` otherwise (e.g. a slow path).
  public static func mixture(
    _ common: DurationDistribution, _ rare: DurationDistribution, p: Double
  ) -> DurationDistribution {
    DurationDistribution(.mixture(common.kind, rare.kind, p))
  }

  /// A value drawn from the distribution, in nanoseconds (never negative).
  public func sampleNanoseconds(_ random: inout SimulationRandom) -> Int64 {
    Self.sample(kind, &random)
  }

  /// A value drawn from the distribution.
  public func sample(_ random: inout SimulationRandom) -> Duration {
    .nanoseconds(sampleNanoseconds(&random))
  }

  private static func sample(_ kind: Kind, _ random: inout SimulationRandom) -> Int64 {
    switch kind {
    case .fixed(let value):
      return max(0, value)
    case .uniform(let low, let high):
      guard high > low else { return max(0, low) }
      return max(0, low + Int64(random.int(below: Int(high - low) + 1)))
    case .exponential(let mean, let floor):
      let draw = -mean * log(1 - random.unit())
      return max(0, floor + Int64(min(draw, 1e17)))
    case .mixture(let common, let rare, let p):
      return random.chance(p) ? sample(rare, &random) : sample(common, &random)
    }
  }

  /// The distribution, e.g. `uniform(1ms...20ms)`.
  public var description: String { Self.describe(kind) }

  private static func describe(_ kind: Kind) -> String {
    func text(_ ns: Int64) -> String { formatSimulated(ns) }
    switch kind {
    case .fixed(let value): return "fixed(\(text(value)))"
    case .uniform(let low, let high): return "uniform(\(text(low))...\(text(high)))"
    case .exponential(let mean, let floor):
      return "exponential(mean: \(text(Int64(mean))), floor: \(text(floor)))"
    case .mixture(let common, let rare, let p):
      return "mixture(\(describe(common)), \(describe(rare)), p: \(p))"
    }
  }
}

/// `ns` nanoseconds as seconds with up to 9 decimals, e.g. `1.5s`, `0.002s`.
func formatSimulated(_ ns: Int64) -> String {
  let sign = ns < 0 ? "-" : ""
  let magnitude = ns.magnitude
  var fraction = String(magnitude % 1_000_000_000)
  fraction = String(repeating: "0", count: 9 - fraction.count) + fraction
  while fraction.hasSuffix("0") { fraction.removeLast() }
  return "\(sign)\(magnitude / 1_000_000_000)\(fraction.isEmpty ? "" : "." + fraction)s"
}

extension Duration {
  /// The duration in whole nanoseconds (saturating at about 292 years).
  var simulationNanoseconds: Int64 {
    let (seconds, attoseconds) = components
    guard seconds < 9_000_000_000, seconds > -9_000_000_000 else {
      return seconds > 0 ? .max : .min
    }
    return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
  }
}

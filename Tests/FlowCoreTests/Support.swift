import FlowCore
import Synchronization

/// Counts calls of a task body, to prove that building a flow runs none.
final class CallCounter: Sendable {
  private let count = Mutex(0)

  var value: Int { count.withLock { $0 } }

  func increment() { count.withLock { $0 += 1 } }
}

/// A random source that always returns `value`, for exact jitter arithmetic.
struct FixedRandomSource: RandomSource {
  let value: UInt64

  /// `nextUnitDouble()` returns exactly 0.
  static let zero = FixedRandomSource(value: 0)
  /// `nextUnitDouble()` returns exactly 0.5.
  static let half = FixedRandomSource(value: 1 << 63)
  /// `nextUnitDouble()` returns the largest value below 1.
  static let max = FixedRandomSource(value: .max)

  func nextUInt64() -> UInt64 { value }
}

/// A random source that returns the given values in order, then repeats the last one.
final class SequenceRandomSource: RandomSource {
  private let values: Mutex<[UInt64]>

  init(_ values: [UInt64]) { self.values = Mutex(values) }

  func nextUInt64() -> UInt64 {
    values.withLock { values in values.count > 1 ? values.removeFirst() : values[0] }
  }
}

/// Declares a required parameter.
func requiredParameter<Value: Codable & Sendable>(
  _ name: String, _: Value.Type = Value.self
) -> Parameter<Value> {
  Parameter<Value>(required: name)
}

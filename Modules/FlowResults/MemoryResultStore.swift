import FlowCore
import Synchronization

/// A result store in memory, for tests and for caches that need not outlive the process.
public final class MemoryResultStore: ResultStore {
  private let values = Mutex<[String: StoredResult]>([:])

  /// An empty store.
  public init() {}

  /// The value at `location`, if any.
  public func read(at location: String) throws(ResultStoreError) -> StoredResult? {
    try ResultLocation.validate(location)
    return values.withLock { $0[location] }
  }

  /// Stores `result` at `location`.
  public func write(_ result: StoredResult, at location: String) throws(ResultStoreError) {
    try ResultLocation.validate(location)
    values.withLock { $0[location] = result }
  }

  /// Every location that holds a value, sorted.
  public var locations: [String] { values.withLock { $0.keys.sorted() } }

  /// "memory".
  public var description: String { "memory" }
}

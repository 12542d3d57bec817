import FlowCore
import FlowExecutors
import FlowState
import FlowTesting
import Foundation
import Synchronization
import Testing

/// The executors that key behaviour is checked on: the engine must not depend on the executor.
let bothExecutors: [FlowExecutor] = [.sequential, .concurrent(width: 4)]

/// The instant every manual test clock starts at.
let testStart = Date(timeIntervalSince1970: 1_800_000_000)

/// A deterministic environment on a manual clock that starts at ``testStart``.
func testEnvironment(seed: UInt64 = 1, clock: TestClock = TestClock(now: testStart))
  -> RunEnvironment
{
  .testing(seed: seed, clock: clock)
}

/// An error a task body throws on purpose.
struct Boom: Error, Equatable, CustomStringConvertible {
  var code = 0
  var description: String { "boom \(code)" }
}

/// An error a retry policy may accept.
struct TransientError: Error {}

/// An error a retry policy may refuse.
struct PermanentError: Error {}

/// Counts body invocations from any thread.
final class Counter: Sendable {
  private let value = Atomic<Int>(0)

  /// Adds one and returns the new count.
  @discardableResult
  func increment() -> Int { value.add(1, ordering: .relaxed).newValue }

  /// The current count.
  var count: Int { value.load(ordering: .relaxed) }
}

/// An ordered, thread-safe record of what happened.
final class Log<Entry: Sendable>: Sendable {
  private let entries = Mutex<[Entry]>([])

  /// Appends an entry.
  func append(_ entry: Entry) { entries.withLock { $0.append(entry) } }

  /// Every entry, in the order appended.
  var all: [Entry] { entries.withLock { $0 } }
}

/// Tracks how many bodies are inside a region at once, and the most ever seen.
final class Gauge: Sendable {
  private let state = Mutex<(current: Int, peak: Int)>((0, 0))

  /// A body entered the region.
  func enter() {
    state.withLock { state in
      state.current += 1
      state.peak = max(state.peak, state.current)
    }
  }

  /// A body left the region.
  func leave() { state.withLock { $0.current -= 1 } }

  /// The most bodies that were inside at once.
  var peak: Int { state.withLock { $0.peak } }
}

extension FlowRunResult {
  /// The run of `slug`, or a test failure when there is none.
  func run(_ slug: String, mapIndex: Int? = nil, sourceLocation: SourceLocation = #_sourceLocation)
    throws -> TaskRun
  {
    try #require(taskRun(slug, mapIndex: mapIndex), sourceLocation: sourceLocation)
  }

  /// The final state kind of `slug` (nil when there is no such run).
  func kind(_ slug: String, mapIndex: Int? = nil) -> RunState.Kind? {
    taskRun(slug, mapIndex: mapIndex)?.state.kind
  }
}

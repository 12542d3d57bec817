import FlowCore
import FlowExecutors
import FlowState
import Foundation
import Synchronization

/// The live progress line `run` keeps on standard error while a run goes, when standard error
/// is a terminal (Dask's progress bar): task runs done of those known, by state, the elapsed
/// time and the task that has been running longest. Redrawn in place at most every `interval`.
final class RunProgress: Sendable {
  private struct Tally {
    var states: [TaskRunKey: RunState.Kind] = [:]
    var runningSince: [TaskRunKey: Date] = [:]
    var lastDrawn: Date?
    var drawn = false
  }

  private let slugs: [String]
  private let taskCount: Int
  private let clock: any WallClock
  private let started: Date
  private let interval: TimeInterval
  private let write: @Sendable (String) -> Void
  private let tally = Mutex(Tally())

  init(
    flow: Flow, clock: any WallClock, interval: TimeInterval = 0.1,
    write: @escaping @Sendable (String) -> Void
  ) {
    slugs = flow.graph.nodes.map(\.slug)
    taskCount = flow.tasks.count
    self.clock = clock
    started = clock.now()
    self.interval = interval
    self.write = write
  }

  /// The run observer that feeds the line.
  var observer: FlowRunObserver {
    { [self] step in
      guard case .transitioned(.task(let key), let recorded) = step.event else { return }
      self.update(key, recorded.state.kind)
    }
  }

  private func update(_ key: TaskRunKey, _ kind: RunState.Kind) {
    let now = clock.now()
    let line = tally.withLock { tally -> String? in
      tally.states[key] = kind
      if kind == .running {
        if tally.runningSince[key] == nil { tally.runningSince[key] = now }
      } else {
        tally.runningSince[key] = nil
      }
      if let last = tally.lastDrawn, now.timeIntervalSince(last) < interval { return nil }
      tally.lastDrawn = now
      tally.drawn = true
      return Self.line(
        tally, slugs: slugs, taskCount: taskCount, elapsed: now.timeIntervalSince(started), now: now
      )
    }
    if let line { write("\r\u{1B}[K" + line) }
  }

  /// Draws the final line and ends it, so that what follows starts on a line of its own.
  func finish() {
    let now = clock.now()
    let line = tally.withLock { tally -> String? in
      guard tally.drawn else { return nil }
      return Self.line(
        tally, slugs: slugs, taskCount: taskCount, elapsed: now.timeIntervalSince(started), now: now
      )
    }
    if let line { write("\r\u{1B}[K" + line + "\n") }
  }

  /// `[3/7 tasks] 2 Success, 1 Failed, 1 Running | 0:12 | slowest: train (8.1s)`.
  private static func line(
    _ tally: Tally, slugs: [String], taskCount: Int, elapsed: TimeInterval, now: Date
  ) -> String {
    // A mapped parent stands for its children once they are known.
    let parents = Set(tally.states.keys.filter { $0.mapIndex != nil }.map(\.node))
    let runs = tally.states.filter { !($0.key.mapIndex == nil && parents.contains($0.key.node)) }
    let known = max(taskCount - parents.count, 0) + runs.keys.filter { $0.mapIndex != nil }.count
    let done = runs.values.filter(\.isFinished).count
    var byState: [String: Int] = [:]
    for kind in runs.values { byState[kind.name, default: 0] += 1 }
    let states = byState.sorted { $0.key < $1.key }.map { "\($0.value) \($0.key)" }
      .joined(separator: ", ")
    let seconds = Int(elapsed)
    var text =
      "[\(done)/\(max(known, done)) tasks] \(states) | \(seconds / 60):"
      + String(format: "%02d", seconds % 60)
    if let slowest = tally.runningSince.min(by: { $0.value < $1.value }) {
      let slug = slugs[slowest.key.node] + (slowest.key.mapIndex.map { "[\($0)]" } ?? "")
      text +=
        " | slowest: \(slug) (" + String(format: "%.1f", now.timeIntervalSince(slowest.value))
        + "s)"
    }
    return text
  }
}

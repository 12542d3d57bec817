import Foundation
import Synchronization

/// Worker processes of the current executable, started and stopped by a ``LocalCluster``
/// (Foundation's `Process`: the one place the cluster starts processes).
final class SystemWorkerProcesses: Sendable {
  private struct State {
    var exited: [Int32?]
    var waiters: [CheckedContinuation<Void, Never>] = []
  }

  private final class Shared: Sendable {
    let mutex: Mutex<State>
    init(_ state: State) { mutex = Mutex(state) }
    func withLock<T>(_ body: (inout State) -> T) -> T { mutex.withLock { body(&$0) } }
  }

  private let processes: [Process]
  private let state: Shared

  /// Starts `count` processes of `executable` with `arguments`; `onExit(index, status)` runs
  /// when one ends.
  init(
    count: Int, executable: String, arguments: [String],
    onExit: @escaping @Sendable (Int, Int32) -> Void
  ) throws {
    state = Shared(State(exited: Array(repeating: nil, count: count)))
    var processes: [Process] = []
    for _ in 0..<count {
      let process = Process()
      process.executableURL = URL(fileURLWithPath: executable)
      process.arguments = arguments
      processes.append(process)
    }
    self.processes = processes
    for (index, process) in processes.enumerated() {
      process.terminationHandler = { [state] ended in
        let status = ended.terminationStatus
        let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
          state.exited[index] = status
          guard state.exited.allSatisfy({ $0 != nil }) else { return [] }
          defer { state.waiters.removeAll() }
          return state.waiters
        }
        onExit(index, status)
        for waiter in waiters { waiter.resume() }
      }
      try process.run()
    }
  }

  /// The processes' IDs.
  var processIdentifiers: [Int32] { processes.map(\.processIdentifier) }

  /// Returns when every process has exited.
  func waitForAll() async {
    await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
      let done = state.withLock { state -> Bool in
        if state.exited.allSatisfy({ $0 != nil }) { return true }
        state.waiters.append(continuation)
        return false
      }
      if done { continuation.resume() }
    }
  }

  /// True when every process has exited.
  var allExited: Bool { state.withLock { $0.exited.allSatisfy { $0 != nil } } }

  /// Kills the processes that are still running.
  func kill() {
    for process in processes where process.isRunning {
      Foundation.kill(process.processIdentifier, SIGKILL)
    }
  }
}

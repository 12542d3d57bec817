import Foundation
import Synchronization

/// Worker processes of the current executable, started and stopped by a ``LocalCluster``
/// (Foundation's `Process`: the one place the cluster starts processes).
///
/// Each child's standard input is a pipe whose writing end only this process holds, and its
/// environment has ``SystemProcessInfo/parentWatchVariable`` set: the worker exits when it reads
/// end-of-file there, which happens as soon as this process dies, even by `kill -9`.
final class SystemWorkerProcesses: Sendable {
  private struct State {
    var processes: [Process] = []
    var exited: [Int32?]
    var waiters: [CheckedContinuation<Void, Never>] = []
    /// The pipes feeding the children's standard input (kept open while the child lives).
    var lifelines: [Pipe?]
  }

  private final class Shared: Sendable {
    let mutex: Mutex<State>
    init(_ state: State) { mutex = Mutex(state) }
    func withLock<T>(_ body: (inout State) -> T) -> T { mutex.withLock { body(&$0) } }
  }

  private let state: Shared
  private let executable: String
  private let arguments: [String]
  private let onExit: @Sendable (Int, Int32) -> Void

  /// Starts `count` processes of `executable` with `arguments`; `onExit(index, status)` runs
  /// when one ends.
  init(
    count: Int, executable: String, arguments: [String],
    onExit: @escaping @Sendable (Int, Int32) -> Void
  ) throws {
    state = Shared(
      State(
        exited: Array(repeating: nil, count: count),
        lifelines: Array(repeating: nil, count: count)))
    self.executable = executable
    self.arguments = arguments
    self.onExit = onExit
    for index in 0..<count { try start(index) }
  }

  /// Starts (or restarts) process number `index`.
  func start(_ index: Int) throws {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    var environment = ProcessInfo.processInfo.environment
    environment[SystemProcessInfo.parentWatchVariable] = "stdin"
    process.environment = environment
    let lifeline = Pipe()
    process.standardInput = lifeline
    process.terminationHandler = { [state, onExit] ended in
      let status = ended.terminationStatus
      let waiters = state.withLock { state -> [CheckedContinuation<Void, Never>] in
        guard index < state.processes.count, state.processes[index] === ended else { return [] }
        state.exited[index] = status
        try? state.lifelines[index]?.fileHandleForWriting.close()
        state.lifelines[index] = nil
        guard state.exited.allSatisfy({ $0 != nil }) else { return [] }
        defer { state.waiters.removeAll() }
        return state.waiters
      }
      onExit(index, status)
      for waiter in waiters { waiter.resume() }
    }
    let failure = state.withLock { state -> (any Error)? in
      while state.processes.count <= index { state.processes.append(Process()) }
      state.processes[index] = process
      state.exited[index] = nil
      state.lifelines[index] = lifeline
      do {
        try process.run()
      } catch {
        state.exited[index] = -1
        state.lifelines[index] = nil
        return error
      }
      // The child has its copy of the reading end; ours would keep the pipe open forever.
      try? lifeline.fileHandleForReading.close()
      return nil
    }
    if let failure { throw failure }
  }

  /// The processes' IDs.
  var processIdentifiers: [Int32] { state.withLock { $0.processes.map(\.processIdentifier) } }

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
    for process in state.withLock({ $0.processes }) where process.isRunning {
      Foundation.kill(process.processIdentifier, SIGKILL)
    }
  }
}

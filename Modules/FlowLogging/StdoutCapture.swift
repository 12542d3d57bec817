import Foundation
import Synchronization

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// Captures what the process writes to standard output while a body runs (`logStdout`).
///
/// How it works: standard output (file descriptor 1) is pointed at an unlinked temporary file
/// for the duration of the body, then restored, and the file's lines are returned. A file, not
/// a pipe, so that a task printing more than a pipe holds cannot block.
///
/// Limits: standard output belongs to the whole process. Captures are serialised (one
/// `logStdout` task at a time; others wait their turn), and while one runs, anything *any*
/// thread prints lands in that task's log. For clean separation of concurrently printing
/// tasks, run them on the sequential executor or in separate worker processes.
public enum StdoutCapture {
  private static let gate = AsyncGate()

  /// Runs `body` with standard output captured; returns its result and the printed lines.
  public static func capture<T: Sendable>(
    _ body: () async throws -> T
  ) async throws -> (value: T, lines: [String]) {
    await gate.enter()
    defer { gate.leave() }
    fflush(nil)  // every C stream, standard output among them
    var path = Array("\(NSTemporaryDirectory())/flow-stdout-XXXXXX".utf8CString)
    let file = mkstemp(&path)
    guard file >= 0 else { return (try await body(), []) }  // cannot capture: run uncaptured
    unlink(path)
    let saved = dup(STDOUT_FILENO)
    dup2(file, STDOUT_FILENO)
    let outcome: Result<T, any Error>
    do {
      outcome = .success(try await body())
    } catch {
      outcome = .failure(error)
    }
    fflush(nil)  // every C stream, standard output among them
    dup2(saved, STDOUT_FILENO)
    close(saved)
    let text = readAll(file)
    close(file)
    let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    let trimmed = lines.last == "" ? Array(lines.dropLast()) : lines
    return (try outcome.get(), trimmed)
  }

  private static func readAll(_ file: Int32) -> String {
    lseek(file, 0, SEEK_SET)
    var data = Data()
    var buffer = [UInt8](repeating: 0, count: 65_536)
    while true {
      let count = read(file, &buffer, buffer.count)
      if count <= 0 { break }
      data.append(buffer, count: count)
    }
    return String(decoding: data, as: UTF8.self)
  }
}

/// A first-come, first-served async lock: `enter` suspends until the previous holder leaves.
final class AsyncGate: Sendable {
  private struct State {
    var held = false
    var waiters: [CheckedContinuation<Void, Never>] = []
  }

  private let state = Mutex(State())

  func enter() async {
    await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
      let acquired = state.withLock { state in
        if state.held {
          state.waiters.append(continuation)
          return false
        }
        state.held = true
        return true
      }
      if acquired { continuation.resume() }
    }
  }

  func leave() {
    let next = state.withLock { state in
      guard !state.waiters.isEmpty else {
        state.held = false
        return nil as CheckedContinuation<Void, Never>?
      }
      return state.waiters.removeFirst()  // the lock passes straight to the next waiter
    }
    next?.resume()
  }
}

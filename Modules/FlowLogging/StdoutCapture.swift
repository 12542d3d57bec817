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
/// a pipe, so that a task printing more than a pipe holds cannot block. C streams are flushed
/// before and after, so `print`, `fputs(_, stdout)` and `FileHandle.standardOutput` all land in
/// the capture.
///
/// Limits: standard output belongs to the whole process. Captures are serialised (one
/// `logStdout` task at a time, first come first served; others wait their turn), so two
/// captured tasks never mix their lines; but while one runs, anything *any* thread prints to
/// standard output (a task without `logStdout`, a console log handler writing to standard
/// output) lands in that task's log. The lines are logged when the body ends, after the
/// records it logged through its logger. For parallel printing tasks, prefer the task's logger,
/// or run them in separate worker processes.
public enum StdoutCapture {
  private static let gate = AsyncGate()

  /// Runs `body` with standard output captured; returns how it ended and the printed lines
  /// (kept when `body` throws too: what a failing task printed is what explains it).
  public static func capture<T>(
    _ body: () async throws -> T
  ) async -> (outcome: Result<T, any Error>, lines: [String]) {
    await gate.enter()
    defer { gate.leave() }
    fflush(nil)  // every C stream, standard output among them
    var path = Array("\(NSTemporaryDirectory())/flow-stdout-XXXXXX".utf8CString)
    let file = mkstemp(&path)
    guard file >= 0 else { return (await run(body), []) }  // cannot capture: run uncaptured
    unlink(path)
    let saved = dup(STDOUT_FILENO)
    dup2(file, STDOUT_FILENO)
    let outcome = await run(body)
    fflush(nil)  // every C stream, standard output among them
    dup2(saved, STDOUT_FILENO)
    close(saved)
    let text = readAll(file)
    close(file)
    let lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    return (outcome, lines.last == "" ? Array(lines.dropLast()) : lines)
  }

  private static func run<T>(_ body: () async throws -> T) async -> Result<T, any Error> {
    do {
      return .success(try await body())
    } catch {
      return .failure(error)
    }
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

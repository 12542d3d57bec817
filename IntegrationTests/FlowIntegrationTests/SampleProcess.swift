import Foundation
import Testing

/// The samples' end-to-end tests, one process at a time: a debug sample binary takes a core
/// for a second or two, and running a dozen at once on a small machine would starve the unit
/// tests that measure wall time.
@Suite("Samples, end to end", .serialized)
struct SampleSuites {}

/// A sample executable run as a real process, as a newcomer would.
struct SampleProcess {
  struct Output {
    let status: Int32
    let stdout: String
    let stderr: String
  }

  let name: String

  /// The sample binary, built next to the test bundle because this target depends on it.
  func binary() throws -> URL {
    let candidates = [
      Bundle.main.bundleURL,
      URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent(),
    ]
    let found = candidates.map { $0.appendingPathComponent(name) }
      .first { FileManager.default.isExecutableFile(atPath: $0.path) }
    return try #require(found, "\(name) not found next to \(candidates.map(\.path))")
  }

  /// Runs the binary with `arguments` in `directory` (default: a fresh temporary one).
  ///
  /// Async, and blocking no thread of the cooperative pool (pipes are read on their own
  /// threads, the exit is awaited through `terminationHandler`), so that other tests keep
  /// running while the sample does.
  func run(
    _ arguments: [String], in directory: URL? = nil, environment: [String: String] = [:]
  ) async throws -> Output {
    let process = Process()
    process.executableURL = try binary()
    process.arguments = arguments
    let workingDirectory =
      directory
      ?? FileManager.default.temporaryDirectory.appendingPathComponent(
        "\(name)-\(UUID().uuidString)")
    try FileManager.default.createDirectory(
      at: workingDirectory, withIntermediateDirectories: true)
    // A directory made here is this run's alone: nobody else knows its path.
    defer { if directory == nil { try? FileManager.default.removeItem(at: workingDirectory) } }
    process.currentDirectoryURL = workingDirectory
    // Runs are recorded into the working directory, never into the real ~/.flow (a test may
    // pass FLOW_DATABASE "" and its own HOME to use the default location there).
    process.environment = ProcessInfo.processInfo.environment.merging(
      ["FLOW_DATABASE": "sqlite:" + workingDirectory.appendingPathComponent("flow.sqlite").path]
    ) { $1 }.merging(environment) { $1 }.filter { !($0.key == "FLOW_DATABASE" && $0.value.isEmpty) }
    let out = Pipe()
    let err = Pipe()
    process.standardOutput = out
    process.standardError = err
    let stdout = PipeReader(out)
    let stderr = PipeReader(err)
    let status = await withCheckedContinuation {
      (continuation: CheckedContinuation<Int32, Never>) in
      process.terminationHandler = { continuation.resume(returning: $0.terminationStatus) }
      do {
        try process.run()
      } catch {
        process.terminationHandler = nil
        continuation.resume(returning: -1)
      }
    }
    guard status != -1 else { throw CocoaError(.executableLoad) }
    return Output(
      status: status, stdout: String(decoding: await stdout.data(), as: UTF8.self),
      stderr: String(decoding: await stderr.data(), as: UTF8.self))
  }
}

/// Reads a pipe to its end on a thread of its own.
final class PipeReader: @unchecked Sendable {
  // @unchecked: `result` and `waiter` are only touched under `lock`.
  private let lock = NSLock()
  private var result: Data?
  private var waiter: CheckedContinuation<Data, Never>?

  init(_ pipe: Pipe) {
    let handle = pipe.fileHandleForReading
    Thread { [self] in
      let data = handle.readDataToEndOfFile()
      lock.lock()
      result = data
      let waiter = self.waiter
      self.waiter = nil
      lock.unlock()
      waiter?.resume(returning: data)
    }.start()
  }

  /// Everything the pipe carried, once its writer closed it.
  func data() async -> Data {
    await withCheckedContinuation { continuation in
      lock.lock()
      if let result {
        lock.unlock()
        continuation.resume(returning: result)
      } else {
        waiter = continuation
        lock.unlock()
      }
    }
  }
}

import Foundation
import Testing

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
  func run(
    _ arguments: [String], in directory: URL? = nil, environment: [String: String] = [:]
  ) throws -> Output {
    let process = Process()
    process.executableURL = try binary()
    process.arguments = arguments
    let workingDirectory =
      directory
      ?? FileManager.default.temporaryDirectory.appendingPathComponent(
        "\(name)-\(UUID().uuidString)")
    try FileManager.default.createDirectory(
      at: workingDirectory, withIntermediateDirectories: true)
    process.currentDirectoryURL = workingDirectory
    process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    let out = Pipe()
    let err = Pipe()
    process.standardOutput = out
    process.standardError = err
    try process.run()
    // Read standard error on another thread so that neither pipe can fill up and block.
    let errors = Mutexed(Data())
    let reader = Thread { errors.set(err.fileHandleForReading.readDataToEndOfFile()) }
    reader.start()
    let stdout = out.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    while !errors.isSet { usleep(1000) }
    return Output(
      status: process.terminationStatus, stdout: String(decoding: stdout, as: UTF8.self),
      stderr: String(decoding: errors.value, as: UTF8.self))
  }
}

/// A value set once by another thread.
final class Mutexed: @unchecked Sendable {
  // @unchecked: every access goes through `lock`.
  private let lock = NSLock()
  private var stored: Data
  private var done = false

  init(_ value: Data) { stored = value }

  func set(_ value: Data) {
    lock.lock()
    stored = value
    done = true
    lock.unlock()
  }

  var isSet: Bool {
    lock.lock()
    defer { lock.unlock() }
    return done
  }

  var value: Data {
    lock.lock()
    defer { lock.unlock() }
    return stored
  }
}

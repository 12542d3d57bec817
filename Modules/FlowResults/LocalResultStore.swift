import FlowCore
import Foundation
import Synchronization

#if canImport(Glibc)
  import Glibc
  private let systemWrite = Glibc.write
#elseif canImport(Darwin)
  import Darwin
  private let systemWrite = Darwin.write
#endif

/// A result store in a local directory (Prefect's `LocalResult(dir:)`): one file per location.
///
/// Writes are atomic and durable: a temporary file in the same directory, `fsync`, `rename`,
/// then `fsync` of the directory, so a crash leaves the old value or the new one, and two
/// writers of one location never mix their bytes. Files carry a header with a CRC-32, so a
/// damaged file is reported rather than decoded.
public struct LocalResultStore: ResultStore {
  /// The directory the files live in.
  public let directory: URL

  private static let temporaryCounter = Atomic<Int>(0)
  /// The directories whose stale temporary files this process already removed.
  private static let swept = Mutex<Set<String>>([])

  /// A store in `directory` (created on the first write). The first store a process opens on
  /// a directory removes the temporary files that writers killed mid-write left there.
  public init(directory: URL) {
    self.directory = directory
    let path = directory.standardizedFileURL.path
    if Self.swept.withLock({ $0.insert(path).inserted }) {
      removeStaleTemporaryFiles()
    }
  }

  /// Removes the temporary files (`.NAME.PID.N.tmp`) whose writing process is gone (killed
  /// during a write); returns their paths. Files of live writers are kept.
  @discardableResult
  public func removeStaleTemporaryFiles() -> [String] {
    guard
      let files = FileManager.default.enumerator(
        at: directory, includingPropertiesForKeys: nil, options: [])
    else { return [] }
    var removed: [String] = []
    for case let url as URL in files {
      let name = url.lastPathComponent
      guard name.hasPrefix("."), name.hasSuffix(".tmp") else { continue }
      let parts = name.dropLast(4).split(separator: ".")
      guard parts.count >= 3, let pid = Int32(parts[parts.count - 2]) else { continue }
      // kill(pid, 0) fails with ESRCH when no such process exists.
      guard pid != getpid(), kill(pid, 0) != 0, errno == ESRCH else { continue }
      if unlink(url.path) == 0 { removed.append(url.path) }
    }
    return removed
  }

  /// A store in the directory at `path`.
  public init(path: String) { self.init(directory: URL(fileURLWithPath: path)) }

  /// "directory PATH".
  public var description: String { "directory \(directory.path)" }

  /// The file path of `location`.
  public func path(of location: String) -> String {
    directory.appendingPathComponent(location).path
  }

  /// Reads and checks the file at `location`; nil when there is none.
  public func read(at location: String) throws(ResultStoreError) -> StoredResult? {
    try ResultLocation.validate(location)
    let path = path(of: location)
    let data: Data
    do {
      data = try Data(contentsOf: URL(fileURLWithPath: path))
    } catch let error as CocoaError where error.code == .fileReadNoSuchFile {
      return nil
    } catch {
      throw ResultStoreError(
        code: .io, location: path, message: "cannot read the result file: \(Self.cause(error))")
    }
    return try ResultFileFormat.decode(data, location: path)
  }

  /// Writes `result` at `location` atomically.
  public func write(_ result: StoredResult, at location: String) throws(ResultStoreError) {
    try ResultLocation.validate(location)
    let path = path(of: location)
    let folder = (path as NSString).deletingLastPathComponent
    try Self.makeDirectories(folder, for: path)
    let counter = Self.temporaryCounter.add(1, ordering: .relaxed).oldValue
    let temporary = "\(folder)/.\((path as NSString).lastPathComponent).\(getpid()).\(counter).tmp"
    try Self.writeDurably(ResultFileFormat.encode(result), to: temporary, final: path)
    guard rename(temporary, path) == 0 else {
      let error = Self.posixError(path, "cannot move the new result file into place")
      unlink(temporary)
      throw error
    }
    let directoryDescriptor = open(folder, O_RDONLY)
    if directoryDescriptor >= 0 {
      fsync(directoryDescriptor)  // make the rename itself durable
      close(directoryDescriptor)
    }
  }

  /// `mkdir -p`, with the operating system's reason when a level cannot be made (a file in
  /// the way, permission denied, disk full).
  private static func makeDirectories(_ folder: String, for path: String)
    throws(ResultStoreError)
  {
    var prefix = folder.hasPrefix("/") ? "" : "."
    for component in folder.split(separator: "/") {
      prefix += "/" + component
      if mkdir(prefix, 0o755) == 0 { continue }
      let code = errno
      var info = stat()
      if code == EEXIST, stat(prefix, &info) == 0, info.st_mode & S_IFMT == S_IFDIR { continue }
      let reason =
        code == EEXIST
        ? "it already exists as a file (\(String(cString: strerror(ENOTDIR))))"
        : String(cString: strerror(code))
      throw ResultStoreError(
        code: .io, location: path, message: "cannot create the directory \(prefix): \(reason)")
    }
  }

  private static func writeDurably(_ data: Data, to temporary: String, final path: String)
    throws(ResultStoreError)
  {
    let descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
    guard descriptor >= 0 else { throw posixError(path, "cannot create a temporary file") }
    var failure: ResultStoreError?
    data.withUnsafeBytes { buffer in
      var offset = 0
      while offset < buffer.count {
        let written = systemWrite(descriptor, buffer.baseAddress! + offset, buffer.count - offset)
        if written < 0 {
          if errno == EINTR { continue }
          failure = posixError(path, "cannot write the result file")
          return
        }
        offset += written
      }
    }
    if failure == nil, fsync(descriptor) != 0 {
      failure = posixError(path, "cannot flush the result file to disk")
    }
    close(descriptor)
    if let failure {
      unlink(temporary)
      throw failure
    }
  }

  private static func posixError(_ path: String, _ what: String) -> ResultStoreError {
    let code = errno
    return ResultStoreError(
      code: .io, location: path, message: "\(what): \(String(cString: strerror(code)))")
  }

  private static func cause(_ error: any Error) -> String {
    if let underlying = (error as NSError).userInfo[NSUnderlyingErrorKey] as? NSError,
      underlying.domain == NSPOSIXErrorDomain
    {
      return String(cString: strerror(Int32(underlying.code)))
    }
    return error.localizedDescription
  }
}

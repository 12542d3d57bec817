import Foundation

/// Where a flow's task bodies run and how many at once.
///
/// `.sequential` runs one task at a time in the caller (Prefect's `LocalExecutor`);
/// `.concurrent(width:)` runs up to `width` at once with structured concurrency (Prefect's
/// `LocalDaskExecutor`). The engine, and so every trigger, retry and state, is the same for all.
public struct FlowExecutor: Sendable, CustomStringConvertible {
  /// The executor's name, for logs and errors.
  public let name: String
  /// The most task runs in flight at once.
  public let width: Int
  /// Where attempts run when not in this process (a cluster); nil runs them here.
  public let backend: (any FlowExecutorBackend)?

  /// Creates an executor description; `width` must be at least 1 (checked when a run starts).
  public init(name: String, width: Int, backend: (any FlowExecutorBackend)? = nil) {
    self.name = name
    self.width = width
    self.backend = backend
  }

  /// One task at a time, in the calling task.
  public static let sequential = FlowExecutor(name: "sequential", width: 1)

  /// Up to `width` task runs at once (default: one per processor core).
  public static func concurrent(width: Int = ProcessInfo.processInfo.activeProcessorCount)
    -> FlowExecutor
  {
    FlowExecutor(name: "concurrent(width: \(width))", width: width)
  }

  /// The name.
  public var description: String { name }
}

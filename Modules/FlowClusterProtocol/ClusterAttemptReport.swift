import Foundation

/// What a worker reports about each attempt it ran: which of its threads ran it, when, and
/// how busy the worker was. It travels as one log record with the attempt's result (no new
/// message kind), the scheduler adds the worker's name (``ClusterLogKeys/worker``) like it does
/// to every record, and so it lands in the run's log, where the cluster dashboard reads it
/// back: one lane per worker thread, and the workers' load and last report.
public struct ClusterAttemptReport: Sendable, Equatable {
  /// The worker's name (added by the scheduler).
  public var worker: String
  /// The worker thread (slot) that ran the attempt, from 0.
  public var thread: Int
  /// How many attempts the worker runs at once.
  public var threads: Int
  /// How many attempts it was running when this one started (this one included).
  public var running: Int
  /// When the body started, on the worker's clock.
  public var started: Date
  /// When it ended, on the worker's clock.
  public var ended: Date
  /// The worker host's one-minute load average, when its system tells.
  public var load: Double?
  /// Whether the body returned (false: it threw or could not run).
  public var succeeded: Bool

  /// The metadata keys of the record (beside ``ClusterLogKeys/worker``).
  public enum Keys {
    /// Marks the record as an attempt report.
    public static let report = "cluster.attempt_report"
    /// The thread (slot) index.
    public static let thread = "cluster.thread"
    /// The worker's number of threads.
    public static let threads = "cluster.threads"
    /// Attempts running at the start.
    public static let running = "cluster.running"
    /// The start, seconds since 1970.
    public static let started = "cluster.started"
    /// The end, seconds since 1970.
    public static let ended = "cluster.ended"
    /// The host's load average.
    public static let load = "cluster.load"
    /// `success` or `failure`.
    public static let outcome = "cluster.outcome"
  }

  /// Creates a report.
  public init(
    worker: String, thread: Int, threads: Int, running: Int, started: Date, ended: Date,
    load: Double?, succeeded: Bool
  ) {
    self.worker = worker
    self.thread = thread
    self.threads = threads
    self.running = running
    self.started = started
    self.ended = ended
    self.load = load
    self.succeeded = succeeded
  }

  /// The report of a record's metadata, or nil when the record is not a report.
  public init?(metadata: [String: String]) {
    guard metadata[Keys.report] == "1", let thread = metadata[Keys.thread].flatMap({ Int($0) }),
      let threads = metadata[Keys.threads].flatMap({ Int($0) }),
      let started = metadata[Keys.started].flatMap({ Double($0) }),
      let ended = metadata[Keys.ended].flatMap({ Double($0) })
    else { return nil }
    self.init(
      worker: metadata[ClusterLogKeys.worker] ?? "unknown", thread: thread, threads: threads,
      running: metadata[Keys.running].flatMap { Int($0) } ?? 0,
      started: Date(timeIntervalSince1970: started), ended: Date(timeIntervalSince1970: ended),
      load: metadata[Keys.load].flatMap { Double($0) },
      succeeded: metadata[Keys.outcome] == "success")
  }

  /// The record a worker adds to the result of `assignment` that ran on `slot`.
  public static func record(
    _ result: ClusterTaskResult, slot: Int, threads: Int, running: Int, started: Date,
    ended: Date, load: Double?
  ) -> ClusterLogRecord {
    var succeeded = false
    if case .success = result.outcome { succeeded = true }
    var metadata: [String: String] = [
      Keys.report: "1", Keys.thread: String(slot), Keys.threads: String(threads),
      Keys.running: String(running), Keys.started: String(started.timeIntervalSince1970),
      Keys.ended: String(ended.timeIntervalSince1970),
      Keys.outcome: succeeded ? "success" : "failure", ClusterLogKeys.source: "cluster",
    ]
    if let load { metadata[Keys.load] = String((load * 100).rounded() / 100) }
    let seconds = String((ended.timeIntervalSince(started) * 1000).rounded() / 1000)
    return ClusterLogRecord(
      time: ended.timeIntervalSince1970, level: "info",
      message: "ran on worker thread \(slot + 1) of \(threads) in \(seconds) s", metadata: metadata)
  }
}

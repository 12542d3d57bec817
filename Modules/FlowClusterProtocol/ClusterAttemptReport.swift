import Foundation

/// What a worker reports about each attempt it ran: which of its threads ran it, when, and
/// how busy the worker was. It travels in binary with the attempt's result
/// (``ClusterTaskResult/report``, protocol version 6), the scheduler adds the worker's name, and
/// it lands in the run's log as one record (``message``, ``metadata``, rendered only when the
/// log is read), where the cluster dashboard reads it back: one lane per worker thread, and the
/// workers' load and last report.
public struct ClusterAttemptReport: Sendable, Equatable {
  /// The worker's name (added by the scheduler; not on the wire).
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
  /// Whether the body returned (false: it threw or could not run); on the wire, the result's
  /// outcome tells.
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

  /// The log record of the report of `result`'s attempt, which ran on `slot` (as the run's log
  /// renders it, without the worker's name, which the scheduler adds).
  public static func record(
    _ result: ClusterTaskResult, slot: Int, threads: Int, running: Int, started: Date,
    ended: Date, load: Double?
  ) -> ClusterLogRecord {
    var succeeded = false
    if case .success = result.outcome { succeeded = true }
    let report = ClusterAttemptReport(
      worker: "", thread: slot, threads: threads, running: running, started: started,
      ended: ended, load: load, succeeded: succeeded)
    var metadata = report.metadata
    metadata[ClusterLogKeys.worker] = nil
    return ClusterLogRecord(
      time: ended.timeIntervalSince1970, level: "info", message: report.message,
      metadata: metadata)
  }

  /// The message of the report's log record.
  public var message: String {
    let seconds = String((ended.timeIntervalSince(started) * 1000).rounded() / 1000)
    return "ran on worker thread \(thread + 1) of \(threads) in \(seconds) s"
  }

  /// The metadata of the report's log record (``init(metadata:)`` reads it back).
  public var metadata: [String: String] {
    var metadata: [String: String] = [
      Keys.report: "1", Keys.thread: String(thread), Keys.threads: String(threads),
      Keys.running: String(running), Keys.started: String(started.timeIntervalSince1970),
      Keys.ended: String(ended.timeIntervalSince1970),
      Keys.outcome: succeeded ? "success" : "failure", ClusterLogKeys.source: "cluster",
      ClusterLogKeys.worker: worker,
    ]
    if let load { metadata[Keys.load] = String((load * 100).rounded() / 100) }
    return metadata
  }
}

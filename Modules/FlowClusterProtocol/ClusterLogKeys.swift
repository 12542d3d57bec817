/// The metadata keys the cluster's shells log under, namespaced (`cluster.…`), in one place so
/// that log queries and dashboards can rely on them. Values are never task payloads: names,
/// counts, addresses and reasons only.
public enum ClusterLogKeys {
  /// The address the scheduler listens on.
  public static let address = "cluster.address"
  /// A connection's number on the scheduler.
  public static let connection = "cluster.connection"
  /// A connection's peer address.
  public static let peer = "cluster.peer"
  /// A worker's name.
  public static let worker = "cluster.worker"
  /// A worker's capacity (attempts at once).
  public static let capacity = "cluster.capacity"
  /// Why something closed, crashed or left.
  public static let reason = "cluster.reason"
  /// The code of a ``ClusterCloseReason``.
  public static let closeCode = "cluster.close_code"
  /// Whether a crashed attempt runs again.
  public static let rescheduled = "cluster.rescheduled"
  /// The scheduler a worker connects to.
  public static let scheduler = "cluster.scheduler"
  /// A task attempt's number, on the records a body logs on a worker.
  public static let taskAttempt = "cluster.task_attempt"
  /// Where a record came from (`stdout` for a captured line).
  public static let source = "log.source"
}

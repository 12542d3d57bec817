/// What the schedule runner does when a fire time comes while a run is still going
/// (Temporal's schedule overlap policies).
public struct OverlapPolicy: Sendable, Hashable, CustomStringConvertible {
  /// A short stable name for the policy.
  public let name: String

  private init(name: String) { self.name = name }

  /// Drop the fire time (the default).
  public static let skip = OverlapPolicy(name: "skip")
  /// Keep one fire time and start it when the running one ends; drop any more.
  public static let bufferOne = OverlapPolicy(name: "bufferOne")
  /// Keep every fire time and start them one after another.
  public static let bufferAll = OverlapPolicy(name: "bufferAll")
  /// Start a run at every fire time, however many are running.
  public static let allowAll = OverlapPolicy(name: "allowAll")
  /// Cancel the running run and start the new one once it has ended.
  public static let cancelOther = OverlapPolicy(name: "cancelOther")

  /// The name.
  public var description: String { name }
}

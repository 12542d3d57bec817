/// What a record of a run's log says, rendered only when the record is read or sent on
/// (``RunLog/Event/rendered(_:)``): for records written for every task that are seldom read.
public protocol RunLogRendering: Sendable {
  /// The record's message.
  var message: String { get }
  /// The record's own metadata (the run's and the task's keys are added to it).
  var metadata: [String: String] { get }
}

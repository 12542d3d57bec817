import Foundation

/// A task output persisted in the run database for durable execution: the value one flow run
/// stored at one result location.
public struct RunResultRecord: Sendable, Equatable {
  /// The flow run that stored it.
  public var flowRunID: UUID
  /// The result location (a relative path, as a ``ResultStore`` takes it).
  public var location: String
  /// The value and how to read it back.
  public var result: StoredResult

  /// A run's value at a location.
  public init(flowRunID: UUID, location: String, result: StoredResult) {
    self.flowRunID = flowRunID
    self.location = location
    self.result = result
  }
}

/// Task outputs kept in the run database, by flow run and result location: what lets an agent
/// on another machine resume a run taken over after its agent died without running its
/// persisted tasks again. A value is stored in rows of at most ``runResultChunkSize`` bytes,
/// so its size is bounded by memory, not by a database's limit on one value.
public protocol RunResultStorage: Sendable {
  /// Stores each result, replacing the value its run had at its location, in one transaction.
  func writeResults(_ results: [RunResultRecord]) async throws(RunStoreError)
  /// Every value the flow run stored, by location (a value whose rows are incomplete is left
  /// out: the task runs again).
  func results(flowRunID: UUID) async throws(RunStoreError) -> [RunResultRecord]
}

/// The most bytes of a value one row of the run database's results holds (1 MiB): larger
/// values are split over several rows of one transaction.
public let runResultChunkSize = 1 << 20

import Foundation

/// A run store could not do what was asked: the problem and how to fix it.
public struct RunStoreError: Error, Sendable, CustomStringConvertible {
  /// What kind of failure it was; a struct with static members so that it can grow.
  public struct Code: Hashable, Sendable, CustomStringConvertible {
    /// The code's name.
    public let name: String

    /// A code named `name`.
    public init(name: String) { self.name = name }

    /// The name.
    public var description: String { name }

    /// The database location is not a valid `sqlite:PATH` or `postgres://` URL.
    public static let invalidLocation = Code(name: "invalidLocation")
    /// The server cannot be reached.
    public static let unreachable = Code(name: "unreachable")
    /// The server refused the credentials.
    public static let authentication = Code(name: "authentication")
    /// The file exists but is not a database.
    public static let notADatabase = Code(name: "notADatabase")
    /// The database was written by a newer version of swift-flow.
    public static let newerSchema = Code(name: "newerSchema")
    /// The database has not been migrated to the version this binary needs.
    public static let needsMigration = Code(name: "needsMigration")
    /// No flow run has the given ID.
    public static let unknownRun = Code(name: "unknownRun")
    /// A record with the same key already exists (an event sequence number taken).
    public static let conflict = Code(name: "conflict")
    /// The database failed a statement.
    public static let database = Code(name: "database")
    /// The store is temporarily unavailable (a simulated fault, a lost connection).
    public static let unavailable = Code(name: "unavailable")
  }

  /// What kind of failure it was.
  public let code: Code
  /// Where: the store's description (`sqlite:/path`, `postgres://host/db`).
  public let location: String
  /// What went wrong and what to do about it.
  public let message: String
  /// The underlying error, if any.
  public let cause: (any Error & Sendable)?

  /// Creates an error.
  public init(
    _ code: Code, location: String, message: String, cause: (any Error & Sendable)? = nil
  ) {
    self.code = code
    self.location = location
    self.message = message
    self.cause = cause
  }

  /// The message with the store's location.
  public var description: String { "run store \(location): \(message)" }
}

extension RunStoreError {
  /// The database at `location` has schema version `found`, newer than this binary's.
  public static func newerSchema(location: String, found: Int) -> RunStoreError {
    RunStoreError(
      .newerSchema, location: location,
      message:
        "the database has schema version \(found), newer than version "
        + "\(RunStoreSchema.current) that this binary understands; upgrade swift-flow (this "
        + "binary must not write to it), or point --database / FLOW_DATABASE at another database")
  }

  /// The database at `location` has schema version `found`, older than this binary's.
  public static func needsMigration(location: String, found: Int) -> RunStoreError {
    RunStoreError(
      .needsMigration, location: location,
      message:
        "the database has schema version \(found) but this binary needs version "
        + "\(RunStoreSchema.current); run `flow db migrate`")
  }

  /// Event `sequence` of run `flowRunID` is already recorded.
  public static func sequenceTaken(location: String, flowRunID: UUID, sequence: Int64)
    -> RunStoreError
  {
    RunStoreError(
      .conflict, location: location,
      message:
        "event \(sequence) of run \(flowRunID.uuidString.lowercased()) is already recorded "
        + "(another process is writing this run's history?); reload the history and append "
        + "after its last event")
  }

  /// No flow run has the ID `id`.
  public static func unknownRun(location: String, id: String) -> RunStoreError {
    RunStoreError(
      .unknownRun, location: location,
      message:
        "no flow run has the ID \(id); list the recorded runs with `flow runs list` (and check "
        + "--database / FLOW_DATABASE)")
  }
}

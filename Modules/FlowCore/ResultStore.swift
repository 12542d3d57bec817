import Foundation

/// The result-store port: where task outputs are persisted (Prefect's `Result`).
///
/// FlowResults provides an in-memory store and a local directory store.
public protocol ResultStore: Sendable {
  /// Reads the value stored at `location`; nil when nothing is stored there. Throws a
  /// ``ResultStoreError`` when something is stored but cannot be read (corrupt, truncated).
  func read(at location: String) throws(ResultStoreError) -> StoredResult?
  /// Stores `result` at `location`, replacing what was there, atomically.
  func write(_ result: StoredResult, at location: String) throws(ResultStoreError)
  /// Where the store keeps its values, for messages ("directory /data/processed").
  var description: String { get }
}

/// A persisted value: the serialized bytes and what is needed to read them back.
public struct StoredResult: Sendable, Equatable {
  /// The serializer that produced `payload` (`json`, `string`, `data`, `void`).
  public var serializer: String
  /// The Swift type the value had (`Int`, `[TrialSummary]`…).
  public var typeName: String
  /// The serialized value.
  public var payload: Data
  /// Extra facts stored with the value (cache expiry, input hashes…).
  public var metadata: [String: String]

  /// Creates a stored result.
  public init(
    serializer: String, typeName: String, payload: Data, metadata: [String: String] = [:]
  ) {
    self.serializer = serializer
    self.typeName = typeName
    self.payload = payload
    self.metadata = metadata
  }
}

/// A result store could not read or write a value.
public struct ResultStoreError: Error, Sendable, CustomStringConvertible {
  /// What kind of failure it was.
  public let code: Code
  /// The location (or file path) concerned.
  public let location: String
  /// What went wrong and what to do about it.
  public let message: String

  /// Creates the error.
  public init(code: Code, location: String, message: String) {
    self.code = code
    self.location = location
    self.message = message
  }

  /// The message, with the location.
  public var description: String { "\(location): \(message)" }

  /// The kinds of result-store failure.
  public struct Code: Hashable, Sendable, CustomStringConvertible {
    /// A short stable name.
    public let name: String
    /// Creates a code.
    public init(name: String) { self.name = name }

    /// The stored data is damaged: bad header, truncated, checksum mismatch.
    public static let corrupt = Code(name: "corrupt")
    /// The stored value has another type or serializer than the reader expects.
    public static let wrongType = Code(name: "wrongType")
    /// Nothing is stored at the location.
    public static let notFound = Code(name: "notFound")
    /// The operating system refused (permission denied, disk full…).
    public static let io = Code(name: "io")
    /// The location is not acceptable (absolute, or with `..`).
    public static let badLocation = Code(name: "badLocation")
    /// The value could not be encoded or decoded.
    public static let serialization = Code(name: "serialization")

    /// The name.
    public var description: String { name }
  }
}

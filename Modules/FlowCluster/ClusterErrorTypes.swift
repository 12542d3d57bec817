import FlowClusterProtocol
import FlowCore
import Foundation
import Synchronization

/// Error types that cross from workers to the scheduler as themselves, registered by name at
/// start-up in every process of the cluster (the same binary), as tasks are: a body's error of
/// a registered `Codable` type is rethrown on the scheduler as that type; any other arrives as
/// a ``ClusterTaskBodyError`` that keeps the type's name, so `retryIf: .errors(MyError.self)`
/// matches either way. Nothing but JSON of a registered type is ever decoded.
///
/// ```swift
/// struct QuotaExceeded: Error, Codable { var limit: Int }
/// ClusterErrorTypes.register(QuotaExceeded.self)  // in main, before running or serving
/// ```
public enum ClusterErrorTypes {
  private struct Entry: Sendable {
    let encode: @Sendable (any Error) -> [UInt8]?
    let decode: @Sendable ([UInt8]) -> (any Error)?
  }

  private static let entries = Mutex<[String: Entry]>([:])

  /// Registers `type` so that its values cross the cluster as themselves.
  public static func register<E: Error & Codable>(_ type: E.Type) {
    let entry = Entry(
      encode: { error in
        guard let typed = error as? E, let data = try? JSONEncoder().encode(typed) else {
          return nil
        }
        return Array(data)
      },
      decode: { bytes in try? JSONDecoder().decode(E.self, from: Data(bytes)) })
    entries.withLock { $0[String(reflecting: type)] = entry }
  }

  /// The names of the registered types.
  public static var registeredNames: [String] { entries.withLock { $0.keys.sorted() } }

  /// The type name of `error`, with its JSON when its type is registered.
  public static func info(for error: any Error) -> ClusterErrorInfo {
    let name = String(reflecting: type(of: error))
    let entry = entries.withLock { $0[name] }
    return ClusterErrorInfo(typeName: name, payload: entry?.encode(error))
  }

  /// The original error, when its type is registered here and its JSON decodes.
  public static func decode(_ info: ClusterErrorInfo) -> (any Error)? {
    guard let payload = info.payload, let entry = entries.withLock({ $0[info.typeName] }) else {
      return nil
    }
    return entry.decode(payload)
  }
}

/// The error a task body threw on a worker, when its type is not registered with
/// ``ClusterErrorTypes``: its description and its type's name, which
/// `RetryPolicy.RetryCondition.errors(_:)` matches as if it were the original.
public struct ClusterTaskBodyError: Error, Sendable, CustomStringConvertible, ErrorTypeNaming {
  /// The original error type's full name.
  public let originalTypeName: String
  /// The original error's description.
  public let message: String
  /// The worker it was thrown on.
  public let worker: String?

  /// Creates the error.
  public init(originalTypeName: String, message: String, worker: String? = nil) {
    self.originalTypeName = originalTypeName
    self.message = message
    self.worker = worker
  }

  /// The message, with the worker's name.
  public var description: String {
    guard let worker, !worker.isEmpty else { return message }
    return "\(message) (on worker '\(worker)')"
  }
}

import Foundation

/// Thrown by a task body to end its run Skipped rather than Failed (Prefect's `SKIP` signal).
public struct SkipTask: Error, Sendable, CustomStringConvertible {
  /// Why the task skipped itself.
  public let reason: String

  /// Creates the signal.
  public init(_ reason: String = "Task was skipped by its body.") { self.reason = reason }

  /// The reason.
  public var description: String { reason }
}

/// The error attached to a TimedOut state: the attempt ran longer than its timeout.
public struct TaskTimeoutError: Error, Sendable, CustomStringConvertible {
  /// The task's slug.
  public let task: String
  /// The timeout that was exceeded.
  public let timeout: Duration

  /// Creates the error.
  public init(task: String, timeout: Duration) {
    self.task = task
    self.timeout = timeout
  }

  /// Names the task and the limit.
  public var description: String {
    "task '\(task)' exceeded its timeout of \(timeout) and was cancelled; raise `timeout:` if "
      + "the work needs longer, or make the body check for cancellation sooner"
  }
}

/// Thrown by a task body to run the task again with `payload` (Prefect's `LOOP` signal): the
/// next iteration reads it with ``TaskRunContext/loopPayload(_:)`` and its number with
/// ``TaskRunContext/loopCount``. The output of the iteration that returns flows downstream.
///
/// ```swift
/// let fibonacci = task("fibonacci") { (limit: Int) throws -> Int in
///   let pair = TaskRunContext.current?.loopPayload([Int].self) ?? [0, 1]
///   if pair[1] > limit { return pair[0] }
///   throw LoopAgain([pair[1], pair[0] + pair[1]])
/// }
/// ```
public struct LoopAgain<Payload: Sendable>: Error, Sendable, CustomStringConvertible {
  /// What the next iteration receives.
  public let payload: Payload

  /// Asks for another iteration that receives `payload`.
  public init(_ payload: Payload) { self.payload = payload }

  /// Names the payload's type.
  public var description: String { "loop again with a \(Payload.self)" }
}

/// A ``LoopAgain`` whatever its payload's type (how the engine recognises one).
package protocol LoopRequest: Error {
  /// The payload, type-erased.
  var loopPayload: any Sendable { get }
}

extension LoopAgain: LoopRequest {
  package var loopPayload: any Sendable { payload }
}

/// A ``LoopAgain`` payload that crossed a process boundary (a cluster worker's iteration): its
/// JSON, decoded as whatever type the next iteration asks for in
/// ``TaskRunContext/loopPayload(_:)``.
package struct LoopPayloadJSON: Sendable, CustomStringConvertible {
  /// The payload's JSON (UTF-8).
  package let bytes: [UInt8]

  /// Wraps JSON bytes.
  package init(_ bytes: [UInt8]) { self.bytes = bytes }

  /// Encodes a payload; nil when its type is not `Encodable` (or it does not encode).
  package init?(encoding payload: any Sendable) {
    guard let value = payload as? any Encodable,
      let data = try? JSONEncoder().encode(value)
    else { return nil }
    self.bytes = [UInt8](data)
  }

  /// The payload as `type`; nil when it does not decode as one.
  package func decode<Payload>(_ type: Payload.Type) -> Payload? {
    guard let decodable = type as? any Decodable.Type else { return nil }
    return (try? JSONDecoder().decode(decodable, from: Data(bytes))) as? Payload
  }

  /// Names what it is, not its content.
  package var description: String { "a loop payload (\(bytes.count) bytes of JSON)" }
}

/// A ``LoopAgain`` that a cluster worker reported: the engine loops exactly as for a local one.
package struct RemoteLoopRequest: LoopRequest, Sendable {
  /// The payload, as JSON.
  package let payload: LoopPayloadJSON

  /// Wraps the payload.
  package init(_ payload: LoopPayloadJSON) { self.payload = payload }

  package var loopPayload: any Sendable { payload }
}

/// The error of a task run that asked for more loop iterations than its limit.
public struct LoopLimitError: Error, Sendable, CustomStringConvertible {
  /// The task's slug.
  public let task: String
  /// The limit (`TaskOptions.maxLoopIterations`).
  public let limit: Int

  /// Creates the error.
  public init(task: String, limit: Int) {
    self.task = task
    self.limit = limit
  }

  /// Names the task and the limit, and how to raise it.
  public var description: String {
    "task '\(task)' asked for loop iteration \(limit + 1), over its limit of \(limit) "
      + "iterations; end the loop sooner (return a value instead of throwing LoopAgain), or "
      + "raise the limit with `.looping(max:)`"
  }
}

import FlowCore
import Foundation
import Hummingbird

/// A request the API refuses: an HTTP status and a JSON body
/// `{"error": {"code": …, "message": …, "fields": {…}}}` naming the problem.
struct APIError: Error, Sendable {
  /// The response status (always 4xx for a bad request, 503 for an unavailable store).
  var status: HTTPResponse.Status
  /// A short machine-readable code (`badRequest`, `notFound`, `validation`…).
  var code: String
  /// What is wrong and what to do.
  var message: String
  /// One message per invalid field, for a 422.
  var fields: [String: String] = [:]

  static func badRequest(_ message: String) -> APIError {
    APIError(status: .badRequest, code: "badRequest", message: message)
  }

  static func notFound(_ message: String) -> APIError {
    APIError(status: .notFound, code: "notFound", message: message)
  }

  /// The JSON body.
  var body: String {
    struct Body: Encodable {
      struct Detail: Encodable {
        var status: Int
        var code: String
        var message: String
        var fields: [String: String]?
      }
      var error: Detail
    }
    return ServerJSON.encode(
      Body(
        error: .init(
          status: status.code, code: code, message: message,
          fields: fields.isEmpty ? nil : fields)))
  }

  /// `error` as the API reports it: store errors by kind, HTTP errors with their status.
  static func from(_ error: any Error) -> APIError {
    switch error {
    case let error as APIError: return error
    case let error as RunStoreError:
      if error.code == .unknownRun {
        return APIError(status: .notFound, code: "notFound", message: error.message)
      }
      if error.code == .noSchedule {
        return APIError(status: .conflict, code: "noSchedule", message: error.message)
      }
      return APIError(
        status: .serviceUnavailable, code: "storeUnavailable",
        message: "the run store failed: \(error.message)")
    case let error as HTTPError:
      let status = error.status
      let message =
        status == .contentTooLarge
        ? "the request body is larger than the server accepts; send a smaller body"
        : (error.body ?? status.reasonPhrase)
      return APIError(status: status, code: "http\(status.code)", message: message)
    default:
      return APIError(
        status: .internalServerError, code: "internal",
        message: "the server failed: \(String(describing: error))")
    }
  }
}

/// JSON as the API writes it: sorted keys, instants as ISO 8601 with milliseconds.
enum ServerJSON {
  static func encode<T: Encodable>(_ value: T) -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    encoder.dateEncodingStrategy = .custom { date, encoder in
      var container = encoder.singleValueContainer()
      try container.encode(RunStoreReading.iso8601(date))
    }
    do {
      return String(decoding: try encoder.encode(value), as: UTF8.self)
    } catch {
      return "null"
    }
  }

  /// A response with `body` as JSON.
  static func response(_ body: String, status: HTTPResponse.Status = .ok) -> Response {
    Response(
      status: status,
      headers: [.contentType: "application/json; charset=utf-8", .cacheControl: "no-store"],
      body: ResponseBody(byteBuffer: ByteBuffer(string: body)))
  }

  /// A response with `value` encoded as JSON.
  static func response<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok) -> Response {
    response(encode(value), status: status)
  }
}

/// A JSON value of unknown shape (a parameter's value, a schema).
enum JSONValue: Sendable, Equatable, Codable {
  case null
  case bool(Bool)
  case number(Double)
  case string(String)
  case array([JSONValue])
  case object([String: JSONValue])

  init(from decoder: any Decoder) throws {
    let container = try decoder.singleValueContainer()
    if container.decodeNil() {
      self = .null
    } else if let value = try? container.decode(Bool.self) {
      self = .bool(value)
    } else if let value = try? container.decode(Double.self) {
      self = .number(value)
    } else if let value = try? container.decode(String.self) {
      self = .string(value)
    } else if let value = try? container.decode([JSONValue].self) {
      self = .array(value)
    } else {
      self = .object(try container.decode([String: JSONValue].self))
    }
  }

  func encode(to encoder: any Encoder) throws {
    var container = encoder.singleValueContainer()
    switch self {
    case .null: try container.encodeNil()
    case .bool(let value): try container.encode(value)
    case .number(let value):
      if value.rounded() == value, abs(value) < 1e15 {
        try container.encode(Int64(value))
      } else {
        try container.encode(value)
      }
    case .string(let value): try container.encode(value)
    case .array(let value): try container.encode(value)
    case .object(let value): try container.encode(value)
    }
  }

  /// The value JSON `text` holds; a string holding `text` when it is not JSON.
  static func parse(_ text: String) -> JSONValue {
    (try? JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))) ?? .string(text)
  }

  /// The value as compact JSON text.
  var jsonText: String { ServerJSON.encode(self) }
}

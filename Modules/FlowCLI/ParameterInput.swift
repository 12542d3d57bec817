import FlowCore
import Foundation

/// A command-line parameter value that cannot be used, with a message naming what is wrong.
package struct ParameterInputError: Error, Sendable, CustomStringConvertible {
  /// What is wrong and how to fix it.
  package let message: String

  /// The message.
  package var description: String { message }
}

/// Turns `--param NAME=VALUE` and `--param-file FILE.json` into typed parameter values.
package enum ParameterInput {
  /// The values for `flow`: the file's first, then each assignment (a later one wins); each
  /// value parsed as its parameter's declared type.
  package static func resolve(
    for flow: Flow, assignments: [String], file: String?
  ) throws(ParameterInputError) -> [String: any Sendable] {
    var texts: [(name: String, text: String, source: String)] = []
    if let file { texts += try read(file: file) }
    for assignment in assignments {
      guard let equals = assignment.firstIndex(of: "=") else {
        throw ParameterInputError(
          message:
            "--param '\(assignment)' has no '='; write --param NAME=VALUE, e.g. "
            + "--param \(flow.parameters.first?.name ?? "name")=\(flow.parameters.first?.defaultJSON ?? "value")"
        )
      }
      let name = String(assignment[..<equals])
      texts.append((name, String(assignment[assignment.index(after: equals)...]), "--param"))
    }
    let specs = Dictionary(flow.parameters.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
    var values: [String: any Sendable] = [:]
    for (name, text, source) in texts {
      guard let spec = specs[name] else {
        throw ParameterInputError(
          message: "\(source): flow '\(flow.name)' has no parameter '\(name)'; \(known(flow))")
      }
      do {
        values[name] = try spec.parse(text)
      } catch {
        throw ParameterInputError(message: "\(source): \(error)")
      }
    }
    return values
  }

  /// The valid parameters of `flow`, with their types, for messages.
  package static func known(_ flow: Flow) -> String {
    let parameters = flow.parameters
    if parameters.isEmpty { return "it has no parameters" }
    return "its parameters are "
      + parameters.map { "'\($0.name)' (\($0.typeName))" }.joined(separator: ", ")
  }

  /// The largest parameter file read.
  static let maxFileSize = 16 << 20

  private static func read(file: String) throws(ParameterInputError) -> [(
    name: String, text: String, source: String
  )] {
    let data: Data
    let attributes = try? FileManager.default.attributesOfItem(atPath: file)
    if let type = attributes?[.type] as? FileAttributeType, type != .typeRegular,
      type != .typeSymbolicLink
    {
      let kind =
        switch type {
        case .typeDirectory: "a directory"
        case .typeCharacterSpecial, .typeBlockSpecial: "a device"
        case .typeSocket: "a socket"
        default: "not a regular file (a FIFO?)"
        }
      throw ParameterInputError(
        message: "--param-file: '\(file)' is \(kind); give a regular JSON file")
    }
    if let size = attributes?[.size] as? Int, size > maxFileSize {
      throw ParameterInputError(
        message:
          "--param-file: '\(file)' is \(size) bytes, over the \(maxFileSize) bytes a parameter "
          + "file may have; pass big inputs as a path parameter that a task reads")
    }
    do {
      data = try Data(contentsOf: URL(fileURLWithPath: file))
    } catch {
      throw ParameterInputError(
        message: "--param-file: cannot read '\(file)': \(reason(error)); give a readable JSON file")
    }
    let object: Any
    do {
      object = try JSONSerialization.jsonObject(with: data, options: [.fragmentsAllowed])
    } catch {
      throw ParameterInputError(
        message:
          "--param-file: '\(file)' is not valid JSON\(position(of: error, in: data)) "
          + "(\(reason(error))); write an object such as {\"batch-size\": 500}")
    }
    guard let dictionary = object as? [String: Any] else {
      throw ParameterInputError(
        message:
          "--param-file: '\(file)' must hold a JSON object of parameter values, such as "
          + "{\"batch-size\": 500}")
    }
    var texts: [(String, String, String)] = []
    for name in dictionary.keys.sorted() {
      let value = dictionary[name]!
      let json =
        (try? JSONSerialization.data(
          withJSONObject: value, options: [.fragmentsAllowed, .sortedKeys]))
        ?? Data("null".utf8)
      texts.append((name, String(decoding: json, as: UTF8.self), "--param-file '\(file)'"))
    }
    return texts
  }

  /// ` at line L, column C` for a JSON error that names the character where it happened.
  static func position(of error: any Error, in data: Data) -> String {
    let debug = (error as NSError).userInfo[NSDebugDescriptionErrorKey] as? String ?? ""
    guard let match = debug.firstMatch(of: #/character (\d+)/#), let offset = Int(match.1),
      offset <= data.count
    else { return "" }
    var line = 1
    var column = 1
    for byte in data.prefix(offset) {
      if byte == UInt8(ascii: "\n") {
        line += 1
        column = 1
      } else if byte & 0xC0 != 0x80 {  // count characters, not UTF-8 continuation bytes
        column += 1
      }
    }
    return " at line \(line), column \(column)"
  }

  /// An example `--param` for each of `flow`'s parameters, from its default or its type.
  package static func example(_ flow: Flow) -> String {
    flow.parameters.map { spec in
      guard let json = spec.defaultJSON else { return "--param \(spec.name)=<\(spec.typeName)>" }
      return "--param \(spec.name)=\(shellQuoted(plainText(json, spec) ?? json))"
    }.joined(separator: " ")
  }

  /// A string default as the plain text `--param` reads back to it (`world`, not `"world"`),
  /// or nil when only the JSON form does.
  private static func plainText(_ json: String, _ spec: ParameterSpec) -> String? {
    guard
      let text =
        (try? JSONSerialization.jsonObject(
          with: Data(json.utf8), options: [.fragmentsAllowed])) as? String,
      let value = try? spec.parse(text), spec.json(value) == json
    else { return nil }
    return text
  }

  /// `text` as one shell word: as it is when it has no special characters, else in single quotes.
  private static func shellQuoted(_ text: String) -> String {
    let plain = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-/:,@+=%")
    if !text.isEmpty, text.allSatisfy(plain.contains) { return text }
    return "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'"
  }

  private static func reason(_ error: any Error) -> String {
    let nsError = error as NSError
    if let underlying = nsError.userInfo[NSUnderlyingErrorKey] as? NSError,
      let text = String(validatingCString: strerror(Int32(underlying.code)))
    {
      return text.lowercased()
    }
    if nsError.domain == NSCocoaErrorDomain, nsError.code == NSFileReadNoSuchFileError {
      return "no such file"
    }
    return nsError.localizedDescription
  }
}

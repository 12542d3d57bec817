import Foundation

/// A flow's graph as a run store keeps it: tasks with their upstream, parameters with their
/// types and defaults. Enough to draw a run's schematic without the flow's code.
public struct FlowGraphDocument: Sendable, Equatable, Codable {
  /// One task.
  public struct TaskNode: Sendable, Equatable, Codable {
    /// The task's name.
    public var name: String
    /// Its slug.
    public var slug: String
    /// Whether it is mapped.
    public var mapped: Bool
    /// The slugs of the nodes it waits for (tasks, parameters, constants).
    public var upstream: [String]
  }

  /// One parameter.
  public struct ParameterNode: Sendable, Equatable, Codable {
    /// Its name.
    public var name: String
    /// Its Swift type's name.
    public var type: String
    /// Its default as JSON text; nil when it is required.
    public var defaultJSON: String?
  }

  /// The flow's name.
  public var name: String
  /// The tasks in the order they were added.
  public var tasks: [TaskNode]
  /// The parameters in the order they were declared.
  public var parameters: [ParameterNode]
  /// The reference tasks' slugs.
  public var referenceTasks: [String]

  /// The document's canonical JSON (sorted keys): the same graph gives the same bytes.
  public var json: String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    // Encoding plain strings, booleans and arrays cannot fail.
    return (try? encoder.encode(self)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
  }

  /// Decodes a document stored as JSON; nil when `json` is not one.
  public init?(json: String) {
    guard let value = try? JSONDecoder().decode(Self.self, from: Data(json.utf8)) else {
      return nil
    }
    self = value
  }

  /// The document of `flow`.
  public init(_ flow: Flow) {
    name = flow.name
    tasks = flow.tasks.map {
      TaskNode(name: $0.name, slug: $0.slug, mapped: $0.isMapped, upstream: $0.upstream)
    }
    parameters = flow.parameters.map {
      ParameterNode(name: $0.name, type: $0.typeName, defaultJSON: $0.defaultJSON)
    }
    referenceTasks = flow.referenceTasks
  }

  /// The graph as Graphviz DOT, each task filled by the colour of its state in `states`
  /// (state names by slug).
  public func graphviz(states: [String: String] = [:]) -> String {
    var lines = ["digraph \"\(name)\" {"]
    for parameter in parameters {
      lines.append("  \"\(parameter.name)\" [shape=ellipse, label=\"\(parameter.name)\"];")
    }
    for node in tasks {
      var attributes = ["shape=box", "label=\"\(node.slug)\""]
      if let state = states[node.slug] {
        attributes.append("style=filled, fillcolor=\"\(Self.colour(state))\"")
      }
      lines.append("  \"\(node.slug)\" [\(attributes.joined(separator: ", "))];")
    }
    for node in tasks {
      for upstream in node.upstream { lines.append("  \"\(upstream)\" -> \"\(node.slug)\";") }
    }
    lines.append("}")
    return lines.joined(separator: "\n") + "\n"
  }

  /// The graph as Mermaid, each task styled by the colour of its state in `states`.
  public func mermaid(states: [String: String] = [:]) -> String {
    var ids: [String: String] = [:]
    var lines = ["flowchart TD"]
    for (index, parameter) in parameters.enumerated() {
      ids[parameter.name] = "p\(index)"
      lines.append("  p\(index)([\"\(parameter.name)\"])")
    }
    for (index, node) in tasks.enumerated() {
      ids[node.slug] = "t\(index)"
      lines.append("  t\(index)[\"\(node.slug)\"]")
    }
    for node in tasks {
      for upstream in node.upstream {
        if let from = ids[upstream], let to = ids[node.slug] { lines.append("  \(from) --> \(to)") }
      }
    }
    for (index, node) in tasks.enumerated() {
      if let state = states[node.slug] {
        lines.append("  style t\(index) fill:\(Self.colour(state))")
      }
    }
    return lines.joined(separator: "\n") + "\n"
  }

  /// Prefect's state colours by state name.
  static func colour(_ state: String) -> String {
    switch state {
    case "Success", "Cached", "Mapped": return "#28a745"
    case "Failed", "TimedOut", "TriggerFailed", "Crashed": return "#eb0000"
    case "Running": return "#00bfff"
    case "Retrying", "Scheduled", "Paused": return "#ffab00"
    case "Skipped", "Cancelled": return "#999999"
    default: return "#dddddd"
    }
  }
}

extension Flow {
  /// What a run store records about this flow: its graph, parameter schema and version.
  public var record: FlowRecord {
    // Built once per graph and name (a recorded run of 100,000 tasks spent a quarter of a
    // second on it per run; a scheduled flow or an agent records the same flow again and again).
    if let cached = graph.record.withLock({ $0 }), cached.name == name { return cached }
    let document = FlowGraphDocument(self)
    let graphJSON = document.json
    let record = FlowRecord(
      name: name, version: Self.versionHash(graphJSON), graphJSON: graphJSON,
      parameterSchemaJSON: parameterSchemaJSON)
    graph.record.withLock { $0 = record }
    return record
  }

  /// The parameters as a JSON schema: one property per parameter with its Swift type
  /// (`x-swift-type`), the JSON values it accepts (``ParameterValueSchema``) and default; the
  /// ones without a default are required.
  public var parameterSchemaJSON: String {
    var properties: [String] = []
    for spec in parameters {
      var fields = ["\"x-swift-type\":\(Self.quoted(spec.typeName))"]
      if let schema = spec.valueSchema {
        fields += schema.jsonFields
      } else if let json = Self.jsonSchemaType(spec.typeName) {
        fields.append("\"type\":\"\(json)\"")
      }
      if let value = spec.defaultJSON { fields.append("\"default\":\(value)") }
      properties.append("\(Self.quoted(spec.name)):{\(fields.sorted().joined(separator: ","))}")
    }
    let required = parameters.filter(\.isRequired).map { Self.quoted($0.name) }
    return "{\"properties\":{\(properties.joined(separator: ","))},"
      + "\"required\":[\(required.joined(separator: ","))],\"type\":\"object\"}"
  }

  private static func jsonSchemaType(_ swiftType: String) -> String? {
    switch swiftType {
    case "Int", "Int64", "Int32", "UInt", "UInt64", "UInt32": return "integer"
    case "Double", "Float": return "number"
    case "String": return "string"
    case "Bool": return "boolean"
    default:
      if swiftType.hasPrefix("[") { return swiftType.contains(":") ? "object" : "array" }
      return nil
    }
  }

  private static func quoted(_ text: String) -> String {
    let data = try? JSONEncoder().encode(text)
    return data.map { String(decoding: $0, as: UTF8.self) } ?? "\"\""
  }

  /// FNV-1a (64 bits) of the graph's canonical JSON, as 16 hex digits.
  static func versionHash(_ text: String) -> String {
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    for byte in text.utf8 {
      hash ^= UInt64(byte)
      hash = hash &* 0x0000_0100_0000_01b3
    }
    let hex = String(hash, radix: 16)
    return String(repeating: "0", count: 16 - hex.count) + hex
  }
}

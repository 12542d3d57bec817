import FlowCore
import Foundation

/// A problem in a target template, found before the run.
struct TemplateError: Error, Sendable {
  let message: String
  init(_ message: String) { self.message = message }
}

/// A target location template (Prefect's `target=`), parsed once:
/// `{flow_name}/{date:%Y-%m-%d}/{task_name}_{parameters[batch-size]}_{map_index}`.
///
/// Placeholders: `{flow_name}`, `{task_name}`, `{task_slug}`, `{map_index}` (empty for an
/// unmapped task), `{flow_run_id}`, `{task_run_id}`, `{scheduled_start_time}` (ISO-8601, UTC),
/// `{parameters[NAME]}`, `{date:FORMAT}` (strftime, UTC, on the scheduled start time), and the
/// task's own inputs by the names given with `.inputs(...)`. `{{` and `}}` are literal braces.
package struct TargetTemplate: Sendable {
  private enum Segment: Sendable {
    case text(String)
    case field(String)
    case parameter(String)
    case input(Int)
    case date(StrftimeFormat)
  }

  private static let fields: Set<String> = [
    "flow_name", "task_name", "task_slug", "map_index", "flow_run_id", "task_run_id",
    "scheduled_start_time",
  ]

  private let segments: [Segment]
  /// The template as written.
  package let source: String

  /// Parses `source`, checking every placeholder against the flow's parameters and the task's
  /// input names.
  init(_ source: String, parameters: Set<String>, inputNames: [String]) throws(TemplateError) {
    self.source = source
    var segments: [Segment] = []
    var text = ""
    var rest = Substring(source)
    while let character = rest.first {
      rest = rest.dropFirst()
      if character == "{" || character == "}", rest.first == character {
        rest = rest.dropFirst()
        text.append(character)
        continue
      }
      if character == "}" {
        throw TemplateError("target '\(source)' has a '}' without its '{'; write '}}' for a brace")
      }
      guard character == "{" else {
        text.append(character)
        continue
      }
      guard let close = rest.firstIndex(of: "}") else {
        throw TemplateError("target '\(source)' has a '{' without its '}'")
      }
      let name = String(rest[..<close])
      rest = rest[rest.index(after: close)...]
      if !text.isEmpty { segments.append(.text(text)) }
      text = ""
      segments.append(try Self.segment(name, source, parameters, inputNames))
    }
    if !text.isEmpty { segments.append(.text(text)) }
    self.segments = segments
  }

  private static func segment(
    _ name: String, _ source: String, _ parameters: Set<String>, _ inputNames: [String]
  ) throws(TemplateError) -> Segment {
    if fields.contains(name) { return .field(name) }
    if name.hasPrefix("date:") { return .date(try StrftimeFormat(String(name.dropFirst(5)))) }
    if name.hasPrefix("parameters[") && name.hasSuffix("]") {
      let parameter = String(name.dropFirst("parameters[".count).dropLast())
      guard parameters.contains(parameter) else {
        throw TemplateError(
          "target '\(source)' uses {\(name)}, but the flow has no parameter '\(parameter)'; "
            + "it has \(parameters.sorted().map { "'\($0)'" }.joined(separator: ", "))")
      }
      return .parameter(parameter)
    }
    if let index = inputNames.firstIndex(of: name) { return .input(index) }
    let known =
      fields.sorted().map { "{\($0)}" } + ["{parameters[NAME]}", "{date:FORMAT}"]
      + inputNames.map { "{\($0)}" }
    throw TemplateError(
      "target '\(source)' has the unknown placeholder {\(name)}; known placeholders: "
        + known.joined(separator: ", ")
        + (inputNames.isEmpty ? " (name the task's inputs with `.inputs(...)` to use them)" : ""))
  }

  /// The location for one task run.
  package func render(_ context: ResultContext) -> String {
    segments.map { segment in
      switch segment {
      case .text(let text): text
      case .field(let name): context.field(name)
      case .parameter(let name): context.parameters[name].map(Self.describe) ?? ""
      case .input(let index): Self.describe(context.inputs[index])
      case .date(let format): format.format(context.scheduledStart)
      }
    }.joined()
  }

  /// A value as text; an optional shows its wrapped value, or `nil`.
  private static func describe(_ value: any Sendable) -> String {
    let mirror = Mirror(reflecting: value)
    guard mirror.displayStyle == .optional else { return "\(value)" }
    return mirror.children.first.map { "\($0.value)" } ?? "nil"
  }
}

/// What a target, a checkpoint or a cache entry of one task run is computed from.
package struct ResultContext: Sendable {
  package var flowName: String
  package var flowRunID: UUID
  package var taskName: String
  package var taskSlug: String
  package var taskRunID: UUID
  package var mapIndex: Int?
  package var scheduledStart: Date
  package var now: Date
  package var parameters: [String: any Sendable]
  package var inputs: [any Sendable]
  package var inputNames: [String]

  package init(
    flowName: String, flowRunID: UUID, taskName: String, taskSlug: String, taskRunID: UUID,
    mapIndex: Int?, scheduledStart: Date, now: Date, parameters: [String: any Sendable],
    inputs: [any Sendable], inputNames: [String]
  ) {
    self.flowName = flowName
    self.flowRunID = flowRunID
    self.taskName = taskName
    self.taskSlug = taskSlug
    self.taskRunID = taskRunID
    self.mapIndex = mapIndex
    self.scheduledStart = scheduledStart
    self.now = now
    self.parameters = parameters
    self.inputs = inputs
    self.inputNames = inputNames
  }

  func field(_ name: String) -> String {
    switch name {
    case "flow_name": flowName
    case "task_name": taskName
    case "task_slug": taskSlug
    case "map_index": mapIndex.map(String.init) ?? ""
    case "flow_run_id": flowRunID.uuidString.lowercased()
    case "task_run_id": taskRunID.uuidString.lowercased()
    default: scheduledStart.formatted(.iso8601)
    }
  }

  /// The location of a checkpoint without a target: unique to the flow run, and the same when
  /// the run is resumed.
  package var defaultLocation: String {
    let base = "\(flowName)/\(flowRunID.uuidString.lowercased())/\(taskSlug)"
    return mapIndex.map { "\(base)/\($0)" } ?? base
  }
}

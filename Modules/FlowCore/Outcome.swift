import FlowState

/// How an upstream task ended, as a downstream task that declares an `Outcome<Value>` input
/// receives it: its output when it succeeded, else its state, message and error (Prefect
/// passes an upstream's exception to a task that runs anyway).
///
/// ```swift
/// let report = task("report", trigger: .allFinished) { (load: Outcome<Int>) -> String in
///   load.value.map { "loaded \($0)" } ?? "load ended \(load.kind): \(load.message ?? "")"
/// }
/// let flow = Flow("etl") { report(load().outcome) }
/// ```
public struct Outcome<Value: Sendable>: Sendable, CustomStringConvertible {
  /// The upstream run's final state kind (Success, Failed, Skipped, TriggerFailed…).
  public let kind: RunState.Kind
  /// The upstream's output when it has one (Success or Cached); nil otherwise.
  public let value: Value?
  /// The upstream state's message (the skip reason, the failure's description…).
  public let message: String?
  /// The error the upstream failed with, when it failed with one.
  public let error: (any Error)?

  /// Creates an outcome.
  public init(kind: RunState.Kind, value: Value?, message: String? = nil, error: (any Error)? = nil)
  {
    self.kind = kind
    self.value = value
    self.message = message
    self.error = error
  }

  /// The outcome of a run that ended in `state`.
  public init(_ state: RunState) {
    self.init(
      kind: state.kind, value: state.result as? Value, message: state.message, error: state.error)
  }

  /// True when the upstream succeeded with an output.
  public var succeeded: Bool { value != nil && kind.isSuccessful }
  /// True when the upstream failed (Failed, TimedOut, TriggerFailed, Crashed).
  public var failed: Bool { kind.isFailed }
  /// True when the upstream was skipped.
  public var skipped: Bool { kind == .skipped }

  /// The output, or an ``OutcomeError`` naming the state the upstream ended in.
  public func get() throws -> Value {
    if let value { return value }
    throw OutcomeError(kind: kind, message: message ?? error.map { "\($0)" })
  }

  /// `Success(value)`, `Failed("message")`….
  public var description: String {
    if let value { return "\(kind.name)(\(value))" }
    return message.map { "\(kind.name)(\"\($0)\")" } ?? kind.name
  }
}

/// Thrown by ``Outcome/get()`` for an upstream without an output; carried across processes as
/// the error of a failed upstream whose original type could not travel.
public struct OutcomeError: Error, Sendable, CustomStringConvertible {
  /// The state kind the upstream ended in.
  public let kind: RunState.Kind
  /// The upstream's message, when it had one.
  public let message: String?

  /// Creates the error.
  public init(kind: RunState.Kind, message: String?) {
    self.kind = kind
    self.message = message
  }

  /// Names the state and its message.
  public var description: String {
    "the upstream task ended \(kind.name) without an output"
      + (message.map { ": \($0)" } ?? "")
  }
}

extension Outcome: Codable where Value: Codable {
  private enum CodingKeys: String, CodingKey { case kind, value, message, error }

  /// Encodes the kind's name, the value, the message and the error's description.
  public func encode(to encoder: any Encoder) throws {
    var container = encoder.container(keyedBy: CodingKeys.self)
    try container.encode(kind.name, forKey: .kind)
    try container.encodeIfPresent(value, forKey: .value)
    try container.encodeIfPresent(message, forKey: .message)
    try container.encodeIfPresent(error.map { "\($0)" }, forKey: .error)
  }

  /// Decodes an outcome; the error comes back as an ``OutcomeError`` with its description.
  public init(from decoder: any Decoder) throws {
    let container = try decoder.container(keyedBy: CodingKeys.self)
    let name = try container.decode(String.self, forKey: .kind)
    guard let kind = RunState.Kind.all.first(where: { $0.name == name }) else {
      throw DecodingError.dataCorruptedError(
        forKey: .kind, in: container, debugDescription: "unknown state kind '\(name)'")
    }
    let message = try container.decodeIfPresent(String.self, forKey: .message)
    let error = try container.decodeIfPresent(String.self, forKey: .error)
    self.init(
      kind: kind, value: try container.decodeIfPresent(Value.self, forKey: .value),
      message: message, error: error.map { OutcomeError(kind: kind, message: $0) })
  }
}

extension Ref {
  /// This upstream's outcome instead of its output: a task taking it runs (when its trigger
  /// lets it) even after the upstream failed or was skipped, and sees how it ended.
  public var outcome: Ref<Outcome<Value>> {
    Ref<Outcome<Value>>(
      node: Int(node), flowID: flowID,
      outcomeOf: { state in Outcome<Value>(state) })
  }

  /// The outcome of each child of this mapped task, by map index: a task taking it sees
  /// every position, failed and skipped children included (a reduce over `[Outcome<T>]`
  /// whose positions are the map indices). For a task that did not map (it was skipped, or
  /// its input failed) the list is empty; for one that is not mapped, its elements are
  /// successes.
  public func outcomes<Element: Sendable>() -> Ref<[Outcome<Element>]> where Value == [Element] {
    Ref<[Outcome<Element>]>(
      node: Int(node), flowID: flowID,
      outcomesOf: { children, parent in
        if let children { return children.map { Outcome<Element>($0) } }
        let elements = parent.result as? [Element] ?? []
        return elements.map { Outcome<Element>(kind: parent.kind, value: $0) }
      })
  }
}

/// Concatenates the lists of `nested` (Prefect's `flatten`): map over the elements of a mapped
/// task's list outputs with `task.map(flatten(lists))`.
///
/// ```swift
/// let words = flatten(splitWords.map(lines))  // [[String]] → [String]
/// let lengths = length.map(words)
/// ```
public func flatten<Element: Sendable>(_ nested: Ref<[[Element]]>) -> Ref<[Element]> {
  let builder = FlowBuilder.active("`flatten(...)`")
  let source = builder.resolve(nested, for: "flatten")
  let body = TaskBody(
    call: { inputs in (inputs[0] as! [[Element]]).flatMap { $0 } },
    collect: { outputs in outputs.map { $0 as! [Element] } },
    outputType: String(describing: [Element].self),
    serializer: ResultSerializer.automatic(for: [Element].self), inputCount: 1,
    inputSerializers: [ResultSerializer.automatic(for: [[Element]].self)])
  let node = NodeDraft(
    kind: .task(TaskConfig(body: body, options: TaskOptions())), name: "flatten",
    slug: "flatten", arguments: [GraphArgument(source: source, mode: .direct)], waitsFor: [],
    isMapped: false)
  return Ref(node: builder.add(node, definition: nil), flowID: builder.id)
}

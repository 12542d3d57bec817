import FlowState

/// A typed reference to a value that a flow will produce: a task's output, a parameter or a
/// constant. Building a flow creates references; running it fills them.
///
/// Literals convert to constant references: `evaluate(actuals, predictions, "mae")`.
public struct Ref<Value: Sendable>: Sendable {
  package let node: Int32
  package let flowID: UInt32
  package let isUnmapped: Bool
  /// For ``outcome``: makes the typed outcome a downstream receives from the upstream's state.
  package let outcomeOf: (@Sendable (RunState) -> any Sendable)?
  /// For `outcomes()`: makes the typed outcomes by map index from the children's states.
  package let outcomesOf: (@Sendable ([RunState]?, RunState) -> any Sendable)?

  package init(node: Int, flowID: UInt32, isUnmapped: Bool = false) {
    self.node = Int32(node)
    self.flowID = flowID
    self.isUnmapped = isUnmapped
    self.outcomeOf = nil
    self.outcomesOf = nil
  }

  package init(node: Int, flowID: UInt32, outcomeOf: @escaping @Sendable (RunState) -> any Sendable)
  {
    self.node = Int32(node)
    self.flowID = flowID
    self.isUnmapped = false
    self.outcomeOf = outcomeOf
    self.outcomesOf = nil
  }

  package init(
    node: Int, flowID: UInt32,
    outcomesOf: @escaping @Sendable ([RunState]?, RunState) -> any Sendable
  ) {
    self.node = Int32(node)
    self.flowID = flowID
    self.isUnmapped = false
    self.outcomeOf = nil
    self.outcomesOf = outcomesOf
  }

  /// How a task takes this reference as an argument: its output, or its outcome.
  package var argumentMode: GraphArgument.Mode {
    if let outcomeOf { return .outcome(wrap: outcomeOf) }
    if let outcomesOf { return .outcomes(wrap: outcomesOf) }
    return .direct
  }

  /// Makes this task wait for `upstream` without taking their outputs (Prefect's
  /// `upstream_tasks=`); returns the same reference.
  @discardableResult
  public func after<each Upstream: Sendable>(_ upstream: repeat Ref<each Upstream>) -> Ref<Value> {
    let builder = FlowBuilder.active("`.after(...)`")
    let node = builder.resolve(self, for: "`.after(...)`")
    let user = node >= 0 ? builder.slug(of: node) : "`.after(...)`"
    var nodes: [Int] = []
    repeat nodes.append(builder.resolve(each upstream, for: user))
    builder.addWaits(node, on: nodes)
    return self
  }
}

extension Ref {
  /// A constant node holding `value`.
  public static func constant(_ value: Value) -> Ref<Value> {
    let builder = FlowBuilder.active("a constant")
    let node = NodeDraft(
      kind: .constant(value), name: Self.render(value), slug: Self.render(value), arguments: [],
      waitsFor: [],
      isMapped: false)
    return Ref(node: builder.add(node), flowID: builder.id)
  }

  private static func render(_ value: Value) -> String {
    let text = String(describing: value)
    return text.count <= 24 ? text : String(text.prefix(21)) + "..."
  }
}

extension Ref: ExpressibleByUnicodeScalarLiteral
where Value: ExpressibleByUnicodeScalarLiteral {
  /// A constant from a literal.
  public init(unicodeScalarLiteral value: Value.UnicodeScalarLiteralType) {
    self = .constant(Value(unicodeScalarLiteral: value))
  }
}

extension Ref: ExpressibleByExtendedGraphemeClusterLiteral
where Value: ExpressibleByExtendedGraphemeClusterLiteral {
  /// A constant from a literal.
  public init(extendedGraphemeClusterLiteral value: Value.ExtendedGraphemeClusterLiteralType) {
    self = .constant(Value(extendedGraphemeClusterLiteral: value))
  }
}

extension Ref: ExpressibleByStringLiteral where Value: ExpressibleByStringLiteral {
  /// A constant from a string literal.
  public init(stringLiteral value: Value.StringLiteralType) {
    self = .constant(Value(stringLiteral: value))
  }
}

extension Ref: ExpressibleByIntegerLiteral where Value: ExpressibleByIntegerLiteral {
  /// A constant from an integer literal.
  public init(integerLiteral value: Value.IntegerLiteralType) {
    self = .constant(Value(integerLiteral: value))
  }
}

extension Ref: ExpressibleByFloatLiteral where Value: ExpressibleByFloatLiteral {
  /// A constant from a floating-point literal.
  public init(floatLiteral value: Value.FloatLiteralType) {
    self = .constant(Value(floatLiteral: value))
  }
}

extension Ref: ExpressibleByBooleanLiteral where Value: ExpressibleByBooleanLiteral {
  /// A constant from a Boolean literal.
  public init(booleanLiteral value: Value.BooleanLiteralType) {
    self = .constant(Value(booleanLiteral: value))
  }
}

extension Ref: ExpressibleByNilLiteral where Value: ExpressibleByNilLiteral {
  /// A constant `nil`.
  public init(nilLiteral: ()) {
    self = .constant(Value(nilLiteral: ()))
  }
}

extension Ref: ExpressibleByArrayLiteral where Value: RangeReplaceableCollection {
  /// A constant array (or other collection): `total([1, 2, 3])`, `square.map([1, 2, 3])`.
  public init(arrayLiteral elements: Value.Element...) {
    self = .constant(Value(elements))
  }
}

extension Ref: ExpressibleByDictionaryLiteral where Value: FlowDictionaryConstant {
  /// A constant dictionary: `lookup(["a": 1, "b": 2])`.
  public init(dictionaryLiteral elements: (Value.Key, Value.Value)...) {
    self = .constant(Value(constantPairs: elements))
  }
}

/// A dictionary type that a dictionary literal can make a constant ``Ref`` of.
public protocol FlowDictionaryConstant {
  /// The key type.
  associatedtype Key
  /// The value type.
  associatedtype Value
  /// The dictionary of `pairs`; a key given twice traps, as in a dictionary literal.
  init(constantPairs pairs: [(Key, Value)])
}

extension Dictionary: FlowDictionaryConstant {
  /// The dictionary of `pairs`; a key given twice traps, as in a dictionary literal.
  public init(constantPairs pairs: [(Key, Value)]) {
    self.init(uniqueKeysWithValues: pairs)
  }
}

/// Passes `value` whole to every child of `task.map(...)` instead of mapping over it
/// (Prefect's `unmapped`).
public func unmapped<Value: Sendable>(_ value: Ref<Value>) -> Ref<[Value]> {
  Ref<[Value]>(node: Int(value.node), flowID: value.flowID, isUnmapped: true)
}

/// Marks the tasks whose states decide the flow run's final state (by default, the tasks
/// nothing else depends on). Call it inside the flow-building closure; called with no tasks it
/// restores the default.
public func setReferenceTasks<each Value: Sendable>(_ tasks: repeat Ref<each Value>) {
  let builder = FlowBuilder.active("`setReferenceTasks(...)`")
  var nodes: [Int] = []
  repeat nodes.append(builder.resolve(each tasks, for: "setReferenceTasks"))
  builder.setReferenceNodes(nodes)
}

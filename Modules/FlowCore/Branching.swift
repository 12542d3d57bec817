import FlowState

/// Builds the tasks of `body` under `condition` (Prefect's `case(condition, True)`): they run
/// only when the condition's value is `true`; otherwise they end Skipped with a message naming
/// the condition, and so do the tasks downstream of them (unless they set
/// `skipOnUpstreamSkip: false`). Returns what `body` returns; join branches with ``merge(_:_:)``.
///
/// ```swift
/// let scaled = when(normalize) { scale(raw) }
/// ```
@discardableResult
public func when<Result>(_ condition: Ref<Bool>, _ body: () throws -> Result) rethrows -> Result {
  try when(condition, equals: true, body)
}

/// Builds the tasks of `body` under the condition that `value` equals `expected` (Prefect's
/// `case(value, expected)`): they run only when it does, else they end Skipped with a message
/// naming the condition. Returns what `body` returns; join branches with ``merge(_:_:)``.
///
/// ```swift
/// let tree = when(model, equals: "tree") { trainTree(data) }
/// let knn = when(model, equals: "knn") { trainKNN(data) }
/// let chosen = merge(tree, knn)
/// ```
@discardableResult
public func when<Value: Equatable & Sendable, Result>(
  _ value: Ref<Value>, equals expected: Value, _ body: () throws -> Result
) rethrows -> Result {
  let builder = FlowBuilder.active("`when(...)`")
  let source = builder.resolve(value, for: "when(...)")
  let name = source >= 0 ? builder.slug(of: source) : "?"
  let condition = BranchCondition(
    source: source, label: "when(\(name) == \(String(reflecting: expected)))",
    holds: { ($0 as? Value) == expected })
  return try builder.withBranch(condition, body)
}

/// Runs `then` when `condition` is true and `otherwise` when it is false, and merges the two
/// (Prefect's `ifelse` followed by `merge`): the result is the branch that ran.
///
/// ```swift
/// let cleaned = ifElse(isDirty, then: { clean(raw) }, else: { raw })
/// ```
public func ifElse<Value: Sendable>(
  _ condition: Ref<Bool>, then: () -> Ref<Value>, else otherwise: () -> Ref<Value>
) -> Ref<Value> {
  let yes = when(condition, equals: true, then)
  let no = when(condition, equals: false, otherwise)
  return merge(yes, no)
}

/// The output of the first of `branches` that was not skipped (Prefect's `merge`): join the
/// results of ``when(_:equals:_:)`` blocks. It is Skipped when every branch was skipped, and
/// TriggerFailed when a branch failed.
public func merge<Value: Sendable>(_ first: Ref<Value>, _ rest: Ref<Value>...) -> Ref<Value> {
  let builder = FlowBuilder.active("`merge(...)`")
  let branches = [first] + rest
  let wrap: @Sendable (RunState) -> any Sendable = { Outcome<Value>($0) }
  let arguments = branches.map {
    GraphArgument(source: builder.resolve($0, for: "merge"), mode: .outcome(wrap: wrap))
  }
  let count = arguments.count
  let serializer = ResultSerializer.automatic(for: Outcome<Value>.self)
  let body = TaskBody(
    call: { inputs in
      for case let outcome as Outcome<Value> in inputs where !outcome.skipped {
        return try outcome.get()
      }
      throw SkipTask("Every branch of this merge was skipped.")
    },
    collect: { outputs in outputs.map { $0 as! Value } },
    outputType: String(describing: Value.self),
    serializer: ResultSerializer.automatic(for: Value.self), inputCount: count,
    inputSerializers: Array(repeating: serializer, count: count))
  // Skipped branches are what a merge is for; a failed one fails it (as Prefect's
  // `not_all_skipped` trigger does, which counts skips as successes).
  let options = TaskOptions(trigger: .allSuccessful, skipOnUpstreamSkip: false)
  let node = NodeDraft(
    kind: .task(TaskConfig(body: body, options: options)), name: "merge", slug: "merge",
    arguments: arguments, waitsFor: [], isMapped: false)
  return Ref(node: builder.add(node, definition: nil), flowID: builder.id)
}

import FlowState

/// A typed task: a named async body with input types `Input...` and an output type `Output`,
/// and the options the engine applies to it.
///
/// Calling a definition inside `Flow { ... }` adds a node and returns a typed ``Ref``; nothing
/// runs until the flow does.
public struct TaskDefinition<each Input: Sendable, Output: Sendable>: Sendable {
  /// The task's name; calls of one definition get the slugs `name`, `name-2`, ….
  public let name: String
  /// Retries, timeout, trigger and the rest.
  public var options: TaskOptions {
    get { config.options }
    set { config = TaskConfig(body: config.body, options: newValue) }
  }
  private let typedBody: @Sendable (repeat each Input) async throws -> Output
  /// The body and options, shared by every call of this definition in a graph.
  package private(set) var config: TaskConfig
  package var body: TaskBody { config.body }

  /// Creates a definition; see also the ``task(_:retries:timeout:trigger:skipOnUpstreamSkip:stateHandlers:tags:logStdout:_:)`` function.
  public init(
    _ name: String, options: TaskOptions = TaskOptions(),
    body: @escaping @Sendable (repeat each Input) async throws -> Output
  ) {
    self.name = name
    self.typedBody = body
    let erased = TaskBody(
      call: { inputs in
        var position = 0
        func next<T>(_: T.Type) -> T {
          defer { position += 1 }
          // The typed graph guarantees each input's type; a mismatch is a bug in the engine.
          return inputs[position] as! T
        }
        return try await body(repeat next((each Input).self))
      },
      collect: { outputs in outputs.map { $0 as! Output } },
      outputType: String(describing: Output.self),
      serializer: ResultSerializer.automatic(for: Output.self),
      inputCount: Self.count(repeat (each Input).self),
      inputSerializers: Self.serializers(repeat (each Input).self))
    self.config = TaskConfig(body: erased, options: options)
  }

  private static func count<each T>(_ types: repeat (each T).Type) -> Int {
    var count = 0
    for _ in repeat each types { count += 1 }
    return count
  }

  private static func serializers<each T: Sendable>(_ types: repeat (each T).Type)
    -> [ResultSerializer?]
  {
    var serializers: [ResultSerializer?] = []
    for type in repeat each types { serializers.append(ResultSerializer.automatic(for: type)) }
    return serializers
  }

  /// Runs this task before lower-priority ready tasks when workers are busy (cluster executors;
  /// default 0).
  public func priority(_ priority: Int) -> Self {
    var copy = self
    copy.options.priority = priority
    return copy
  }

  /// Lets one run of this task take at most `max` loop iterations (``LoopAgain``); one more
  /// fails it with a ``LoopLimitError`` (default 1,000).
  public func looping(max: Int) -> Self {
    var copy = self
    copy.options.maxLoopIterations = max
    return copy
  }

  /// Abstract resources each run holds on its cluster worker (`["GPU": 1]`): it only runs on a
  /// worker that offers them (`flow worker --resources GPU=2`), and only while they are free.
  public func resources(_ resources: [String: Double]) -> Self {
    var copy = self
    copy.options.resources = resources
    return copy
  }

  /// Names the inputs, in order, for `{input}` placeholders in targets and for
  /// `partialInputs` cache validators.
  public func inputs(_ names: String...) -> Self {
    var copy = self
    copy.options.inputNames = names
    return copy
  }

  /// Persists every output in `store`; with a `target` template, a value already stored at
  /// the formatted location makes the task Cached without running (Prefect's `target=`).
  public func checkpoint(to store: any ResultStore, target: String? = nil) -> Self {
    var copy = self
    copy.options.checkpoint = CheckpointPolicy(store: store, target: target)
    return copy
  }

  /// Persists no output by default (Prefect's `checkpoint=False`): not in the flow's result
  /// store, nor for a deployment's durable execution, where a run taken over by another agent
  /// runs this task again. For outputs too big or too private to store, or cheap to remake.
  public func noCheckpoint() -> Self {
    var copy = self
    copy.options.checkpointsByDefault = false
    return copy
  }

  /// Persists every output in `store` at the formatted `location` (Prefect's `result=` with a
  /// location template): unlike a target, a value already there does not make the task Cached.
  public func checkpoint(to store: any ResultStore, location: String) -> Self {
    var copy = self
    copy.options.checkpoint = CheckpointPolicy(store: store, location: location)
    return copy
  }

  /// Reuses an output for `duration` when `validator` accepts it (Prefect's `cache_for` and
  /// `cache_validator`); tasks sharing a `key` share entries.
  public func cached(
    for duration: Duration, validator: CacheValidator = .allInputs, key: String? = nil,
    in store: any ResultStore
  ) -> Self {
    var copy = self
    copy.options.cache = CachePolicy(
      duration: duration, validator: validator, key: key, store: store)
    return copy
  }

  /// Adds a call of this task to the flow being built and returns a reference to its output.
  @discardableResult
  public func callAsFunction(_ inputs: repeat Ref<each Input>) -> Ref<Output> {
    let builder = FlowBuilder.active("task '\(name)'")
    var arguments: [GraphArgument] = []
    repeat arguments.append(
      GraphArgument(
        source: builder.resolve(each inputs, for: name), mode: (each inputs).argumentMode))
    return add(to: builder, arguments: arguments, mapped: false)
  }

  /// Adds one run of this task per element of the mapped inputs (Prefect 1's `task.map`);
  /// wrap an input in ``unmapped(_:)`` to pass it whole to every run. All mapped inputs must
  /// have the same length. The reference holds the outputs in element order.
  @discardableResult
  public func map(_ inputs: repeat Ref<[each Input]>) -> Ref<[Output]> {
    let builder = FlowBuilder.active("task '\(name)'.map")
    var arguments: [GraphArgument] = []
    repeat arguments.append(Self.mapArgument(each inputs, of: name, builder))
    return add(to: builder, arguments: arguments, mapped: true)
  }

  /// Runs the body directly, outside any flow (useful in unit tests of a task).
  public func run(_ inputs: repeat each Input) async throws -> Output {
    try await typedBody(repeat each inputs)
  }

  private static func mapArgument<Element: Sendable>(
    _ ref: Ref<[Element]>, of user: String, _ builder: FlowBuilder
  ) -> GraphArgument {
    let source = builder.resolve(ref, for: user, allowUnmapped: true)
    if ref.isUnmapped { return GraphArgument(source: source, mode: .unmapped) }
    return GraphArgument(
      source: source, mode: .mapped(split: { ($0 as! [Element]).map { $0 as any Sendable } }))
  }

  private func add<Result: Sendable>(
    to builder: FlowBuilder, arguments: [GraphArgument], mapped: Bool
  )
    -> Ref<Result>
  {
    let node = NodeDraft(
      kind: .task(config), name: name, slug: name, arguments: arguments, waitsFor: [],
      isMapped: mapped)
    return Ref(node: builder.add(node, definition: ObjectIdentifier(body)), flowID: builder.id)
  }
}

/// Defines a typed task (Prefect's `@task`).
///
/// ```swift
/// let add = task("add", retries: .init(maxRetries: 2, delay: .seconds(5))) { (a: Int, b: Int) in a + b }
/// ```
public func task<each Input: Sendable, Output: Sendable>(
  _ name: String, retries: RetryPolicy = .none, timeout: Duration? = nil,
  trigger: Trigger = .allSuccessful, skipOnUpstreamSkip: Bool = true,
  stateHandlers: [StateHandler] = [], tags: Set<String> = [], logStdout: Bool = false,
  _ body: @escaping @Sendable (repeat each Input) async throws -> Output
) -> TaskDefinition<repeat each Input, Output> {
  TaskDefinition(
    name,
    options: TaskOptions(
      retries: retries, timeout: timeout, trigger: trigger,
      skipOnUpstreamSkip: skipOnUpstreamSkip, stateHandlers: stateHandlers, tags: tags,
      logStdout: logStdout),
    body: body)
}

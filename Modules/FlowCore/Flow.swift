import FlowState

/// A flow: a named, typed graph of task calls, parameters and constants (Prefect's `Flow`).
///
/// The closure runs once, at construction, to collect the graph; no task body runs.
/// ```swift
/// let flow = Flow("etl") {
///   let size = Parameter("batch-size", default: 100)
///   let rows = extract(size)
///   load(transform(rows))
/// }
/// ```
public struct Flow: Sendable {
  /// The flow's name.
  public let name: String
  /// When the flow runs by itself (`nil`: only when asked).
  public let schedule: (any Schedule)?
  /// Where every task's output is persisted unless the task names its own store.
  public let resultStore: (any ResultStore)?
  /// Called on every state transition of the flow run.
  public let stateHandlers: [StateHandler]
  package let graph: FlowGraph

  /// Builds the flow's graph by running `build` with this flow as the active builder.
  public init(
    _ name: String, schedule: (any Schedule)? = nil, resultStore: (any ResultStore)? = nil,
    stateHandlers: [StateHandler] = [], _ build: () -> Void
  ) {
    let builder = FlowBuilder()
    FlowBuilder.$current.withValue(builder) { build() }
    self.name = name
    self.schedule = schedule
    self.resultStore = resultStore
    self.stateHandlers = stateHandlers
    self.graph = FlowGraph(draft: builder.finish(), flowID: builder.id)
  }

  /// A flow around an already built graph (a rewritten copy of another flow's).
  package init(
    name: String, schedule: (any Schedule)?, resultStore: (any ResultStore)?,
    stateHandlers: [StateHandler], graph: FlowGraph
  ) {
    self.name = name
    self.schedule = schedule
    self.resultStore = resultStore
    self.stateHandlers = stateHandlers
    self.graph = graph
  }

  /// Builds a flow and hands back what `build` returns with it: typically the typed references
  /// whose results you will read, so none has to be captured in a variable outside the closure.
  ///
  /// ```swift
  /// let (flow, total) = Flow.building("scoring") { report(score.map(load(path))) }
  /// let result = try await flow.run()
  /// print(try result.result(of: total))
  /// ```
  public static func building<References>(
    _ name: String, schedule: (any Schedule)? = nil, resultStore: (any ResultStore)? = nil,
    stateHandlers: [StateHandler] = [], _ build: () -> References
  ) -> (flow: Flow, references: References) {
    var references: References?
    let flow = Flow(
      name, schedule: schedule, resultStore: resultStore, stateHandlers: stateHandlers
    ) { references = build() }
    return (flow, references!)
  }

  /// The same flow on another schedule (`nil`: none), e.g. the command line's `--cron`.
  public func withSchedule(_ schedule: (any Schedule)?) -> Flow {
    Flow(
      name: name, schedule: schedule, resultStore: resultStore, stateHandlers: stateHandlers,
      graph: graph)
  }

  /// The flow's tasks in the order they were added, with their slugs.
  public var tasks: [TaskInfo] {
    graph.nodes.indices.filter { graph.nodes[$0].task != nil }.map(info)
  }

  /// The flow's parameters, in the order they were declared.
  public var parameters: [ParameterSpec] {
    // By index, reading each node's kind in place (not a copy of every node).
    graph.nodes.indices.compactMap { index in
      if case .parameter(let spec) = graph.nodes[index].kind { return spec }
      return nil
    }
  }

  /// The slugs of the reference tasks, whose states decide the flow run's final state.
  public var referenceTasks: [String] { graph.referenceNodes.map { graph.nodes[$0].slug } }

  /// Throws the first structural problem of the graph: a cycle, a duplicate name, a misused
  /// reference.
  public func validate() throws(FlowValidationError) {
    if let problem = graph.problems.first { throw problem }
  }

  /// The task slugs in an order that runs every task after its upstream tasks.
  public func topologicalOrder() throws(FlowValidationError) -> [String] {
    try validate()
    return graph.order!.filter { graph.nodes[$0].isTask }.map { graph.nodes[$0].slug }
  }

  /// Checks `values` against the declared parameters and returns every parameter's value
  /// (given or default) by name; throws on an unknown name, a wrong type or a missing value.
  public func resolveParameters(_ values: [String: any Sendable]) throws(FlowValidationError)
    -> [String: any Sendable]
  {
    try validate()
    let declared = parameters
    let names = declared.map(\.name)
    let known =
      names.isEmpty ? "it has none" : "it has \(names.map { "'\($0)'" }.joined(separator: ", "))"
    for name in values.keys.sorted() where graph.parameterIndex[name] == nil {
      throw FlowValidationError(
        code: .unknownParameter, culprits: [name],
        message: "flow '\(self.name)' has no parameter '\(name)'; \(known)")
    }
    var resolved: [String: any Sendable] = [:]
    for spec in declared {
      if let given = values[spec.name] {
        guard let value = spec.converted(given) else {
          throw FlowValidationError(
            code: .parameterType, culprits: [spec.name],
            message:
              "parameter '\(spec.name)' expects a value of type \(spec.typeName), got "
              + "\(type(of: given)) (\(given)); pass a \(spec.typeName)")
        }
        resolved[spec.name] = value
      } else if let value = spec.defaultValue {
        resolved[spec.name] = value
      } else {
        throw FlowValidationError(
          code: .missingParameter, culprits: [spec.name],
          message:
            "flow '\(self.name)' needs a value for its required parameter '\(spec.name)' "
            + "(\(spec.typeName)); pass it in `parameters: [\"\(spec.name)\": ...]`")
      }
    }
    return resolved
  }

  private func info(_ index: Int) -> TaskInfo {
    TaskInfo(
      name: graph.nodes[index].name, slug: graph.nodes[index].slug,
      isMapped: graph.nodes[index].isMapped,
      upstream: graph.upstream[index].map { graph.nodes[$0].slug })
  }
}

/// A task of a flow as the outside sees it.
public struct TaskInfo: Sendable, Equatable {
  /// The task's name.
  public let name: String
  /// Its unique slug in the flow.
  public let slug: String
  /// True for the result of `map`.
  public let isMapped: Bool
  /// The slugs or names of the nodes it waits for.
  public let upstream: [String]
}

/// What a rewrite makes of one node of a flow's graph (see ``Flow/rewritingNodes(_:)``).
package struct NodeRewrite: Sendable {
  /// The node's new kind (a task's new body and options, or a constant for a parameter).
  package var kind: NodeDraft.Kind
  /// The node's arguments, same sources in the same order (only their modes may change).
  package var arguments: [GraphArgument]

  package init(kind: NodeDraft.Kind, arguments: [GraphArgument]) {
    self.kind = kind
    self.arguments = arguments
  }
}

extension Flow {
  /// This flow with each node's kind and argument modes as `rewrite` returns them (nil: the
  /// node unchanged), and the given result store and state handlers; names, slugs, edges,
  /// mapping, reference tasks and the schedule are kept. The simulator uses it to swap task
  /// bodies for stand-ins.
  package func rewritingNodes(
    resultStore: (any ResultStore)?, stateHandlers: [StateHandler],
    _ rewrite: (GraphNode) -> NodeRewrite?
  ) -> Flow {
    var draft = GraphDraft()
    draft.problems = graph.problems
    draft.referenceNodes = graph.referenceNodes
    for (index, node) in graph.nodes.enumerated() {
      let change = rewrite(node)
      let kind = change?.kind ?? node.kind
      if case .parameter = kind { draft.parameterIndex[node.name] = index }
      draft.nodes.append(
        NodeDraft(
          kind: kind, name: node.name, slug: node.slug,
          arguments: change?.arguments ?? node.arguments, waitsFor: node.waitsFor,
          isMapped: node.isMapped, conditions: node.conditions))
    }
    return Flow(
      name: name, schedule: schedule, resultStore: resultStore, stateHandlers: stateHandlers,
      graph: FlowGraph(draft: draft, flowID: graph.flowID))
  }
}

extension TaskConfig {
  /// A task's body and options, for a rewritten graph.
  package static func make(body: TaskBody, options: TaskOptions) -> TaskConfig {
    TaskConfig(body: body, options: options)
  }
}

extension GraphArgument {
  /// This argument with another mode (same source).
  package func with(mode: Mode) -> GraphArgument {
    GraphArgument(source: source, mode: mode)
  }
}

extension Flow {
  /// This flow with the output of every task that can persist it (its output type is
  /// `Codable`), has no checkpoint of its own and did not opt out (``TaskDefinition/noCheckpoint()``)
  /// checkpointed in `store` at a location per run: a run resumed under the same ID (a
  /// deployment's run taken over by another agent) finds those outputs and does not run those
  /// tasks again. A flow with its own result store already persists every output and is
  /// returned as it is. The graph, and so the flow's version, is unchanged.
  public func persistingOutputs(in store: any ResultStore) -> Flow {
    guard resultStore == nil else { return self }
    return rewritingNodes(resultStore: nil, stateHandlers: stateHandlers) { node in
      guard case .task(let config) = node.kind, config.options.checkpoint == nil,
        config.options.checkpointsByDefault, config.body.serializer != nil
      else { return nil }
      var options = config.options
      options.checkpoint = CheckpointPolicy(store: store)
      return NodeRewrite(
        kind: .task(TaskConfig.make(body: config.body, options: options)),
        arguments: node.arguments)
    }
  }
}

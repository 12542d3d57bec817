import Synchronization

/// The graph being collected while a `Flow { ... }` closure runs.
package struct GraphDraft: Sendable {
  package var nodes: [NodeDraft] = []
  package var problems: [FlowValidationError] = []
  package var parameterIndex: [String: Int] = [:]
  package var referenceNodes: [Int]?
  /// The clean-up tasks of resource managers (never default reference tasks).
  package var cleanupNodes: Set<Int> = []
  /// Every slug given to a task or parameter so far, and each task call's next one.
  var slugs = SlugSpace()
  /// By name index (``SlugSpace``): the definition that used the name first (to find two
  /// definitions with one name).
  var firstDefinitions: [ObjectIdentifier?] = []
  /// The conditions of the `when(...)` blocks being built, outermost first.
  var branches: [BranchCondition] = []
}

/// Collects nodes while a flow-building closure runs; found through a task-local.
///
/// Locked because the closure is synchronous user code that could, in principle, hand
/// references to other threads; in practice the lock is never contended.
package final class FlowBuilder: Sendable {
  @TaskLocal package static var current: FlowBuilder?

  private static let nextID = Atomic<UInt32>(1)

  /// Distinguishes this builder's references from those of other flows.
  package let id: UInt32
  private let draft = Mutex(GraphDraft())

  package init() {
    id = Self.nextID.add(1, ordering: .relaxed).oldValue
  }

  /// The builder of the flow under construction; traps with a clear message outside one.
  package static func active(_ what: @autoclosure () -> String) -> FlowBuilder {
    guard let builder = current else {
      preconditionFailure(
        "\(what()) was used outside a flow: tasks, parameters and constants form a graph only "
          + "inside `Flow(\"name\") { ... }`. To call a task body directly, use `task.run(...)`.")
    }
    return builder
  }

  package func finish() -> GraphDraft { draft.withLock { $0 } }

  /// The slug of a node already added.
  package func slug(of node: Int) -> String { draft.withLock { $0.nodes[node].slug } }

  /// Adds a node and returns its index.
  package func add(_ node: NodeDraft, definition: ObjectIdentifier? = nil) -> Int {
    draft.withLock { draft in
      var node = node
      if !draft.branches.isEmpty, node.isTask {
        node.conditions = draft.branches
        node.waitsFor.append(contentsOf: draft.branches.map(\.source).filter { $0 >= 0 })
      }
      switch node.kind {
      case .task:
        // Built-in nodes (`merge`, `flatten`) have no definition: they never clash with a
        // user's task of the same name, which simply gets the next slug (`merge-2`).
        let (slug, index) = draft.slugs.nextSlug(for: node.name)
        node.slug = slug
        if index == draft.firstDefinitions.count {
          draft.firstDefinitions.append(definition)
        } else if let definition, let first = draft.firstDefinitions[index] {
          if first != definition,
            !draft.problems.contains(where: { problem in
              problem.code == .duplicateTaskName && problem.culprits == [node.name]
            })
          {
            draft.problems.append(Self.duplicateTask(node.name))
          }
        } else if draft.firstDefinitions[index] == nil {
          draft.firstDefinitions[index] = definition
        }
      case .parameter:
        if draft.parameterIndex[node.name] != nil {
          draft.problems.append(
            FlowValidationError(
              code: .duplicateParameter, culprits: [node.name],
              message:
                "two parameters are named '\(node.name)'; parameter names must be unique in a "
                + "flow: declare it once and pass that reference to every task that needs it"))
        } else {
          draft.parameterIndex[node.name] = draft.nodes.count
          draft.slugs.claim(node.slug)
        }
      case .constant: break
      }
      draft.nodes.append(node)
      return draft.nodes.count - 1
    }
  }

  private static func duplicateTask(_ name: String) -> FlowValidationError {
    FlowValidationError(
      code: .duplicateTaskName, culprits: [name],
      message:
        "two different task definitions are both named '\(name)'; workers find a task by its "
        + "name, so give each definition a unique name (calling one definition several times is "
        + "fine: its runs get the slugs '\(name)', '\(name)-2', …)")
  }

  /// Makes `node` wait for `upstream` without taking their outputs.
  package func addWaits(_ node: Int, on upstream: [Int]) {
    guard node >= 0 else { return }  // a foreign reference, already recorded as a problem
    draft.withLock { $0.nodes[node].waitsFor.append(contentsOf: upstream.filter { $0 >= 0 }) }
  }

  /// How many nodes the graph has so far (the index the next node gets).
  package var nodeCount: Int { draft.withLock { $0.nodes.count } }

  /// The indices of the task nodes added at or after `start`.
  package func taskNodes(from start: Int) -> [Int] {
    draft.withLock { draft in (start..<draft.nodes.count).filter { draft.nodes[$0].isTask } }
  }

  /// Marks `node` as a resource manager's clean-up task.
  package func markCleanup(_ node: Int) {
    guard node >= 0 else { return }
    draft.withLock { _ = $0.cleanupNodes.insert(node) }
  }

  package func setReferenceNodes(_ nodes: [Int]) {
    draft.withLock { draft in
      let nodes = nodes.filter { $0 >= 0 }
      for node in nodes where !draft.nodes[node].isTask {
        draft.problems.append(
          FlowValidationError(
            code: .invalidReferenceTask, culprits: [draft.nodes[node].slug],
            message:
              "'\(draft.nodes[node].slug)' is a parameter or constant, not a task; only tasks "
              + "can be reference tasks"))
      }
      // No tasks at all restores the default (the terminal tasks), as in Prefect.
      draft.referenceNodes = nodes.isEmpty ? nil : nodes
    }
  }

  /// Runs `body` with `condition` added to the conditions of every task it adds.
  package func withBranch<Result>(_ condition: BranchCondition, _ body: () throws -> Result)
    rethrows -> Result
  {
    draft.withLock { $0.branches.append(condition) }
    defer { draft.withLock { _ = $0.branches.popLast() } }
    return try body()
  }

  package func record(_ problem: FlowValidationError) {
    draft.withLock { $0.problems.append(problem) }
  }

  /// The node index of `ref` as an input of `user`; records a problem and returns -1 when the
  /// reference belongs to another flow, and records one when `unmapped` is misused.
  package func resolve<Value: Sendable>(
    _ ref: Ref<Value>, for user: String, allowUnmapped: Bool = false
  ) -> Int {
    guard ref.flowID == id else {
      record(
        FlowValidationError(
          code: .foreignReference, culprits: [user],
          message:
            "'\(user)' was given a reference built in another flow; a flow's tasks can only "
            + "take references made inside the same `Flow { ... }` closure"))
      return -1
    }
    if ref.isUnmapped && !allowUnmapped {
      record(
        FlowValidationError(
          code: .unmappedOutsideMap, culprits: [user],
          message:
            "'\(user)' was given `unmapped(...)`, which marks an argument of `task.map(...)`; "
            + "pass the reference itself when calling a task without mapping"))
    }
    return Int(ref.node)
  }
}

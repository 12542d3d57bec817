import FlowState

/// A resource that tasks share for a while: set up before the tasks inside it, cleaned up
/// after them, always, even when they fail (Prefect's `resource_manager`).
///
/// ```swift
/// let scratch = ResourceManager("scratch-dir",
///   setup: { (root: String) in try makeTemporaryDirectory(in: root) },
///   cleanup: { (directory: String) in try removeDirectory(directory) })
/// let flow = Flow("etl") {
///   let root = Parameter("root", default: "/tmp")
///   scratch(root) { directory in
///     load(transform(extract(directory)))
///   }
/// }
/// ```
/// Building it adds two tasks: `NAME.setup`, whose output is the resource, and
/// `NAME.cleanup`, which takes it. Every task added inside the closure waits for the set-up;
/// the clean-up waits for all of them and runs once they have finished, whatever their states
/// (it does not run when the set-up failed: there is nothing to clean). The clean-up is never a
/// default reference task, so the flow's final state is decided by the tasks inside.
public struct ResourceManager<each Input: Sendable, Resource: Sendable>: Sendable {
  /// The manager's name; its tasks are `NAME.setup` and `NAME.cleanup`.
  public let name: String
  /// The set-up task.
  public let setup: TaskDefinition<repeat each Input, Resource>
  /// The clean-up task.
  public let cleanup: TaskDefinition<Resource, Void>

  /// A manager that makes its resource with `setup` and releases it with `cleanup`.
  public init(
    _ name: String, retries: RetryPolicy = .none,
    setup: @escaping @Sendable (repeat each Input) async throws -> Resource,
    cleanup: @escaping @Sendable (Resource) async throws -> Void
  ) {
    self.name = name
    self.setup = TaskDefinition(
      "\(name).setup", options: TaskOptions(retries: retries), body: setup)
    self.cleanup = TaskDefinition(
      "\(name).cleanup", options: TaskOptions(trigger: .allFinished, skipOnUpstreamSkip: false),
      body: cleanup)
  }

  /// Adds the set-up, the tasks `body` adds (given the resource) and the clean-up to the flow
  /// being built; returns what `body` returns.
  @discardableResult
  public func callAsFunction<Body>(
    _ inputs: repeat Ref<each Input>, tasks body: (Ref<Resource>) -> Body
  ) -> Body {
    add(repeat each inputs, body: body)
  }

  private func add<Body>(_ inputs: repeat Ref<each Input>, body: (Ref<Resource>) -> Body)
    -> Body
  {
    let builder = FlowBuilder.active("resource manager '\(name)'")
    let resource = setup(repeat each inputs)
    let start = builder.nodeCount
    let value = body(resource)
    let inside = builder.taskNodes(from: start)
    for node in inside { builder.addWaits(node, on: [Int(resource.node)]) }
    let release = cleanup(resource)
    builder.addWaits(Int(release.node), on: inside)
    builder.markCleanup(Int(release.node))
    return value
  }

  /// Adds the set-up, the tasks `body` adds and the clean-up, when the closure returns nothing
  /// (so that `Flow("f") { manager(x) { r in use(r) } }` reads naturally).
  public func callAsFunction(
    _ inputs: repeat Ref<each Input>, tasks body: (Ref<Resource>) -> Void
  ) {
    add(repeat each inputs, body: body)
  }
}

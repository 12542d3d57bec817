import FlowCore

extension Flow {
  /// The `flow demo` workload's graph: a `plan` task, then `work` mapped over its output (as
  /// many children as ``StandInBodies/mapWidth`` says once the bodies are stand-ins); both
  /// retry as `retries` says. Its bodies are trivial: run it with stand-ins
  /// (``ClusterSimulation``).
  public static func simulationDemo(retries: RetryPolicy = .simulationDefault) -> Flow {
    let plan = task("plan", retries: retries) { () -> [Int] in [] }
    let work = task("work", retries: retries) { (item: Int) -> Int in item }
    return Flow("flow-demo") { work.map(plan()) }
  }

  /// A layered DAG of `count` tasks: layers of 10, each task after the first layer depending
  /// on two tasks of the layer before (failures propagate as TriggerFailed). Its bodies are
  /// trivial: run it with stand-ins (``ClusterSimulation``).
  public static func simulationLayered(
    tasks count: Int, retries: RetryPolicy = .simulationDefault
  ) -> Flow {
    let source = task("source", retries: retries) { () -> Int in 1 }
    let step = task("step", retries: retries) { (a: Int, b: Int) -> Int in a + b }
    return Flow("layered") {
      let width = 10
      var refs: [Ref<Int>] = []
      for index in 0..<count {
        if index < width {
          refs.append(source())
        } else {
          let other = index - width + (index % width == width - 1 ? -1 : 1)
          refs.append(step(refs[index - width], refs[other]))
        }
      }
    }
  }

  /// A chain of `count` tasks, each after the one before, retrying as `retries` says. Its
  /// bodies are trivial: run it with stand-ins (``ScheduledClusterSimulation``).
  public static func simulationChain(
    _ name: String, tasks count: Int, retries: RetryPolicy
  ) -> Flow {
    let first = task("step", retries: retries) { () -> Int in 0 }
    let next = task("next", retries: retries) { (previous: Int) -> Int in previous + 1 }
    return Flow(name) {
      var last = first()
      for _ in 1..<max(count, 1) { last = next(last) }
    }
  }
}

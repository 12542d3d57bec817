import FlowCore
import FlowTestKit
import Testing

@Suite("Topological order")
struct TopologicalOrderTests {
  @Test(
    "independent tasks keep their insertion order",
    arguments: [["x", "y", "z"], ["z", "y", "x"], ["m", "a", "q", "b", "c"], ["only"]])
  func independentTasks(names: [String]) throws {
    let definitions = names.map { name in task(name) { () in name } }
    let flow = Flow("independent") {
      for definition in definitions { definition() }
    }
    #expect(try flow.topologicalOrder() == names)
    #expect(flow.tasks.map(\.slug) == names)
  }

  @Test("parameters and constants are not part of the order")
  func onlyTasks() throws {
    let add = task("add") { (a: Int, b: Int) in a + b }
    let flow = Flow("mixed") {
      let n = Parameter("n", default: 1)
      add(add(n, 2), 3)
    }
    #expect(try flow.topologicalOrder() == ["add", "add-2"])
  }

  @Test("a diamond runs its top first and its bottom last")
  func diamond() throws {
    let top = task("top") { () in 1 }
    let left = task("left") { (x: Int) in x }
    let right = task("right") { (x: Int) in x }
    let bottom = task("bottom") { (a: Int, b: Int) in a + b }
    let flow = Flow("diamond") {
      let t = top()
      bottom(left(t), right(t))
    }
    #expect(try flow.topologicalOrder() == ["top", "left", "right", "bottom"])
  }

  @Test("an `.after` edge pointing backwards to a later task is respected")
  func backwardsAfter() throws {
    let first = task("first") { () in 1 }
    let second = task("second") { () in 2 }
    let flow = Flow("backwards") {
      let a = first()
      let b = second()
      a.after(b)
    }
    #expect(flow.tasks.map(\.slug) == ["first", "second"])
    #expect(try flow.topologicalOrder() == ["second", "first"])
    #expect(flow.referenceTasks == ["first"])
  }

  @Test("a chain built backwards with `.after` runs in dependency order")
  func backwardsChain() throws {
    let step = task("step") { () in 0 }
    let flow = Flow("chain") {
      let one = step()
      let two = step()
      let three = step()
      one.after(two)
      two.after(three)
    }
    #expect(try flow.topologicalOrder() == ["step-3", "step-2", "step"])
  }

  @Test("the order is the same for the same flow built twice")
  func deterministic() throws {
    func build() -> Flow {
      let a = task("a") { () in 1 }
      let b = task("b") { (x: Int) in x }
      let c = task("c") { () in 2 }
      return Flow("same") {
        let ra = a()
        let rc = c()
        b(ra).after(rc)
        c()
      }
    }
    #expect(try build().topologicalOrder() == build().topologicalOrder())
  }

  @Test("every task comes after all its upstream tasks (random DAGs)", arguments: 1...8)
  func randomDAG(seed: UInt64) throws {
    let random = SeededRandomSource(seed: seed)
    let count = 12
    // Edges go from lower to higher rank, so the graph is acyclic whatever the insertion order.
    var generator = RandomSourceGenerator(source: random)
    let rank = Array(0..<count).shuffled(using: &generator)
    var edges: [(from: Int, to: Int)] = []
    for from in 0..<count {
      for to in 0..<count where rank[from] < rank[to] && random.nextInt(below: 4) == 0 {
        edges.append((from, to))
      }
    }
    let step = task("node") { () in 0 }
    let flow = Flow("random") {
      var refs: [Ref<Int>] = []
      for _ in 0..<count { refs.append(step()) }
      for edge in edges { refs[edge.to].after(refs[edge.from]) }
    }
    let order = try flow.topologicalOrder()
    #expect(Set(order) == Set(flow.tasks.map(\.slug)))
    #expect(order.count == count)
    let position = Dictionary(uniqueKeysWithValues: order.enumerated().map { ($1, $0) })
    for info in flow.tasks {
      for upstream in info.upstream {
        #expect(position[upstream]! < position[info.slug]!, "\(upstream) before \(info.slug)")
      }
    }
  }
}

/// Values by task run, kept densely (as many as are live, not one per node) and found without
/// hashing for unmapped tasks: the machine's hot path looks task runs up many times per event.
struct TaskRunTable<Value: Sendable>: Sendable {
  /// The values; position 0 is always nil: what an access to a missing key reads (and writes,
  /// for an insertion), so that the accessors need no temporary of their own.
  private var values: [Value?] = [nil]
  private var free: [Int] = []
  /// For each node, the index of its unmapped task run's value (-1: none).
  private var plain: [Int32]
  private var mapped: [TaskRunKey: Int] = [:]
  /// How many task runs have a value.
  private(set) var count = 0

  init(nodes: Int) { plain = Array(repeating: -1, count: nodes) }

  var isEmpty: Bool { count == 0 }

  /// Makes room for `capacity` values at once.
  mutating func reserveCapacity(_ capacity: Int) { values.reserveCapacity(capacity + 1) }

  private func slot(_ key: TaskRunKey) -> Int? {
    if key.mapIndex == nil {
      let index = plain[key.node]
      return index < 0 ? nil : Int(index)
    }
    return mapped.isEmpty ? nil : mapped[key]
  }

  /// The value of `key`; assigning a value adds it (remove with ``removeValue(forKey:)``).
  ///
  /// Neither accessor holds a value of its own: a coroutine whose frame holds one (a `nil` to
  /// yield, say) gets that frame from the heap, a malloc and a free per access, several per
  /// task run on the machine's hot path.
  subscript(key: TaskRunKey) -> Value? {
    @inline(never) _read { yield values[slot(key) ?? 0] }
    @inline(never) _modify {
      let index = slot(key) ?? 0
      yield &values[index]
      if index == 0, let added = values[0].take() { insert(added, key) }
    }
  }

  /// Adds the value of `key`, which has none.
  mutating func insert(_ value: consuming Value, for key: TaskRunKey) { insert(value, key) }

  private mutating func insert(_ value: consuming Value, _ key: TaskRunKey) {
    let index: Int
    if let reused = free.popLast() {
      index = reused
      values[index] = value
    } else {
      index = values.count
      values.append(value)
    }
    if key.mapIndex == nil { plain[key.node] = Int32(index) } else { mapped[key] = index }
    count += 1
  }

  /// Changes the value of `key` in place (nil when there is none), returning what `body` does.
  mutating func update<Result>(_ key: TaskRunKey, _ body: (inout Value) -> Result?) -> Result? {
    guard let index = slot(key) else { return nil }
    return body(&values[index]!)
  }

  /// Removes and returns the value of `key`.
  mutating func removeValue(forKey key: TaskRunKey) -> Value? {
    guard let index = slot(key) else { return nil }
    let value = values[index].take()
    free.append(index)
    if key.mapIndex == nil { plain[key.node] = -1 } else { mapped[key] = nil }
    count -= 1
    return value
  }

  /// The keys with a value, in node then map-index order.
  var sortedKeys: [TaskRunKey] {
    var keys: [TaskRunKey] = []
    for node in plain.indices where plain[node] >= 0 {
      keys.append(TaskRunKey(node: node, mapIndex: nil))
    }
    keys.append(contentsOf: mapped.keys)
    return keys.sorted { ($0.node, $0.mapIndex ?? -1) < ($1.node, $1.mapIndex ?? -1) }
  }
}

import FlowCore
import FlowState
import Foundation

extension FlowValidationError.Code {
  /// A target template has an unknown placeholder or a bad date format.
  public static let badTarget = Self(name: "badTarget")
  /// A task whose output must be persisted returns a type that cannot be.
  public static let notPersistable = Self(name: "notPersistable")
  /// `.inputs(...)` names a different number of inputs than the task takes, or a cache
  /// validator names an unknown input or parameter.
  public static let badInputNames = Self(name: "badInputNames")
}

/// How one task persists and reuses its output, checked and parsed before the run: the
/// checkpoint (with its target template) and the cache.
///
/// Before a task runs, ``lookup(_:resuming:)`` checks, in this fixed order, the target, then
/// the cache, then (when resuming) the run's own checkpoint; after it succeeds, ``persist(_:_:)``
/// writes the checkpoint and the cache entry.
package final class ResultPlan: Sendable {
  let checkpoint: CheckpointPolicy?
  let target: TargetTemplate?
  /// A formatted location that is not a target (`checkpoint(to:location:)`).
  let location: TargetTemplate?
  let cache: CachePolicy?
  let serializer: ResultSerializer

  init(
    checkpoint: CheckpointPolicy?, target: TargetTemplate?, location: TargetTemplate? = nil,
    cache: CachePolicy?, serializer: ResultSerializer
  ) {
    self.checkpoint = checkpoint
    self.target = target
    self.location = location
    self.cache = cache
    self.serializer = serializer
  }

  /// The outcome of looking for a stored output before running.
  package enum Lookup: Sendable {
    /// Reuse this state (Cached, with the reason in its message).
    case cached(RunState)
    /// Run the body; the notes say why stored values were not used, the problems (also worth
    /// a warning in the log) which of them were damaged or unreadable.
    case run(notes: [String], problems: [String] = [])
    /// The task cannot proceed (a bad rendered location).
    case failed(ResultStoreError)
  }

  /// The plans of every node of `flow` (nil for nodes that persist nothing); throws the first
  /// configuration problem.
  package static func plans(for flow: Flow) throws(FlowValidationError) -> [ResultPlan?] {
    let parameters = Set(flow.graph.parameterIndex.keys)
    var plans: [ResultPlan?] = []
    plans.reserveCapacity(flow.graph.nodes.count)
    for index in flow.graph.nodes.indices {
      // Most tasks persist nothing: decide that without copying their options, or the node
      // (fields are read in place: a copy of a node retains each of them).
      guard flow.graph.nodes[index].task != nil,
        flow.resultStore != nil || flow.graph.nodes[index].task!.options.checkpoint != nil
          || flow.graph.nodes[index].task!.options.cache != nil
      else {
        plans.append(nil)
        continue
      }
      let config = flow.graph.nodes[index].task!
      let node = flow.graph.nodes[index]
      let options = config.options
      let body = config.body
      let checkpoint =
        options.checkpoint
        ?? (options.checkpointsByDefault
          ? flow.resultStore.map { CheckpointPolicy(store: $0) } : nil)
      guard checkpoint != nil || options.cache != nil else {
        plans.append(nil)
        continue
      }
      func problem(_ code: FlowValidationError.Code, _ message: String) -> FlowValidationError {
        FlowValidationError(code: code, culprits: [node.slug], message: message)
      }
      guard let serializer = body.serializer else {
        throw problem(
          .notPersistable,
          "task '\(node.slug)' returns \(body.outputType), which cannot be persisted; make it "
            + "Codable, or do not give this task (or its flow) a result store or cache")
      }
      if !options.inputNames.isEmpty, options.inputNames.count != body.inputCount {
        throw problem(
          .badInputNames,
          "task '\(node.slug)' takes \(body.inputCount) inputs but `.inputs(...)` names "
            + "\(options.inputNames.count): \(options.inputNames)")
      }
      try check(options.cache?.validator, node.slug, options.inputNames, parameters)
      var target: TargetTemplate?
      if let source = checkpoint?.target {
        do {
          target = try TargetTemplate(
            source, parameters: parameters, inputNames: options.inputNames)
        } catch {
          throw problem(.badTarget, "task '\(node.slug)': \(error.message)")
        }
      }
      var location: TargetTemplate?
      if let source = checkpoint?.location {
        do {
          location = try TargetTemplate(
            source, parameters: parameters, inputNames: options.inputNames)
        } catch {
          throw problem(.badTarget, "task '\(node.slug)': \(error.message)")
        }
      }
      plans.append(
        ResultPlan(
          checkpoint: checkpoint, target: target, location: location, cache: options.cache,
          serializer: serializer))
    }
    return plans
  }

  private static func check(
    _ validator: CacheValidator?, _ slug: String, _ inputNames: [String], _ parameters: Set<String>
  ) throws(FlowValidationError) {
    let (names, known, kind): ([String], Set<String>, String)
    switch validator?.rule {
    case .partialInputs(let list)?: (names, known, kind) = (list, Set(inputNames), "input")
    case .partialParameters(let list)?: (names, known, kind) = (list, parameters, "parameter")
    default: return
    }
    for name in names where !known.contains(name) {
      throw FlowValidationError(
        code: .badInputNames, culprits: [slug],
        message:
          "the cache validator of task '\(slug)' names the \(kind) '\(name)', which it does not "
          + "have; known: \(known.sorted())"
          + (kind == "input" && inputNames.isEmpty ? " (name inputs with `.inputs(...)`)" : ""))
    }
  }

  // MARK: Before the run

  /// Looks for an output to reuse: the target, then the cache, then (when `resuming`) the
  /// checkpoint this flow run wrote before.
  package func lookup(_ context: ResultContext, resuming: Bool) -> Lookup {
    var notes: [String] = []
    var problems: [String] = []
    if let checkpoint {
      let location = checkpointLocation(context)
      if target != nil || resuming {
        do {
          if let value = try reuse(checkpoint.store, at: location) {
            let reason =
              target == nil
              ? "Resumed: flow run \(context.flowRunID.uuidString.lowercased()) already "
                + "checkpointed this output at '\(location)' in \(checkpoint.store.description)."
              : "Target '\(location)' exists in \(checkpoint.store.description); "
                + "the task did not run."
            return .cached(RunState(.cached, message: reason, result: value))
          }
        } catch  where error.code == .badLocation {
          return .failed(error)
        } catch {
          notes.append("The stored output at '\(location)' was not used: \(error.message).")
          problems.append(
            "The stored output at '\(location)' in \(checkpoint.store.description) cannot be "
              + "used, so the task runs again: \(error)")
        }
      }
    }
    if let cache {
      let location = cacheLocation(context)
      do {
        // Every unexpired entry of the key is a candidate, newest first (Prefect 1 tries each
        // cached state of the key with the validator).
        let list = try CacheEntries.read(from: cache.store, at: location)
        for (index, stored) in list.entries.enumerated() {
          let which = list.entries.count > 1 ? " (entry \(index + 1) of \(list.entries.count))" : ""
          switch accepts(stored, cache, context) {
          case .success(let message):
            let value: any Sendable
            do {
              value = try serializer.decode(stored, at: location)
            } catch {
              notes.append("Cache entry '\(location)'\(which) was not used: \(error.message).")
              problems.append(
                "Cache entry '\(location)'\(which) in \(cache.store.description) cannot be "
                  + "used: \(error)")
              continue
            }
            let candidate = CacheCandidate(
              value: value, expires: CacheEntries.expiry(of: stored), inputs: context.inputs,
              parameters: context.parameters)
            guard cache.validator.accepts(candidate) else {
              notes.append(
                "Cache entry '\(location)'\(which) was not used: validator \(cache.validator) "
                  + "rejected it.")
              continue
            }
            return .cached(RunState(.cached, message: message, result: value))
          case .failure(let rejection):
            notes.append("Cache entry '\(location)'\(which) was not used: \(rejection.reason).")
          }
        }
      } catch  where error.code == .badLocation {
        return .failed(error)
      } catch {
        notes.append("Cache entry '\(location)' was not used: \(error.message).")
        problems.append(
          "Cache entry '\(location)' in \(cache.store.description) cannot be used, so the task "
            + "runs again: \(error)")
      }
    }
    return .run(notes: notes, problems: problems)
  }

  private func reuse(_ store: any ResultStore, at location: String) throws(ResultStoreError)
    -> (any Sendable)?
  {
    guard let stored = try store.read(at: location) else { return nil }
    return try serializer.decode(stored, at: location)
  }

  private struct Rejection: Error {
    let reason: String
  }

  private func accepts(_ stored: StoredResult, _ cache: CachePolicy, _ context: ResultContext)
    -> Result<String, Rejection>
  {
    if cache.validator.rule == .never {
      return .failure(Rejection(reason: "validator neverUse never reuses an entry"))
    }
    let expires = CacheEntries.expiry(of: stored)
    guard context.now < expires else {
      return .failure(Rejection(reason: "it expired at \(expires.formatted(.iso8601))"))
    }
    let current = Self.fingerprints(context, cache.validator)
    for (key, value) in current where value == nil || stored.metadata[key] != value {
      let what = key.replacingOccurrences(of: ":", with: " '") + (key.contains(":") ? "'" : "")
      let reason =
        value == nil
        ? "\(what) cannot be compared because it is not Encodable"
        : "\(what) changed"
      return .failure(Rejection(reason: reason + " (validator \(cache.validator))"))
    }
    let location = cacheLocation(context)
    return .success(
      "Cache entry '\(location)' in \(cache.store.description) is valid until "
        + "\(expires.formatted(.iso8601)) and was accepted by validator \(cache.validator).")
  }

  /// What the validator compares: `inputs`, `input:NAME`, `parameters`, `parameter:NAME`.
  private static func fingerprints(_ context: ResultContext, _ validator: CacheValidator)
    -> [(String, String?)]
  {
    switch validator.rule {
    case .durationOnly, .never, .custom: return []
    case .allInputs: return [("inputs", ValueDigest.of(context.inputs))]
    case .allParameters:
      let sorted = context.parameters.keys.sorted()
      return [("parameters", ValueDigest.of(sorted.map { context.parameters[$0]! }))]
    case .partialInputs(let names):
      return names.map { name in
        (
          "input:\(name)",
          context.inputNames.firstIndex(of: name).flatMap {
            ValueDigest.of(context.inputs[$0])
          }
        )
      }
    case .partialParameters(let names):
      return names.map { ("parameter:\($0)", context.parameters[$0].flatMap(ValueDigest.of)) }
    }
  }

  /// Where the checkpoint goes: the target, else the location template, else the run's own.
  private func checkpointLocation(_ context: ResultContext) -> String {
    target?.render(context) ?? location?.render(context) ?? context.defaultLocation
  }

  /// One location per cache key, shared by a mapped task's children (as in Prefect).
  private func cacheLocation(_ context: ResultContext) -> String {
    "cache/" + (cache?.key ?? "\(context.flowName)/\(context.taskSlug)")
  }

  // MARK: After the run

  /// Writes the checkpoint (at the target, or the run's default location) and the cache entry.
  /// A `nil` or `Void` output writes no checkpoint (Prefect writes nothing for `None`), so a
  /// target of such a task is never hit; its cache entry is still kept.
  package func persist(_ value: any Sendable, _ context: ResultContext) throws(ResultStoreError) {
    var stored = try serializer.encode(value)
    if let checkpoint, !serializer.isNothing(value) {
      try checkpoint.store.write(stored, at: checkpointLocation(context))
    }
    if let cache {
      let expires = context.now.addingTimeInterval(cache.duration.timeInterval)
      stored.metadata["expires"] = String(expires.timeIntervalSince1970)
      for (key, value) in Self.fingerprints(context, .allInputs)
        + Self.fingerprints(context, .allParameters)
        + Self.fingerprints(context, .partialInputs(context.inputNames))
        + Self.fingerprints(context, .partialParameters(context.parameters.keys.sorted()))
      {
        stored.metadata[key] = value
      }
      try CacheEntries.add(stored, to: cache.store, at: cacheLocation(context), now: context.now)
    }
  }
}

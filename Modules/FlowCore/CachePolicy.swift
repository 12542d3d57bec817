import Foundation

/// Where a task persists its output, and under which location (Prefect's `result=` and
/// `target=`).
public struct CheckpointPolicy: Sendable {
  /// The store the output is written to.
  public let store: any ResultStore
  /// A location template (`{flow_name}/{task_slug}-{date:%Y-%m-%d}`); when a value exists at
  /// the formatted location, the task ends Cached without running. Nil: a location per run.
  public let target: String?
  /// A location template for the output that is not a target (Prefect's `result=` with a
  /// formatted location): the output is written there, and the next run still runs the task.
  public let location: String?

  /// Creates a checkpoint policy.
  public init(store: any ResultStore, target: String? = nil, location: String? = nil) {
    self.store = store
    self.target = target
    self.location = location
  }
}

/// What a custom cache validator sees of one cache entry and of the run that might reuse it.
public struct CacheCandidate: Sendable {
  /// The cached output.
  public let value: any Sendable
  /// When the entry expires (it has not yet).
  public let expires: Date
  /// The task run's inputs, in order.
  public let inputs: [any Sendable]
  /// The flow run's parameter values by name.
  public let parameters: [String: any Sendable]

  /// Creates a candidate.
  public init(
    value: any Sendable, expires: Date, inputs: [any Sendable], parameters: [String: any Sendable]
  ) {
    self.value = value
    self.expires = expires
    self.inputs = inputs
    self.parameters = parameters
  }
}

/// How long a task's output stays valid, and what must match for it to be reused.
public struct CachePolicy: Sendable {
  /// How long an entry stays valid after it is written.
  public let duration: Duration
  /// What must match for an entry to be reused.
  public let validator: CacheValidator
  /// The cache key; tasks (and flows) with the same key share entries. Nil: the flow name and
  /// task slug.
  public let key: String?
  /// Where entries are kept.
  public let store: any ResultStore

  /// Creates a cache policy.
  public init(
    duration: Duration, validator: CacheValidator, key: String?, store: any ResultStore
  ) {
    self.duration = duration
    self.validator = validator
    self.key = key
    self.store = store
  }
}

/// Decides whether a cache entry may be reused for this run (Prefect 1's cache validators).
public struct CacheValidator: Sendable, CustomStringConvertible {
  /// What the validator compares.
  public enum Rule: Sendable, Equatable {
    /// Only the duration counts.
    case durationOnly
    /// Every input must be equal.
    case allInputs
    /// Every flow parameter must be equal.
    case allParameters
    /// The named inputs must be equal.
    case partialInputs([String])
    /// The named parameters must be equal.
    case partialParameters([String])
    /// No entry is ever reused (Prefect's `never_use`).
    case never
    /// A function of the entry, the inputs and the parameters decides (named for messages).
    case custom(String)
  }

  /// The rule.
  public let rule: Rule
  /// For ``Rule/custom(_:)``: true when the entry may be reused.
  let accepts: (@Sendable (CacheCandidate) -> Bool)?

  init(rule: Rule, accepts: (@Sendable (CacheCandidate) -> Bool)? = nil) {
    self.rule = rule
    self.accepts = accepts
  }

  /// Never reuses an entry (Prefect's `never_use`): the task always runs; entries are still
  /// written, for other tasks sharing the key.
  public static let neverUse = CacheValidator(rule: .never)
  /// Reuses an unexpired entry when `accepts` says so: any function of the cached value, the
  /// inputs and the parameters; `name` appears in the Cached state's message and in the
  /// debug log of a rejected entry.
  public static func custom(
    _ name: String, _ accepts: @escaping @Sendable (CacheCandidate) -> Bool
  ) -> CacheValidator {
    CacheValidator(rule: .custom(name), accepts: accepts)
  }

  /// Whether a custom validator accepts `candidate` (true for the other rules).
  package func accepts(_ candidate: CacheCandidate) -> Bool { accepts?(candidate) ?? true }

  /// Reuses any entry that has not expired.
  public static let durationOnly = CacheValidator(rule: .durationOnly)
  /// Reuses an entry whose inputs were all equal.
  public static let allInputs = CacheValidator(rule: .allInputs)
  /// Reuses an entry whose flow parameters were all equal.
  public static let allParameters = CacheValidator(rule: .allParameters)
  /// Reuses an entry whose named inputs were equal.
  public static func partialInputs(_ names: [String]) -> CacheValidator {
    CacheValidator(rule: .partialInputs(names))
  }
  /// Reuses an entry whose named parameters were equal.
  public static func partialParameters(_ names: [String]) -> CacheValidator {
    CacheValidator(rule: .partialParameters(names))
  }

  /// The validator as written in code: `partialInputs(["x"])`.
  public var description: String {
    switch rule {
    case .durationOnly: "durationOnly"
    case .allInputs: "allInputs"
    case .allParameters: "allParameters"
    case .partialInputs(let names): "partialInputs(\(names))"
    case .partialParameters(let names): "partialParameters(\(names))"
    case .never: "neverUse"
    case .custom(let name): "custom(\(name))"
    }
  }
}

/// A problem that stops a flow from running, found before any task runs.
public struct FlowValidationError: Error, Sendable, CustomStringConvertible, Equatable {
  /// What kind of problem it is.
  public let code: Code
  /// The tasks or parameters at fault, by slug or name.
  public let culprits: [String]
  /// What is wrong and how to fix it.
  public let message: String

  /// Creates the error.
  public init(code: Code, culprits: [String], message: String) {
    self.code = code
    self.culprits = culprits
    self.message = message
  }

  /// The message.
  public var description: String { message }

  /// The kinds of validation problem; a struct with static members so that it can grow.
  public struct Code: Hashable, Sendable, CustomStringConvertible {
    /// A short stable name for the code.
    public let name: String

    /// Creates a code; modules above FlowCore add their own as static members.
    public init(name: String) { self.name = name }

    /// The graph has a cycle.
    public static let cycle = Code(name: "cycle")
    /// A required parameter has no value.
    public static let missingParameter = Code(name: "missingParameter")
    /// A value was passed for a parameter the flow does not have.
    public static let unknownParameter = Code(name: "unknownParameter")
    /// A parameter value has the wrong type.
    public static let parameterType = Code(name: "parameterType")
    /// Two parameters share a name.
    public static let duplicateParameter = Code(name: "duplicateParameter")
    /// Two different task definitions share a name.
    public static let duplicateTaskName = Code(name: "duplicateTaskName")
    /// A reference built in one flow was used in another.
    public static let foreignReference = Code(name: "foreignReference")
    /// `unmapped(...)` was used outside the arguments of `map`.
    public static let unmappedOutsideMap = Code(name: "unmappedOutsideMap")
    /// A reference task is not a task of this flow.
    public static let invalidReferenceTask = Code(name: "invalidReferenceTask")

    /// The name.
    public var description: String { name }
  }
}

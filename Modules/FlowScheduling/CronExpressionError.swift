/// Why a cron expression was rejected: the field, the bad token and what is valid there.
///
/// ```swift
/// do { _ = try CronExpression("61 * * * *") } catch {
///   print(error)  // minute: 61 is outside 0-59
/// }
/// ```
public struct CronExpressionError: Error, Sendable, Hashable, CustomStringConvertible {
  /// What kind of problem it is.
  public let code: Code
  /// The field at fault, or nil when the problem is the number of fields.
  public let field: CronField?
  /// The part of the field that is wrong, as written (upper-cased).
  public let token: String
  /// What is wrong and what is valid, starting with the field's name.
  public let message: String
  /// The whole expression as given.
  public let expression: String

  /// Creates the error.
  public init(code: Code, field: CronField?, token: String, message: String, expression: String) {
    self.code = code
    self.field = field
    self.token = token
    self.message = message
    self.expression = expression
  }

  /// The message.
  public var description: String { message }

  /// The kinds of problem; a struct with static members so that it can grow.
  public struct Code: Hashable, Sendable, CustomStringConvertible {
    /// A short stable name for the code.
    public let name: String

    /// Creates a code.
    public init(name: String) { self.name = name }

    /// Not 5 fields, nor 6 with seconds first.
    public static let fieldCount = Code(name: "fieldCount")
    /// A number outside the field's range.
    public static let outOfRange = Code(name: "outOfRange")
    /// Neither a number nor a name the field accepts.
    public static let unknownToken = Code(name: "unknownToken")
    /// An empty item in a comma-separated list.
    public static let emptyItem = Code(name: "emptyItem")
    /// A step (`/n`) that is not a positive number.
    public static let badStep = Code(name: "badStep")
    /// A range whose end is missing or comes before its start.
    public static let badRange = Code(name: "badRange")
    /// An `#n` outside 1-5, or not a number.
    public static let badNth = Code(name: "badNth")
    /// An `L` in the day-of-week field without a day number before it.
    public static let badLast = Code(name: "badLast")
    /// A day of the month that none of the allowed months has.
    public static let impossibleDay = Code(name: "impossibleDay")

    /// The name.
    public var description: String { name }
  }
}

import Foundation

/// What the schedule runner asks for at a fire time: one run, knowing when it was due.
public struct ScheduledRunRequest: Sendable, CustomStringConvertible {
  /// 1 for the first run the runner starts, then 2, 3… (skipped fire times get no number).
  public let runNumber: Int
  /// The fire time the run is for.
  public let scheduledDate: Date
  /// When the runner started it: the fire time, or later when it was buffered or caught up.
  public let startDate: Date
  /// The parameter defaults carried by the schedule's event.
  public let parameters: [String: any Sendable]

  /// Creates a request.
  public init(
    runNumber: Int, scheduledDate: Date, startDate: Date, parameters: [String: any Sendable] = [:]
  ) {
    self.runNumber = runNumber
    self.scheduledDate = scheduledDate
    self.startDate = startDate
    self.parameters = parameters
  }

  /// How late the run started, in seconds (0 when on time).
  public var lateness: TimeInterval { startDate.timeIntervalSince(scheduledDate) }

  /// `run 3 for 2025-03-09 03:00:00 +0000`.
  public var description: String { "run \(runNumber) for \(scheduledDate)" }
}

/// How a scheduled run ended, as the run closure reports it.
public struct ScheduledRunOutcome: Sendable, Hashable, CustomStringConvertible {
  /// Whether the run succeeded, failed or was cancelled.
  public let kind: Kind
  /// Why it failed, for the event log (empty otherwise).
  public let message: String

  /// Creates an outcome.
  public init(kind: Kind, message: String = "") {
    self.kind = kind
    self.message = message
  }

  /// The run succeeded.
  public static let success = ScheduledRunOutcome(kind: .success)
  /// The run was cancelled (it counts neither as a success nor as a failure).
  public static let cancelled = ScheduledRunOutcome(kind: .cancelled)
  /// The run failed, with why.
  public static func failure(_ message: String = "") -> ScheduledRunOutcome {
    ScheduledRunOutcome(kind: .failure, message: message)
  }

  /// `success`, `failure: why` or `cancelled`.
  public var description: String { message.isEmpty ? kind.name : "\(kind.name): \(message)" }

  /// The kinds of outcome; a struct with static members so that it can grow.
  public struct Kind: Hashable, Sendable, CustomStringConvertible {
    /// A short stable name for the kind.
    public let name: String

    /// Creates a kind.
    public init(name: String) { self.name = name }

    /// The run succeeded.
    public static let success = Kind(name: "success")
    /// The run failed.
    public static let failure = Kind(name: "failure")
    /// The run was cancelled.
    public static let cancelled = Kind(name: "cancelled")

    /// The name.
    public var description: String { name }
  }
}

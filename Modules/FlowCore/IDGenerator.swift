import Foundation

/// The identity port: where flow-run and task-run IDs come from.
public protocol IDGenerator: Sendable {
  /// A new identifier, unique within this generator.
  func next() -> UUID
}

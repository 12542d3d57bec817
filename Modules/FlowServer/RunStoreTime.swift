import FlowCore
import Foundation

/// Instants as the server shows them.
enum RunStoreTime {
  /// ISO 8601 UTC with milliseconds.
  static func iso8601(_ date: Date) -> String { RunStoreReading.iso8601(date) }
}

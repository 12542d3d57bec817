import Foundation

/// The instant every manual test clock starts at.
let clockStart = Date(timeIntervalSince1970: 1_800_000_000)

/// `clockStart` moved by `seconds`.
func at(_ seconds: TimeInterval) -> Date { clockStart.addingTimeInterval(seconds) }

/// A sleeper's report: who woke and what the clock read when it did.
struct Wake: Sendable, Equatable {
  let label: String
  let now: Date
}

// The stand-ins that the README and the DocC articles leave to the reader: a user's own types,
// functions, tasks and flows, defined just enough for the examples to compile.

import FlowCore
import Foundation

/// A user's row type.
struct Row: Codable, Sendable, Hashable {
  var value: Double
}

/// A user's loader.
func readRows(_ path: String) async throws -> [Row] {
  [Row(value: Double(path.count))]
}

/// A user's model type.
struct Model: Codable, Sendable, Hashable {
  var mean: Double
  var depth: Int

  init(rows: [Row], depth: Int) {
    mean = rows.isEmpty ? 0 : rows.map(\.value).reduce(0, +) / Double(rows.count)
    self.depth = depth
  }

  func score() -> Double { mean * Double(depth) }
}

/// A user's task.
let extract = task("extract") { () -> Int in 42 }

/// The time zone the schedule examples use.
let berlin = TimeZone(identifier: "Europe/Berlin")!

/// A user's flow.
let myFlow = Flow("my-flow") { extract() }

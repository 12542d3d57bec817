import Foundation

/// Runs a test body across many seeds, as a Swift Testing test does with
/// `@Test func f() async throws { try await SimulationSeeds.run(0..<500) { seed in ... } }`.
///
/// The first seed whose body throws stops the run with a ``SimulationError`` that names the
/// seed and the one command line that reruns only it (also printed on standard error):
/// `FLOW_SIM_SEED=17 swift test --filter 'FlowSimulationTests\..*/f\('`. With `FLOW_SIM_SEED`
/// set, only that seed runs.
public enum SimulationSeeds {
  /// The environment variable that restricts a run to one seed.
  public static let environmentVariable = "FLOW_SIM_SEED"

  /// The seeds of a command-line range, `A..B` (inclusive) or `A..<B`, at most 1,000,000.
  public static func range(parsing text: String) throws(SimulationError) -> [UInt64] {
    let halfOpen = text.contains("..<")
    let parts = text.components(separatedBy: halfOpen ? "..<" : "..")
    guard parts.count == 2, let low = UInt64(parts[0]), let high = UInt64(parts[1]),
      halfOpen ? low < high : low <= high
    else {
      throw SimulationError(
        .badArgument, "--seeds takes A..B or A..<B with A ≤ B (e.g. 0..99), got '\(text)'")
    }
    guard high - low <= 1_000_000 else {
      throw SimulationError(.badArgument, "--seeds covers more than 1,000,000 seeds: '\(text)'")
    }
    return halfOpen ? Array(low..<high) : Array(low...high)
  }

  /// A command-line task duration, `100ms` or `2s` (at most a day).
  public static func duration(parsing text: String) throws(SimulationError) -> Duration {
    for (suffix, scale) in [("ms", 1e-3), ("s", 1.0)] where text.hasSuffix(suffix) {
      if let value = Double(text.dropLast(suffix.count)), value >= 0, value <= 86_400 / scale {
        return .milliseconds(Int64((value * scale * 1000).rounded()))
      }
    }
    throw SimulationError(.badArgument, "--task-duration takes 100ms or 2s, got '\(text)'")
  }

  /// The seed `FLOW_SIM_SEED` asks for, if it is set.
  public static var requestedSeed: UInt64? {
    ProcessInfo.processInfo.environment[environmentVariable].flatMap { UInt64($0) }
  }

  /// Runs `body` for each of `seeds` (only `FLOW_SIM_SEED` when it is set) and throws at the
  /// first failure, naming the seed and how to rerun it. `filter` is what `swift test --filter`
  /// should match (by default the calling test's module and function).
  public static func run(
    _ seeds: some Sequence<UInt64>, filter: String? = nil, fileID: String = #fileID,
    function: String = #function, _ body: (UInt64) async throws -> Void
  ) async throws {
    let chosen: [UInt64] = requestedSeed.map { [$0] } ?? Array(seeds)
    for seed in chosen {
      await Task.yield()  // a long run of seeds leaves the other tasks of its thread a turn
      do {
        try await body(seed)
      } catch {
        let command = rerunCommand(
          seed: seed, filter: filter ?? defaultFilter(fileID: fileID, function: function))
        let message =
          "simulation failed for seed \(seed): \(error)\nrerun just this seed: \(command)"
        FileHandle.standardError.write(Data((message + "\n").utf8))
        throw SimulationError(.seedFailed, message, cause: error)
      }
    }
  }

  /// Runs `body` twice with `seed` and throws unless both runs return the same trace hash;
  /// returns the hash.
  @discardableResult
  public static func checkDeterminism(
    seed: UInt64, _ body: (UInt64) async throws -> UInt64
  ) async throws -> UInt64 {
    let first = try await body(seed)
    let second = try await body(seed)
    guard first == second else {
      throw SimulationError(
        .nondeterministic,
        "seed \(seed) gave trace hash \(SimulationTrace.hex(first)) then "
          + "\(SimulationTrace.hex(second)): something in the simulation reads real time, "
          + "global randomness, thread timing or unordered collections; route it through the "
          + "simulator's clock and random streams")
    }
    return first
  }

  /// `FLOW_SIM_SEED=<seed> swift test --filter '<filter>'`.
  public static func rerunCommand(seed: UInt64, filter: String) -> String {
    "\(environmentVariable)=\(seed) swift test --filter '\(filter)'"
  }

  /// A `--filter` regular expression for the test function `function` in the module that
  /// `fileID` names: `Module\..*/function\(`.
  public static func defaultFilter(fileID: String, function: String) -> String {
    let module = fileID.split(separator: "/").first.map(String.init) ?? fileID
    let name = function.split(separator: "(").first.map(String.init) ?? function
    return "\(module)\\..*/\(name)\\("
  }
}

import Testing

/// The README's branching, outcome, loop and mapping examples run, not only compile.
@Suite("README examples run")
struct ReadmeExamplesRunTests {
  @Test("branching with merge and an outcome input; a loop, flatten and outcomes()")
  func run() async throws {
    try await readmeBranchingAndOutcomes()
    try await readmeLoopsAndMaps()
  }
}

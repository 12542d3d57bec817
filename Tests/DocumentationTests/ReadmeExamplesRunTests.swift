import Testing

/// The README's branching, outcome, loop and mapping examples run, not only compile.
@Suite("README examples run")
struct ReadmeExamplesRunTests {
  @Test("branching with merge and an outcome input; a loop, flatten and outcomes()")
  func run() async throws {
    // The linear branch ran and its evaluation succeeded, so notify reports its score.
    #expect(try await readmeBranchingAndOutcomes().hasPrefix("score "))
    let loop = try await readmeLoopsAndMaps()
    #expect(loop.fibonacci == 987 && loop.iterations == 17)
  }
}

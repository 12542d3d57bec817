// FlowTesting is the harness users depend on: the light test kit (virtual clock, seeded
// randomness and IDs, log capture) and, in this module, the simulator.
@_exported import FlowTestKit

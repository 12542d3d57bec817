// FlowTesting is the harness users depend on: the light test kit (virtual clock, seeded
// randomness and IDs, log capture), the simulator (kernel, network, faults, simulated cluster),
// and in this module the in-memory run store and the run replayer.
@_exported import FlowSimulation
@_exported import FlowTestKit

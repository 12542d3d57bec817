// The lease type lives in FlowCore (the store port hands leases out); users of the
// orchestration machines get it with them.
@_exported import struct FlowCore.RunLease

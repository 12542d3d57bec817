// swift-tools-version: 6.1
import PackageDescription

let package = Package(
  name: "swift-flow",
  platforms: [.macOS(.v15)],
  products: [
    .library(name: "FlowState", targets: ["FlowState"]),
    .library(name: "FlowCore", targets: ["FlowCore"]),
    .library(name: "FlowExecutors", targets: ["FlowExecutors"]),
    .library(name: "FlowLogging", targets: ["FlowLogging"]),
    .library(name: "FlowResults", targets: ["FlowResults"]),
    .library(name: "FlowScheduling", targets: ["FlowScheduling"]),
    .library(name: "FlowTestKit", targets: ["FlowTestKit"]),
    .library(name: "FlowSimulation", targets: ["FlowSimulation"]),
    .library(name: "FlowTesting", targets: ["FlowTesting"]),
    .library(name: "FlowClusterProtocol", targets: ["FlowClusterProtocol"]),
    .library(name: "FlowCluster", targets: ["FlowCluster"]),
    .library(name: "FlowOrchestration", targets: ["FlowOrchestration"]),
    .library(name: "FlowCLI", targets: ["FlowCLI"]),
    .library(name: "FlowStoreSQLite", targets: ["FlowStoreSQLite"]),
    .library(name: "FlowStorePostgres", targets: ["FlowStorePostgres"]),
    .library(name: "FlowServer", targets: ["FlowServer"]),
    .executable(name: "ticket-model-evaluation", targets: ["TicketModelEvaluation"]),
    .executable(name: "iris-pipeline", targets: ["IrisPipeline"]),
    .executable(name: "flow-bench", targets: ["FlowBench"]),
    .executable(name: "flow", targets: ["FlowTool"]),
    .executable(name: "taxi-resource-manager", targets: ["TaxiResourceManager"]),
  ],
  dependencies: [
    .package(url: "https://github.com/apple/swift-collections", from: "1.1.0"),
    .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    .package(url: "https://github.com/apple/swift-log", from: "1.16.0"),
    .package(url: "https://github.com/weichsel/ZIPFoundation", from: "0.9.20"),
    .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
    .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
    .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
    .package(url: "https://github.com/vapor/sqlite-nio", from: "1.13.2"),
    .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
    .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
    .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
    .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    .package(url: "https://github.com/apple/swift-http-types", from: "1.0.0"),
    .package(url: "https://github.com/apple/swift-distributed-tracing", from: "1.7.3"),
  ],
  targets: [
    .target(name: "FlowState", path: "Modules/FlowState"),
    .target(
      name: "FlowCore",
      dependencies: ["FlowState", .product(name: "Logging", package: "swift-log")],
      path: "Modules/FlowCore"
    ),
    .target(
      name: "FlowLogging",
      dependencies: [
        "FlowCore", "FlowState", .product(name: "Logging", package: "swift-log"),
        .product(name: "DequeModule", package: "swift-collections"),
      ],
      path: "Modules/FlowLogging"
    ),
    .target(
      name: "FlowResults", dependencies: ["FlowCore", "FlowState"], path: "Modules/FlowResults"),
    .target(name: "FlowScheduling", dependencies: ["FlowCore"], path: "Modules/FlowScheduling"),
    .target(
      name: "FlowExecutors",
      dependencies: [
        "FlowCore", "FlowState", "FlowLogging", "FlowResults", "FlowScheduling",
        .product(name: "DequeModule", package: "swift-collections"),
        .product(name: "Logging", package: "swift-log"),
        .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        .product(name: "Tracing", package: "swift-distributed-tracing"),
      ],
      path: "Modules/FlowExecutors"
    ),
    .target(
      name: "FlowTestKit",
      dependencies: [
        "FlowCore", .product(name: "HeapModule", package: "swift-collections"),
        .product(name: "Logging", package: "swift-log"),
        .product(name: "InMemoryLogging", package: "swift-log"),
      ],
      path: "Modules/FlowTestKit"
    ),
    .target(
      name: "FlowSimulation",
      dependencies: [
        "FlowTestKit", "FlowCore", .product(name: "HeapModule", package: "swift-collections"),
        "FlowState", "FlowScheduling", "FlowClusterProtocol", "FlowCluster", "FlowExecutors",
        "FlowLogging",
      ],
      path: "Modules/FlowSimulation"
    ),
    .target(
      name: "FlowTesting",
      dependencies: ["FlowTestKit", "FlowSimulation", "FlowCore", "FlowExecutors"],
      path: "Modules/FlowTesting"
    ),
    .target(
      name: "FlowClusterProtocol",
      dependencies: [.product(name: "HeapModule", package: "swift-collections")],
      path: "Modules/FlowClusterProtocol"
    ),
    .target(
      name: "FlowCluster",
      dependencies: [
        "FlowClusterProtocol", "FlowCore", "FlowExecutors", "FlowLogging",
        .product(name: "Logging", package: "swift-log"),
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "NIOPosix", package: "swift-nio"),
        .product(name: "NIOSSL", package: "swift-nio-ssl"),
        .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
      ],
      path: "Modules/FlowCluster"
    ),
    .target(
      name: "FlowStoreSQLite",
      dependencies: [
        "FlowCore", .product(name: "SQLiteNIO", package: "sqlite-nio"),
        .product(name: "Logging", package: "swift-log"),
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "NIOPosix", package: "swift-nio"),
      ],
      path: "Modules/FlowStoreSQLite"
    ),
    .target(
      name: "FlowStorePostgres",
      dependencies: [
        "FlowCore", .product(name: "PostgresNIO", package: "postgres-nio"),
        .product(name: "Logging", package: "swift-log"),
      ],
      path: "Modules/FlowStorePostgres"
    ),
    .target(
      name: "FlowServer",
      dependencies: [
        "FlowCore", "FlowState", "FlowClusterProtocol", "FlowOrchestration",
        .product(name: "Hummingbird", package: "hummingbird"),
        .product(name: "Metrics", package: "swift-metrics"),
        .product(name: "Prometheus", package: "swift-prometheus"),
        .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        .product(name: "Logging", package: "swift-log"),
        .product(name: "HTTPTypes", package: "swift-http-types"),
      ],
      path: "Modules/FlowServer"
    ),
    .target(
      name: "FlowOrchestration",
      dependencies: [
        "FlowCore", "FlowExecutors", "FlowResults", "FlowScheduling",
        .product(name: "Logging", package: "swift-log"),
        .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
      ],
      path: "Modules/FlowOrchestration"),
    .target(
      name: "FlowCLI",
      dependencies: [
        "FlowCore", "FlowExecutors", "FlowLogging", "FlowScheduling", "FlowState", "FlowCluster",
        "FlowClusterProtocol", "FlowTesting", "FlowStoreSQLite", "FlowStorePostgres",
        "FlowOrchestration", "FlowResults",
        .product(name: "UnixSignals", package: "swift-service-lifecycle"),
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
        .product(name: "Logging", package: "swift-log"),
        .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
      ],
      path: "Modules/FlowCLI"
    ),
    .target(
      name: "TicketModel",
      dependencies: [
        "FlowCore", "FlowScheduling",
        .product(name: "ZIPFoundation", package: "ZIPFoundation"),
      ],
      path: "Samples/TicketModelEvaluation/TicketModel",
      resources: [
        .copy("Resources/incident_event_log.zip"), .copy("Resources/LICENSE-DATA.md"),
      ]
    ),
    .executableTarget(
      name: "TicketModelEvaluation",
      dependencies: ["TicketModel", "FlowCLI", .product(name: "Logging", package: "swift-log")],
      path: "Samples/TicketModelEvaluation/Main"
    ),
    .executableTarget(
      name: "IrisPipeline",
      dependencies: [
        "FlowCore", "FlowExecutors", "FlowResults", "FlowCLI",
        .product(name: "Logging", package: "swift-log"),
      ],
      path: "Samples/IrisPipeline",
      resources: [.copy("Resources/iris.csv"), .copy("Resources/LICENSE-DATA.md")]
    ),
    .executableTarget(
      name: "TaxiResourceManager",
      dependencies: [
        "FlowCore", "FlowExecutors", "FlowCluster", "FlowCLI",
        .product(name: "Logging", package: "swift-log"),
      ],
      path: "Samples/TaxiResourceManager",
      resources: [
        .copy("Resources/yellow_tripdata_2019-01_sample_tlc.csv"),
        .copy("Resources/LICENSE-DATA.md"),
      ]
    ),
    .target(
      name: "FlowSimulationBenchmark",
      dependencies: ["FlowSimulation", "FlowScheduling"],
      path: "Tools/FlowSimulationBenchmark"
    ),
    .executableTarget(
      name: "FlowBench",
      dependencies: [
        "FlowCore", "FlowExecutors", "FlowScheduling", "FlowCluster", "FlowClusterProtocol",
        "FlowTesting", "FlowSimulationBenchmark", "TicketModel", "FlowStoreSQLite",
        "FlowStorePostgres", "FlowServer", "FlowOrchestration",
        .product(name: "Logging", package: "swift-log"),
        .product(name: "PostgresNIO", package: "postgres-nio"),
      ],
      path: "Tools/FlowBench"
    ),
    .executableTarget(
      name: "FlowTool",
      dependencies: [
        "FlowScheduling", .product(name: "ArgumentParser", package: "swift-argument-parser"),
        "FlowCluster", "FlowClusterProtocol", "FlowCore", "FlowExecutors", "FlowCLI", "FlowServer",
        .product(name: "Logging", package: "swift-log"), "FlowTesting", "FlowSimulationBenchmark",
      ],
      path: "Tools/FlowTool"
    ),
    .testTarget(name: "FlowStateTests", dependencies: ["FlowState"]),
    .testTarget(name: "FlowCoreTests", dependencies: ["FlowCore", "FlowState", "FlowTestKit"]),
    .testTarget(
      name: "FlowTestKitTests",
      dependencies: ["FlowTestKit", "FlowCore", .product(name: "Logging", package: "swift-log")]),
    .testTarget(
      name: "FlowExecutorsTests",
      dependencies: [
        "FlowExecutors", "FlowCore", "FlowResults", "FlowScheduling", "FlowState", "FlowTesting",
        .product(name: "Logging", package: "swift-log"),
        .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        .product(name: "Tracing", package: "swift-distributed-tracing"),
        .product(name: "InMemoryTracing", package: "swift-distributed-tracing"),
      ]),
    .testTarget(
      name: "FlowTestingTests",
      dependencies: ["FlowTesting", "FlowCore", "FlowState", "FlowExecutors"]),
    .testTarget(
      name: "FlowSimulationTests",
      dependencies: [
        "FlowSimulation", "FlowTestKit", "FlowCore", "FlowState", "FlowScheduling",
        "FlowClusterProtocol", "FlowExecutors",
      ]),
    .testTarget(
      name: "FlowLoggingTests",
      dependencies: [
        "FlowLogging", "FlowCore", "FlowState", "FlowExecutors", "FlowTesting",
        .product(name: "Logging", package: "swift-log"),
      ]),
    .testTarget(
      name: "FlowResultsTests",
      dependencies: ["FlowResults", "FlowCore", "FlowState", "FlowExecutors", "FlowTesting"]),
    .testTarget(
      name: "FlowSchedulingTests",
      dependencies: ["FlowScheduling", "FlowCore", "FlowTesting"],
      resources: [.copy("Resources/cron-cronsim.jsonl")]
    ),
    .testTarget(name: "FlowClusterProtocolTests", dependencies: ["FlowClusterProtocol"]),
    .testTarget(
      name: "FlowClusterTests",
      dependencies: [
        "FlowCluster", "FlowClusterProtocol", "FlowCore", "FlowExecutors",
        .product(name: "Logging", package: "swift-log"),
        .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        .product(name: "Tracing", package: "swift-distributed-tracing"),
        .product(name: "InMemoryTracing", package: "swift-distributed-tracing"),
      ],
      exclude: ["Resources/README.md"],
      resources: [.copy("Resources/test-cert.pem"), .copy("Resources/test-key.pem")]
    ),
    .testTarget(
      name: "FlowCLITests",
      dependencies: [
        "FlowCLI", "FlowCore", "FlowExecutors", "FlowScheduling", "FlowCluster", "FlowTesting",
        "FlowStoreSQLite",
      ]),
    .testTarget(
      name: "TicketModelTests",
      dependencies: [
        "TicketModel", "FlowCore", "FlowExecutors", "FlowTesting",
        .product(name: "NIOCore", package: "swift-nio"),
        .product(name: "NIOPosix", package: "swift-nio"),
      ],
      resources: [.copy("Resources/incident_event_log_first1000.csv")]),
    .testTarget(
      name: "FlowStoreConformanceTests",
      dependencies: [
        "FlowCore", "FlowTesting", "FlowStoreSQLite", "FlowStorePostgres",
        .product(name: "PostgresNIO", package: "postgres-nio"),
        .product(name: "Logging", package: "swift-log"),
      ]),
    .testTarget(
      name: "FlowStoreSQLiteTests",
      dependencies: [
        "FlowStoreSQLite", "FlowCore", "FlowExecutors", "FlowTesting",
        .product(name: "SQLiteNIO", package: "sqlite-nio"),
      ],
      resources: [.copy("Resources/schema-4-ticket-run.sqlite")]),
    .executableTarget(
      name: "RecordingProbe",
      dependencies: ["FlowCLI", "FlowCore", "FlowResults"],
      path: "IntegrationTests/RecordingProbe"
    ),
    .executableTarget(
      name: "AgentProbe",
      dependencies: ["FlowCLI", "FlowCore", "FlowResults"],
      path: "IntegrationTests/AgentProbe"
    ),
    .testTarget(
      name: "FlowOrchestrationTests",
      dependencies: [
        "FlowOrchestration", "FlowCore", "FlowScheduling", "FlowTesting", "FlowExecutors",
        "FlowStorePostgres", "FlowStoreSQLite", "FlowResults",
        .product(name: "Logging", package: "swift-log"),
        .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
      ]),
    .testTarget(
      name: "FlowServerTests",
      dependencies: [
        "FlowServer", "FlowCore", "FlowExecutors", "FlowTesting", "FlowStoreSQLite",
        "FlowStorePostgres", "FlowClusterProtocol",
        .product(name: "PostgresNIO", package: "postgres-nio"),
        .product(name: "HummingbirdTesting", package: "hummingbird"),
        .product(name: "HTTPTypes", package: "swift-http-types"),
      ]),
    .testTarget(
      name: "DocumentationTests",
      dependencies: [
        "FlowCore", "FlowExecutors", "FlowResults", "FlowScheduling", "FlowCluster", "FlowTesting",
        "FlowStoreSQLite", .product(name: "Logging", package: "swift-log"),
        .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
      ]),
    .testTarget(
      name: "FlowIntegrationTests",
      dependencies: [
        "IrisPipeline", "TicketModelEvaluation", "FlowTool", "TaxiResourceManager",
        "RecordingProbe", "AgentProbe", "FlowCore", "FlowStoreSQLite", "FlowStorePostgres",
        "FlowClusterProtocol",
      ],
      path: "IntegrationTests/FlowIntegrationTests"
    ),
  ]
)

// One settings block for every target (as swift-log and swift-nio do).
for target in package.targets {
  var settings = target.swiftSettings ?? []
  settings.append(.swiftLanguageMode(.v6))
  settings.append(.enableUpcomingFeature("ExistentialAny"))
  target.swiftSettings = settings
}

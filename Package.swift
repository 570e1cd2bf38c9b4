// swift-tools-version: 6.2
import PackageDescription

let log: Target.Dependency = .product(name: "Logging", package: "swift-log")
let crypto: Target.Dependency = .product(name: "Crypto", package: "swift-crypto")
let lifecycle: Target.Dependency = .product(name: "ServiceLifecycle", package: "swift-service-lifecycle")
let httpClient: Target.Dependency = .product(name: "AsyncHTTPClient", package: "async-http-client")
let coreMetrics: Target.Dependency = .product(name: "CoreMetrics", package: "swift-metrics")
/// Our own targets build with warnings as errors (ignored when this package is someone's dependency).
let strict: [SwiftSetting] = [.treatAllWarnings(as: .error)]

let package = Package(
    name: "synclayer",
    platforms: [.macOS(.v15)],
    products: [
        // What a package that depends on us can import: the node library and the server. Everything
        // the targets share among themselves is `package` access, not public API (Docs/API/).
        .library(name: "SyncLayer", targets: ["SyncLayer"]),
        .library(name: "SyncServer", targets: ["SyncServer"]),
        .executable(name: "synclayer", targets: ["SyncLayerCLI"]),
        .executable(name: "avahi-probe", targets: ["AvahiProbe"]),
        .executable(name: "store-benchmark", targets: ["StoreBenchmark"]),
        .executable(name: "sync-benchmark", targets: ["SyncBenchmark"]),
    ],
    // PostgreSQL as the server's store (postgres-nio, which imports Foundation): on by default, so
    // `swift build` and the tests have it; scripts/build-release turns it off, so the shipped node
    // binary keeps its no-Foundation build (Docs/Operations.md).
    traits: [
        .trait(name: "PostgreSQL", description: "The server can keep its data in PostgreSQL (synclayer server --data postgres://…)."),
        .trait(name: "HopTrace", description: "Marks each step of a write's way to watch() on another node, for sync-benchmark --only latency (Docs/Benchmarks.md)."),
        .default(enabledTraits: ["PostgreSQL"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        // No traits: without FullFoundation and ConfigurationSupport, Hummingbird needs only
        // FoundationEssentials, so a statically linked node carries no Foundation, CoreFoundation or ICU.
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1", traits: []),
        .package(url: "https://github.com/hummingbird-project/hummingbird-websocket", from: "2.8.1"),
        .package(url: "https://github.com/hummingbird-project/swift-websocket", from: "1.6.2"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-nio-extras", from: "1.35.2"),
        .package(url: "https://github.com/vapor/postgres-nio", from: "1.33.2"),
        // Metrics: emitted through swift-metrics, exposed at /metrics in Prometheus' text format.
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        // `swift package generate-documentation` (scripts/docs): the DocC catalogs of SyncLayer and SyncServer.
        .package(url: "https://github.com/swiftlang/swift-docc-plugin", from: "1.5.0"),
    ],
    targets: [
        .systemLibrary(name: "CSQLite", providers: [.apt(["libsqlite3-dev"])]),
        .systemLibrary(name: "CAvahi", providers: [.apt(["libavahi-client-dev"])]),
        .target(name: "SyncDiscovery", dependencies: ["CAvahi", log], swiftSettings: strict),
        .executableTarget(name: "AvahiProbe", dependencies: ["SyncDiscovery"], swiftSettings: strict),
        .target(name: "SyncCore", dependencies: [crypto], swiftSettings: strict),
        .target(name: "SyncStore", dependencies: ["SyncCore", "CSQLite", log], swiftSettings: strict),
        // One registry per server or node, in Prometheus' text format (Docs/Operations.md, "Metrics").
        .target(name: "SyncTelemetry", dependencies: [
            coreMetrics, .product(name: "Prometheus", package: "swift-prometheus"),
        ], swiftSettings: strict),
        .target(name: "SyncLayer", dependencies: [
            "SyncCore", "SyncStore", "SyncDiscovery", crypto, log, lifecycle, httpClient, coreMetrics,
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
            .product(name: "WSClient", package: "swift-websocket"),
            .product(name: "WSCore", package: "swift-websocket"),
            .product(name: "HTTPTypes", package: "swift-http-types"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOWebSocket", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
        ], swiftSettings: strict),
        .target(name: "SyncServer", dependencies: [
            "SyncCore", "SyncStore", "SyncTelemetry", crypto, log, lifecycle, coreMetrics,
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HummingbirdCore", package: "hummingbird"),
            .product(name: "HummingbirdTLS", package: "hummingbird"),
            .product(name: "HTTPTypes", package: "swift-http-types"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "NIOWebSocket", package: "swift-nio"),
            .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
            .product(name: "NIOHTTPTypesHTTP1", package: "swift-nio-extras"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
            .product(name: "PostgresNIO", package: "postgres-nio", condition: .when(traits: ["PostgreSQL"])),
        ], swiftSettings: strict),
        .executableTarget(name: "SyncLayerCLI", dependencies: [
            "SyncCore", "SyncStore", "SyncLayer", "SyncServer", "SyncDiscovery", "SyncTelemetry", log, lifecycle, httpClient,
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
        ], swiftSettings: strict),
        .target(name: "SyncTesting", dependencies: [
            "SyncCore", "SyncStore", "SyncLayer", "SyncServer", log, lifecycle,
            .product(name: "PostgresNIO", package: "postgres-nio", condition: .when(traits: ["PostgreSQL"])),
            .product(name: "WSClient", package: "swift-websocket"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
        ], swiftSettings: strict),
        .target(name: "BenchmarkSupport", path: "Benchmarks/BenchmarkSupport", swiftSettings: strict),
        .executableTarget(name: "StoreBenchmark", dependencies: ["SyncCore", "SyncLayer", "CSQLite", "BenchmarkSupport"], path: "Benchmarks/StoreBenchmark", swiftSettings: strict),
        .executableTarget(name: "SyncBenchmark", dependencies: [
            "SyncCore", "SyncStore", "SyncLayer", "SyncServer", "SyncTesting", "BenchmarkSupport", log, lifecycle, httpClient,
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
            .product(name: "WSClient", package: "swift-websocket"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "NIOWebSocket", package: "swift-nio"),
            // Part 10 (several instances on PostgreSQL) and its raw-INSERT baseline.
            .product(name: "PostgresNIO", package: "postgres-nio", condition: .when(traits: ["PostgreSQL"])),
        ], path: "Benchmarks/SyncBenchmark", exclude: ["broadcast_server.py", "floor_server.py"], swiftSettings: strict),
        .testTarget(name: "SyncDiscoveryTests", dependencies: ["SyncDiscovery", "CAvahi", log], swiftSettings: strict),
        .testTarget(name: "SyncCoreTests", dependencies: ["SyncCore", "SyncTesting"], swiftSettings: strict),
        .testTarget(name: "SyncStoreTests", dependencies: ["SyncCore", "SyncStore", "SyncTesting"], swiftSettings: strict),
        .testTarget(name: "SyncLayerTests", dependencies: [
            "SyncCore", "SyncStore", "SyncDiscovery", "SyncLayer", "SyncTesting", log,
            .product(name: "WSCore", package: "swift-websocket"),
            .product(name: "NIOWebSocket", package: "swift-nio"),
        ], swiftSettings: strict),
        .testTarget(name: "CLITests", dependencies: ["SyncCore", "SyncLayer", "SyncTesting"], swiftSettings: strict),
        .testTarget(name: "SyncIntegrationTests", dependencies: [
            "SyncCore", "SyncStore", "SyncLayer", "SyncServer", "SyncTesting", httpClient, log,
            // DocumentedBackend: a backend of the original protocol, written from its documents.
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOSSL", package: "swift-nio-ssl"),
        ], swiftSettings: strict),
        .testTarget(name: "SyncServerTests", dependencies: [
            "SyncCore", "SyncStore", "SyncServer", "SyncTelemetry", "SyncTesting", httpClient,
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOEmbedded", package: "swift-nio"),
            .product(name: "NIOHTTP1", package: "swift-nio"),
            .product(name: "NIOWebSocket", package: "swift-nio"),
        ], swiftSettings: strict),
    ]
)

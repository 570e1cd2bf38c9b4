// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "synclayer",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "SyncCore", targets: ["SyncCore"]),
        .library(name: "SyncStore", targets: ["SyncStore"]),
        .library(name: "SyncLayer", targets: ["SyncLayer"]),
        .library(name: "SyncServer", targets: ["SyncServer"]),
        .library(name: "SyncTesting", targets: ["SyncTesting"]),
        .executable(name: "synclayer", targets: ["SyncLayerCLI"]),
        .executable(name: "store-benchmark", targets: ["StoreBenchmark"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird-websocket", from: "2.8.1"),
        .package(url: "https://github.com/hummingbird-project/swift-websocket", from: "1.6.2"),
        .package(url: "https://github.com/swift-server/async-http-client", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
    ],
    targets: [
        .systemLibrary(name: "CSQLite", providers: [.apt(["libsqlite3-dev"])]),
        .target(name: "SyncCore", dependencies: [.product(name: "Crypto", package: "swift-crypto")]),
        .target(name: "SyncStore", dependencies: ["SyncCore", "CSQLite", .product(name: "Logging", package: "swift-log")]),
        .target(name: "SyncLayer", dependencies: [
            "SyncCore", "SyncStore",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "WSClient", package: "swift-websocket"),
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "HTTPTypes", package: "swift-http-types"),
        ]),
        .target(name: "SyncServer", dependencies: [
            "SyncCore", "SyncStore",
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "HummingbirdWebSocket", package: "hummingbird-websocket"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
        ]),
        .executableTarget(name: "SyncLayerCLI", dependencies: [
            "SyncLayer", "SyncServer",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
            .product(name: "Hummingbird", package: "hummingbird"),
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
        ]),
        .target(name: "SyncTesting", dependencies: [
            "SyncLayer", "SyncServer",
            .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            .product(name: "WSClient", package: "swift-websocket"),
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
        ]),
        .executableTarget(name: "StoreBenchmark", dependencies: ["SyncLayer", "CSQLite"], path: "Benchmarks/StoreBenchmark"),
        .testTarget(name: "SyncCoreTests", dependencies: ["SyncCore", "SyncTesting"]),
        .testTarget(name: "SyncStoreTests", dependencies: ["SyncStore", "SyncTesting"]),
        .testTarget(name: "SyncLayerTests", dependencies: ["SyncLayer", "SyncTesting"]),
        .testTarget(name: "CLITests", dependencies: ["SyncLayer", "SyncTesting"]),
        .testTarget(name: "SyncIntegrationTests", dependencies: [
            "SyncLayer", "SyncServer", "SyncTesting",
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
        ]),
        .testTarget(name: "SyncServerTests", dependencies: [
            "SyncServer", "SyncTesting",
            .product(name: "AsyncHTTPClient", package: "async-http-client"),
        ]),
    ]
)

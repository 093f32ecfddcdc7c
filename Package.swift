// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "splitd",
    platforms: [.macOS(.v14)],
    // What users get: the two executables. The modules are internal to this package (their
    // shared declarations are `package`; SplitCore, SplitImport and SplitSim keep `public` API).
    products: [
        .executable(name: "splitctl", targets: ["splitctl"]),
        .executable(name: "splitd", targets: ["splitd"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle", from: "2.13.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-http-types", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
    ],
    targets: [
        // Pure planning: graphs, cost model, max-flow, planners. No I/O.
        .target(name: "SplitCore"),
        // Small shared helpers: hex, secure random tokens, constant-time comparison, RFC 3339 timestamps.
        .target(name: "SplitSupport"),
        // Model import: ONNX (own protobuf wire reader) and PipeDream profiles to splitgraph/1. No I/O.
        .target(name: "SplitImport", dependencies: ["SplitCore"]),
        // Training-delay simulation over network traces.
        .target(name: "SplitSim", dependencies: ["SplitCore"]),
        // PostgreSQL through libpq: pool, migrations, embedded cluster, repositories.
        .systemLibrary(name: "CLibPQ", pkgConfig: "libpq", providers: [.apt(["libpq-dev"])]),
        .target(name: "CSpawn"),
        .target(
            name: "SplitStore",
            dependencies: ["CLibPQ", "CSpawn", "SplitCore", "SplitSupport", .product(name: "Crypto", package: "swift-crypto")]),
        // Signed webhooks through libcurl.
        .systemLibrary(name: "CCurl", pkgConfig: "libcurl", providers: [.apt(["libcurl4-openssl-dev"])]),
        .target(name: "CCurlShim", dependencies: ["CCurl"]),
        .target(
            name: "SplitPush",
            dependencies: ["CCurl", "CCurlShim", "SplitSupport", .product(name: "Crypto", package: "swift-crypto")]),
        // The daemon: HTTP API, planning loop, delivery workers, maintenance.
        .target(
            name: "SplitServer",
            dependencies: [
                "SplitCore", "SplitImport", "SplitSim", "SplitStore", "SplitPush", "SplitSupport",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdCore", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            resources: [.copy("Resources/openapi.yaml")]),
        // Throughput benchmarks of the store and the services (`splitd bench ...`); not part of the daemon.
        .target(
            name: "SplitBench",
            dependencies: [
                "SplitCore", "SplitStore", "SplitPush", "SplitServer", "SplitSupport",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ]),
        .executableTarget(
            name: "splitd",
            dependencies: [
                "SplitServer", "SplitBench", "SplitStore", "SplitCore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"), .product(name: "Logging", package: "swift-log"),
            ]),
        .executableTarget(
            name: "splitctl",
            dependencies: ["SplitCore", "SplitSim", "SplitImport", .product(name: "ArgumentParser", package: "swift-argument-parser")]),
        // Tests. Unit test targets (`<Module>Tests`) run in process: no PostgreSQL, no child
        // processes, no sockets. Integration test targets (`<Module>IntegrationTests`) start
        // PostgreSQL clusters, HTTP receivers and the built executables. `ops/test --unit` runs the first.
        // What every test may use: the package root, polling for a condition.
        .target(name: "SplitTestSupport", path: "Tests/SplitTestSupport"),
        // Seeded corruptions of user input (bytes and JSON) shared by the decoders' fuzz tests.
        .target(name: "SplitFuzzSupport", dependencies: ["SplitCore"], path: "Tests/SplitFuzzSupport"),
        // What integration tests share: test databases on a private PostgreSQL cluster, webhook receivers.
        .target(
            name: "SplitIntegrationSupport",
            dependencies: [
                "SplitStore", "SplitTestSupport",
                .product(name: "Hummingbird", package: "hummingbird"), .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"), .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Tests/SplitIntegrationSupport"),
        .testTarget(name: "SplitCoreTests", dependencies: ["SplitCore", "SplitFuzzSupport", "SplitTestSupport"]),
        .testTarget(name: "SplitSupportTests", dependencies: ["SplitSupport"]),
        .testTarget(name: "SplitSimTests", dependencies: ["SplitSim", "SplitCore", "SplitFuzzSupport", "SplitTestSupport"]),
        .testTarget(
            name: "SplitImportTests", dependencies: ["SplitImport", "SplitCore", "SplitFuzzSupport", "SplitTestSupport"], exclude: ["Fixtures"]),
        .testTarget(name: "SplitPushTests", dependencies: ["SplitPush"]),
        .testTarget(
            name: "SplitServerTests",
            dependencies: [
                "SplitStore", "SplitCore", "SplitPush", "SplitServer", "SplitBench", "SplitSupport", "SplitTestSupport", "SplitFuzzSupport",
                .product(name: "Hummingbird", package: "hummingbird"), .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
            ]),
        .testTarget(
            name: "SplitStoreIntegrationTests", dependencies: ["SplitStore", "SplitCore", "SplitTestSupport", "SplitIntegrationSupport"]),
        .testTarget(name: "SplitPushIntegrationTests", dependencies: ["SplitPush", "SplitIntegrationSupport"]),
        // The executables are dependencies (never imported) so that the tests that run them find them built.
        .testTarget(
            name: "SplitServerIntegrationTests",
            dependencies: [
                "SplitStore", "SplitCore", "SplitPush", "SplitServer", "SplitBench", "SplitSupport", "SplitTestSupport",
                "SplitIntegrationSupport", "splitd", "splitctl", .product(name: "Logging", package: "swift-log"),
            ]),
        .testTarget(name: "SplitCTLIntegrationTests", dependencies: ["splitctl", "SplitFuzzSupport", "SplitTestSupport"]),
    ],
    swiftLanguageModes: [.v6]
)

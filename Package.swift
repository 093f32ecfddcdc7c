// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "splitd",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "SplitCore", targets: ["SplitCore"]),
        .library(name: "SplitSim", targets: ["SplitSim"]),
        .library(name: "SplitStore", targets: ["SplitStore"]),
        .executable(name: "splitctl", targets: ["splitctl"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.3"),
    ],
    targets: [
        .target(name: "SplitCore"),
        .target(name: "SplitSim", dependencies: ["SplitCore"]),
        .systemLibrary(name: "CLibPQ", pkgConfig: "libpq", providers: [.apt(["libpq-dev"])]),
        .target(name: "CSpawn"),
        .target(
            name: "SplitStore",
            dependencies: ["CLibPQ", "CSpawn", "SplitCore", .product(name: "Crypto", package: "swift-crypto")]),
        .executableTarget(
            name: "splitctl",
            dependencies: [
                "SplitCore",
                "SplitSim",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .testTarget(name: "SplitCoreTests", dependencies: ["SplitCore"]),
        .testTarget(name: "SplitStoreTests", dependencies: ["SplitStore", "SplitCore"]),
        .testTarget(name: "SplitSimTests", dependencies: ["SplitSim", "SplitCore"]),
        .testTarget(name: "SplitCTLTests", dependencies: ["splitctl"]),
    ],
    swiftLanguageModes: [.v6]
)

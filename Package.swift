// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "splitd",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "SplitCore", targets: ["SplitCore"]),
        .library(name: "SplitSim", targets: ["SplitSim"]),
        .executable(name: "splitctl", targets: ["splitctl"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    ],
    targets: [
        .target(name: "SplitCore"),
        .target(name: "SplitSim", dependencies: ["SplitCore"]),
        .executableTarget(
            name: "splitctl",
            dependencies: [
                "SplitCore",
                "SplitSim",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .testTarget(name: "SplitCoreTests", dependencies: ["SplitCore"]),
        .testTarget(name: "SplitSimTests", dependencies: ["SplitSim", "SplitCore"]),
        .testTarget(name: "SplitCTLTests", dependencies: ["splitctl"]),
    ],
    swiftLanguageModes: [.v6]
)

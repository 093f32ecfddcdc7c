// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "splitd",
    platforms: [.macOS(.v14)],
    products: [
        .library(name: "SplitCore", targets: ["SplitCore"]),
        .executable(name: "splitctl", targets: ["splitctl"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
    ],
    targets: [
        .target(name: "SplitCore"),
        .executableTarget(
            name: "splitctl",
            dependencies: [
                "SplitCore",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ]
        ),
        .testTarget(name: "SplitCoreTests", dependencies: ["SplitCore"]),
        .testTarget(name: "SplitCTLTests", dependencies: ["splitctl"]),
    ],
    swiftLanguageModes: [.v6]
)

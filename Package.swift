// swift-tools-version: 6.1
import PackageDescription

let package = Package(
    name: "Shunt",
    platforms: [.macOS(.v13)],
    products: [
        .library(name: "ShuntWire", targets: ["ShuntWire"]),
        .library(name: "ShuntSession", targets: ["ShuntSession"]),
        .library(name: "ShuntOracles", targets: ["ShuntOracles"]),
        .executable(name: "shunt", targets: ["shunt"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/x-sheep/swift-property-based.git", from: "2.0.1"),
    ],
    targets: [
        .target(
            name: "ShuntWire",
            dependencies: [.product(name: "NIOCore", package: "swift-nio")]
        ),
        .target(
            name: "ShuntSession",
            dependencies: [
                "ShuntWire",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOConcurrencyHelpers", package: "swift-nio"),
            ]
        ),
        .target(
            name: "ShuntOracles",
            dependencies: ["ShuntWire", "ShuntSession", .product(name: "NIOCore", package: "swift-nio")]
        ),
        .executableTarget(
            name: "shunt",
            dependencies: [
                "ShuntWire",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),
        .testTarget(
            name: "ShuntWireTests",
            dependencies: [
                "ShuntWire",
                "ShuntOracles",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "PropertyBased", package: "swift-property-based"),
            ]
        ),
        .testTarget(
            name: "ShuntSessionTests",
            dependencies: [
                "ShuntSession",
                "ShuntOracles",
                "ShuntWire",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "PropertyBased", package: "swift-property-based"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)

// swift-tools-version: 6.1
// A measuring instrument, not a part of Shunt: the edge's pass-through (the agent's own
// `EdgeExchange`) on a bare epoll loop instead of SwiftNIO's channels, to learn what an I/O
// layer of our own would save. Run by tools/bench/direct.sh. A separate package, so that neither
// the tests nor the shipped binaries build it.
import PackageDescription

let package = Package(
    name: "DirectEdge",
    dependencies: [
        .package(name: "Shunt", path: "../../.."),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
    ],
    targets: [
        .target(name: "CEpoll"),
        .executableTarget(
            name: "direct-edge",
            dependencies: [
                "CEpoll",
                .product(name: "ShuntAgent", package: "Shunt"),
                .product(name: "ShuntHTTP1", package: "Shunt"),
                .product(name: "NIOCore", package: "swift-nio"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)

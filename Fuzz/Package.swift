// swift-tools-version: 6.1
// libFuzzer targets for Shunt. Build and run with `Fuzz/run.sh TARGET SECONDS`.
import PackageDescription

let package = Package(
    name: "ShuntFuzz",
    dependencies: [.package(name: "Shunt", path: "..")],
    targets: [
        .target(name: "CLibFuzzer"),
        .executableTarget(
            name: "FuzzFrameDecoder",
            dependencies: ["CLibFuzzer", .product(name: "ShuntOracles", package: "Shunt")]
        ),
        .executableTarget(
            name: "FuzzEdge",
            dependencies: ["CLibFuzzer", .product(name: "ShuntOracles", package: "Shunt")]
        ),
        .executableTarget(
            name: "FuzzHTTP1",
            dependencies: ["CLibFuzzer", .product(name: "ShuntOracles", package: "Shunt")]
        ),
        .executableTarget(
            name: "FuzzBoundary",
            dependencies: ["CLibFuzzer", .product(name: "ShuntOracles", package: "Shunt")]
        ),
        .executableTarget(
            name: "FuzzSession",
            dependencies: ["CLibFuzzer", .product(name: "ShuntOracles", package: "Shunt")]
        ),
    ],
    swiftLanguageModes: [.v6]
)

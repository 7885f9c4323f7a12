// swift-tools-version: 6.1
// Benchmarks for Shunt (ordo-one/benchmark). Run from this folder:
//   swift package --allow-writing-to-package-directory benchmark
// A separate package so that the test build does not pull in the benchmark harness.
import PackageDescription

let package = Package(
    name: "ShuntBenchmarks",
    platforms: [.macOS(.v13)],
    dependencies: [
        .package(name: "Shunt", path: ".."),
        .package(url: "https://github.com/ordo-one/benchmark.git", from: "1.38.1", traits: ["MallocInterposer"]),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
    ],
    targets: [
        .executableTarget(
            name: "FrameCodec",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "ShuntWire", package: "Shunt"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            path: "Benchmarks/FrameCodec",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        .executableTarget(
            name: "SessionCost",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "ShuntSession", package: "Shunt"),
                .product(name: "ShuntWire", package: "Shunt"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            path: "Benchmarks/SessionCost",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        .executableTarget(
            name: "MatchRules",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "ShuntMatch", package: "Shunt"),
            ],
            path: "Benchmarks/MatchRules",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        .executableTarget(
            name: "HTTPCost",
            dependencies: [
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "ShuntHTTP1", package: "Shunt"),
                .product(name: "ShuntAgent", package: "Shunt"),
                .product(name: "ShuntEndpoint", package: "Shunt"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            path: "Benchmarks/HTTPCost",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
    ],
    swiftLanguageModes: [.v6]
)

import Benchmark
import ShuntMatch

/// Routing cost per request with 1, 10 and 100 active intercepts (issue: the router must not
/// allocate per request). Each iteration routes a batch of `batch` requests, so routes/s =
/// iterations/s × batch; the malloc count is per batch and should be 0.
let batch = 1_000

/// A request head as the edge holds it: one buffer, ranges for the target and each field.
func request(_ target: String, _ headers: [(String, String)]) -> RequestHead {
    var bytes = Array("GET ".utf8)
    let start = bytes.count
    bytes += Array(target.utf8)
    let targetRange = start..<bytes.count
    bytes += Array(" HTTP/1.1\r\n".utf8)
    var fields: [RequestHead.Field] = []
    for (name, value) in headers {
        let nameStart = bytes.count
        bytes += Array(name.utf8)
        let nameRange = nameStart..<bytes.count
        bytes += Array(": ".utf8)
        let valueStart = bytes.count
        bytes += Array(value.utf8)
        fields.append(.init(name: nameRange, value: valueStart..<bytes.count))
        bytes += Array("\r\n".utf8)
    }
    return RequestHead(bytes: bytes, target: targetRange, fields: fields)
}

let commonHeaders: [(String, String)] = [
    ("Host", "orders.shop.svc.cluster.local:8080"), ("User-Agent", "curl/8.5.0"), ("Accept", "application/json"),
    ("Accept-Encoding", "gzip, br"), ("Traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
    ("Content-Type", "application/json"), ("X-Request-Id", "7f8e9d0c-1b2a-4c3d-9e8f-7a6b5c4d3e2f"),
]

/// `count` intercepts of distinct developers: auto headers, one in three with a path condition
/// (prefix, equal or regex), as a busy shared staging cluster might have.
func table(_ count: Int) -> InterceptTable {
    var table = InterceptTable(limits: MatchLimits(maxInterceptsPerPort: 128))
    for index in 0..<count {
        let id = "dev\(index)" + String(repeating: "x", count: 13 - String(index).count)
        var flags = RuleFlags(httpHeader: ["x-shunt-intercept=\(id)"])
        switch index % 6 {
        case 1: flags.pathPrefix = ["/api/orders"]
        case 3: flags.pathEqual = ["/api/orders/\(index)"]
        case 5: flags.pathRegex = ["/api/(orders|carts)/[0-9]+(/items)?"]
        default: break
        }
        if index % 10 == 9 { flags.httpHeader.append("x-tenant=acme") }
        try! table.add(try! InterceptRule(owner: "dev\(index)@example.com", name: "orders-\(index)", spec: try! flags.spec()))
    }
    return table
}

/// The requests of one batch: half for the app (no intercept header), half for the last intercept
/// (the one the router reaches last), on paths that exercise prefix and regex conditions.
func requests(for count: Int) -> [RequestHead] {
    let last = count - 1
    let id = "dev\(last)" + String(repeating: "x", count: 13 - String(last).count)
    var lastHeaders = commonHeaders + [("X-Shunt-Intercept", id)]
    if last % 10 == 9 { lastHeaders.append(("x-tenant", "acme")) }
    // The last intercept may have an equal path condition (`/api/orders/<n>`): include its path.
    let paths = ["/api/orders/\(last)?expand=items", "/api/carts/7/items", "/health", "/api/orders/\(last)"]
    return (0..<batch).map { index in
        request(paths[index % paths.count], index % 2 == 0 ? commonHeaders : lastHeaders)
    }
}

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .throughput, .mallocCountTotal],
        warmupIterations: 10,
        scalingFactor: .one,
        maxDuration: .seconds(3),
        maxIterations: 100_000
    )

    for count in [1, 10, 100] {
        Benchmark("Route \(batch) requests, \(count) intercept\(count == 1 ? "" : "s")") { benchmark in
            let table = table(count)
            let batch = requests(for: count)
            benchmark.startMeasurement()
            for _ in benchmark.scaledIterations {
                var intercepted = 0
                for request in batch {
                    if case .intercept = table.route(request) { intercepted &+= 1 }
                }
                precondition(intercepted > 0)
                blackHole(intercepted)
            }
        }
    }

    Benchmark("Match \(batch) paths against /api/(orders|carts)/[0-9]+(/items)?") { benchmark in
        let regex = try! PathRegex("/api/(orders|carts)/[0-9]+(/items)?")
        let paths = (0..<batch).map { Array("/api/\($0 % 2 == 0 ? "orders" : "carts")/\($0)/items".utf8) }
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            var matched = 0
            for path in paths where path.withUnsafeBytes({ regex.matches($0) }) { matched &+= 1 }
            blackHole(matched)
        }
    }

    Benchmark("Match \(batch) paths against a 300-state regex (several state words)") { benchmark in
        let regex = try! PathRegex("/(?:[a-z]{1,3}/){0,50}x")
        let paths = (0..<batch).map { _ in Array(("/" + String(repeating: "ab/", count: 20) + "x").utf8) }
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations {
            var matched = 0
            for path in paths where path.withUnsafeBytes({ regex.matches($0) }) { matched &+= 1 }
            blackHole(matched)
        }
    }
}

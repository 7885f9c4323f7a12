import Benchmark
import Foundation
import NIOCore
import ShuntAgent
import ShuntEndpoint
import ShuntHTTP1

/// What one HTTP/1.1 exchange costs the agent and the laptop outside the kernel, in allocations
/// (`mallocCountTotal`, per exchange) and time: the heads parsed, the edge's exchange from request
/// to response, the laptop's head scan and its request log line. Each benchmark handles one
/// exchange per iteration; the targets are in tools/bench/README.md.

/// The request wrk sends with the developer's header, as the edge reads it.
let request = ByteBuffer(string: "GET /api/orders?id=7 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUser-Agent: curl/8.5.0\r\nAccept: */*\r\nX-Dev: alice\r\n\r\n")
/// nginx's answer.
let response = ByteBuffer(string: "HTTP/1.1 200 OK\r\nServer: nginx/1.26.0\r\nDate: Thu, 26 Nov 2026 12:00:00 GMT\r\nContent-Type: text/plain\r\nContent-Length: 7\r\nConnection: keep-alive\r\n\r\nlaptop\n")

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(
        metrics: [.wallClock, .throughput, .mallocCountTotal],
        warmupIterations: 100, scalingFactor: .one, maxDuration: .seconds(2), maxIterations: 200_000
    )

    Benchmark("Request head: parse (5 fields)") { benchmark in
        var parser = RequestHeadParser()
        for _ in benchmark.scaledIterations {
            var input = request
            blackHole(try! parser.parse(&input)!)
        }
    }

    Benchmark("Response head: parse (5 fields)") { benchmark in
        var parser = ResponseHeadParser()
        for _ in benchmark.scaledIterations {
            var input = response
            blackHole(try! parser.parse(&input, requestMethod: .get, requestedUpgrade: false)!)
        }
    }

    Benchmark("Edge exchange: request, route, upstream, response (keep-alive)") { benchmark in
        var exchange = EdgeExchange(client: ForwardedHeadWriter.ClientAddress("127.0.0.1")!)
        var actions: [EdgeExchange.Action] = []
        actions.reserveCapacity(8)
        func oneExchange() {
            exchange.clientRead(request, into: &actions)
            actions.removeAll(keepingCapacity: true)
            exchange.upstreamReady(reused: true, into: &actions)
            actions.removeAll(keepingCapacity: true)
            exchange.upstreamRead(response, into: &actions)
            precondition(actions.count >= 2)
            actions.removeAll(keepingCapacity: true)
        }
        // The closure runs once per measured iteration: the connection's first exchange (its
        // buffers made) is not measured, only one on the kept-alive connection.
        oneExchange()
        benchmark.startMeasurement()
        for _ in benchmark.scaledIterations { oneExchange() }
    }

    Benchmark("Laptop head scan: request line and status (kept stream)") { benchmark in
        var requestScanner = HTTPHeadScanner(side: .request)
        var responseScanner = HTTPHeadScanner(side: .response)
        for _ in benchmark.scaledIterations {
            requestScanner.scan(request.readableBytesView)
            responseScanner.scan(response.readableBytesView)
            precondition(responseScanner.status == 200)
            blackHole(requestScanner.path)
            requestScanner.reset()
            responseScanner.reset()
        }
    }

    Benchmark("Request log line: JSON") { benchmark in
        let line = RequestLogLine(start: Date(timeIntervalSince1970: 1_795_000_000.123), method: "GET", path: "/api/orders",
                                  status: 200, duration: .microseconds(1_234), bytesIn: 312, bytesOut: 1_228,
                                  intercept: "orders", requestID: "r-4f2a9c")
        for _ in benchmark.scaledIterations { blackHole(line.json) }
    }

    Benchmark("Request log line: text") { benchmark in
        let line = RequestLogLine(start: Date(timeIntervalSince1970: 1_795_000_000.123), method: "GET", path: "/api/orders",
                                  status: 200, duration: .microseconds(1_234), bytesIn: 312, bytesOut: 1_228)
        let utc = TimeZone(identifier: "UTC")!
        for _ in benchmark.scaledIterations { blackHole(line.text(timeZone: utc)) }
    }
}

import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix
import ShuntAgent
import ShuntEndpoint
import ShuntMatch
import ShuntTLS

/// `shunt demo`: Shunt's main job on an embedded default, in one process and on 127.0.0.1 only: an
/// in-cluster "orders" service, a `shunt-agent` in front of it, the developer's own build of orders
/// on the "laptop", and the tunnel between them (mutual TLS with fresh certificates). It creates a
/// personal, a path-limited and a global intercept, sends requests with and without the header, and
/// checks that each reached the side it should.
enum LiveDemo {
    struct Check {
        let intercept: String
        let request: String
        let expected: String
        let got: String
        var ok: Bool { expected == got }
    }

    static func run() async throws -> Bool {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let folder = CertificateFolder(FileManager.default.temporaryDirectory.appendingPathComponent("shunt-demo-\(UUID().uuidString)"))
        defer { try? FileManager.default.removeItem(at: folder.url) }
        _ = try folder.initialize(developer: "alice", hosts: ["localhost", "127.0.0.1"])

        let cluster = try await DemoServer.start(answer: "in-cluster orders v1", group: group)
        let laptop = try await DemoServer.start(answer: "alice's laptop orders (dev build)", group: group)
        var configuration = AgentServer.Configuration(appAddresses: [try SocketAddress(ipAddress: "127.0.0.1", port: cluster.port)])
        configuration.tunnelHost = "127.0.0.1"
        configuration.tunnelPort = 0
        configuration.edgeHost = "127.0.0.1"
        configuration.edgePorts = [0]
        configuration.service = "orders"
        let agentLog = AgentLog()
        let agent = try await AgentServer.start(configuration, certificates: folder, log: { agentLog.append($0) })
        let edge = agent.edgePorts[0]
        print("""
            Shunt demo: service "orders" with a shunt-agent in front of it, all on 127.0.0.1.
              in-cluster orders   127.0.0.1:\(cluster.port)
              shunt-agent edge    127.0.0.1:\(edge)   (where the Service sends traffic)
              shunt-agent tunnel  127.0.0.1:\(agent.tunnelPort)   (mutual TLS 1.3, ALPN shunt/1)
              alice's laptop      127.0.0.1:\(laptop.port)   (her build of orders)

            """)

        let forwarder = LocalForwarder(port: laptop.port, developer: "alice") { _ in }
        let client = try await InterceptClient.connect(host: "127.0.0.1", port: agent.tunnelPort,
                                                       endpoint: try ShuntTLSEndpoint.developer(folder: folder), group: group,
                                                       streams: forwarder.streamInitializer)
        print("alice's laptop connected to the agent as \"\(client.developer)\".\n")
        var checks: [Check] = []
        let caller = try await DemoCaller.connect(port: edge, group: group)

        // 1. A personal intercept: only requests with alice's header.
        let personal = try await client.register(InterceptCalls.RegisterRequest(name: "orders-alice", rule: try RuleFlags(httpHeader: ["auto"]).spec()))
        let header = personal.header!
        print("shunt intercept orders --http-header=auto")
        print("  intercepted: requests to orders:\(personal.port) with header \(header.name): \(header.value) → alice's laptop")
        print("  try it:      curl -H '\(header.name): \(header.value)' http://127.0.0.1:\(edge)/orders/42\n")
        for (request, headers, expected) in [
            ("GET /orders/42", [(String, String)](), "in-cluster orders v1"),
            ("GET /orders/42", [(header.name, header.value)], "alice's laptop orders (dev build)"),
            ("GET /orders/42", [(header.name, "bob-7xk2")], "in-cluster orders v1"),
            ("POST /orders", [(header.name, header.value)], "alice's laptop orders (dev build)"),
        ] {
            let got = try await caller.send(request, headers: headers)
            checks.append(Check(intercept: "personal", request: describe(request, headers), expected: expected, got: got))
        }
        try await client.remove(name: "orders-alice")

        // 2. A path-limited personal intercept.
        let pathRule = try RuleFlags(pathPrefix: ["/api/orders"]).spec()
        let pathIntercept = try await client.register(InterceptCalls.RegisterRequest(name: "orders-alice-api", rule: pathRule))
        let pathHeader = pathIntercept.header!
        print("shunt intercept orders --http-path-prefix /api/orders   (a header is generated: \(pathHeader.name): \(pathHeader.value))\n")
        for (request, headers, expected) in [
            ("GET /api/orders/7", [(pathHeader.name, pathHeader.value)], "alice's laptop orders (dev build)"),
            ("GET /api/ordersummary", [(pathHeader.name, pathHeader.value)], "in-cluster orders v1"),
            ("GET /health", [(pathHeader.name, pathHeader.value)], "in-cluster orders v1"),
            ("GET /api/orders/7", [], "in-cluster orders v1"),
        ] {
            let got = try await caller.send(request, headers: headers)
            checks.append(Check(intercept: "path prefix", request: describe(request, headers), expected: expected, got: got))
        }
        try await client.remove(name: "orders-alice-api")

        // 3. A global intercept: every connection, whatever it carries.
        _ = try await client.register(InterceptCalls.RegisterRequest(name: "orders-all", rule: .global))
        print("shunt intercept orders --http-header=all   (global: whole connections, raw TCP)\n")
        let fresh = try await DemoCaller.connect(port: edge, group: group)
        for request in ["GET /orders/42", "DELETE /orders/42"] {
            let got = try await fresh.send(request, headers: [])
            checks.append(Check(intercept: "global", request: describe(request, []), expected: "alice's laptop orders (dev build)", got: got))
        }
        await fresh.close()
        try await client.remove(name: "orders-all")

        // 4. Fail open: alice registers again, then her laptop goes away.
        let again = try await client.register(InterceptCalls.RegisterRequest(name: "orders-alice", rule: try RuleFlags(httpHeader: ["auto"]).spec()))
        await client.close()
        for _ in 0..<300 where !agent.registry.list().isEmpty { try await Task.sleep(for: .milliseconds(10)) }
        print("alice's laptop disconnects: the agent removes her intercept; her requests go back to the cluster.\n")
        let got = try await caller.send("GET /orders/42", headers: [(again.header!.name, again.header!.value)])
        checks.append(Check(intercept: "laptop gone", request: describe("GET /orders/42", [(again.header!.name, "…")]), expected: "in-cluster orders v1", got: got))

        await caller.close()
        print(table(checks))
        for line in agentLog.lines { print("  agent: \(line)") }
        try await agent.stop()
        await cluster.stop()
        await laptop.stop()
        try await group.shutdownGracefully()
        let failed = checks.filter { !$0.ok }.count
        print(failed == 0 ? "\nAll \(checks.count) requests went where they should." : "\n\(failed) of \(checks.count) requests went to the wrong side.")
        return failed == 0
    }

    static func describe(_ request: String, _ headers: [(String, String)]) -> String {
        headers.isEmpty ? request : "\(request)  \(headers.map { "\($0.0): \($0.1)" }.joined(separator: ", "))"
    }

    static func table(_ checks: [Check]) -> String {
        let widths = [12, checks.map(\.request.count).max() ?? 10, 34]
        func row(_ cells: [String]) -> String {
            zip(cells, widths + [4]).map { $0.0.padding(toLength: max($0.1, $0.0.count), withPad: " ", startingAt: 0) }.joined(separator: "  ")
        }
        var lines = [row(["intercept", "request", "answered by", "ok"])]
        for check in checks {
            lines.append(row([check.intercept, check.request, check.got, check.ok ? "yes" : "NO (expected \(check.expected))"]))
        }
        return lines.joined(separator: "\n")
    }
}

final class AgentLog: Sendable {
    private let box = NIOLockedValueBox<[String]>([])
    func append(_ line: String) { box.withLockedValue { $0.append(line) } }
    var lines: [String] { box.withLockedValue { $0 } }
}

/// An HTTP/1.1 server answering every request with a fixed text (keep-alive).
struct DemoServer {
    let channel: Channel
    var port: Int { channel.localAddress!.port! }

    static func start(answer: String, group: EventLoopGroup) async throws -> DemoServer {
        let channel = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                    try channel.pipeline.syncOperations.addHandler(Responder(answer: answer))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        return DemoServer(channel: channel)
    }

    func stop() async { try? await channel.close() }

    final class Responder: ChannelInboundHandler {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart
        let answer: String
        init(answer: String) { self.answer = answer }
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            guard case .end = unwrapInboundIn(data) else { return }
            let headers = HTTPHeaders([("content-type", "text/plain"), ("content-length", "\(answer.utf8.count)")])
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: .http1_1, status: .ok, headers: headers))), promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(ByteBuffer(string: answer)))), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        }
    }
}

/// One keep-alive HTTP/1.1 client connection (NIOHTTP1), one request at a time.
final class DemoCaller: @unchecked Sendable {
    let channel: Channel
    private let reader: Reader

    private init(channel: Channel, reader: Reader) {
        self.channel = channel
        self.reader = reader
    }

    static func connect(port: Int, group: EventLoopGroup) async throws -> DemoCaller {
        let channel = try await ClientBootstrap(group: group).connect(host: "127.0.0.1", port: port).get()
        let reader = try await channel.eventLoop.submit {
            try channel.pipeline.syncOperations.addHTTPClientHandlers()
            let reader = Reader()
            try channel.pipeline.syncOperations.addHandler(reader)
            return reader
        }.get()
        return DemoCaller(channel: channel, reader: reader)
    }

    /// Sends `METHOD PATH` with `headers`; returns the body of the answer.
    func send(_ request: String, headers: [(String, String)]) async throws -> String {
        let parts = request.split(separator: " ")
        var fields = HTTPHeaders([("host", "orders"), ("content-length", "0")])
        for (name, value) in headers { fields.add(name: name, value: value) }
        let head = HTTPRequestHead(version: .http1_1, method: HTTPMethod(rawValue: String(parts[0])), uri: String(parts[1]), headers: fields)
        let answer = channel.eventLoop.makePromise(of: String.self)
        let reader = self.reader
        let channel = self.channel
        try await channel.eventLoop.submit {
            reader.answer = answer
            channel.write(HTTPClientRequestPart.head(head), promise: nil)
            channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
        }.get()
        return try await answer.futureResult.get()
    }

    func close() async { try? await channel.close() }

    /// Used on its channel's event loop only.
    final class Reader: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = HTTPClientResponsePart
        var answer: EventLoopPromise<String>?
        var body = ""
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head(let head):
                body = head.status == .ok ? "" : "HTTP \(head.status.code): "
            case .body(let bytes):
                body += String(buffer: bytes)
            case .end:
                answer?.succeed(body)
                answer = nil
            }
        }
        func channelInactive(context: ChannelHandlerContext) {
            answer?.fail(ChannelError.eof)
            answer = nil
        }
    }
}

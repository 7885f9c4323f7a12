import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import ShuntAgent
import ShuntMatch
import Testing

/// An agent in front of a service with two ports: each edge port forwards to its own app port, and
/// an intercept takes only the traffic of the port it names.
@Suite struct MultiPortTests {
    @Test(.timeLimit(.minutes(1))) func eachServicePortHasItsAppAndItsOwnIntercepts() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let certs = try TestCertificates()
        let web = try await NamedHTTPServer(name: "web", group: group)
        let admin = try await NamedHTTPServer(name: "admin", group: group)
        let local = try await NamedHTTPServer(name: "laptop", group: group)
        var configuration = AgentServer.Configuration(appAddresses: [try SocketAddress(ipAddress: "127.0.0.1", port: web.port),
                                                                     try SocketAddress(ipAddress: "127.0.0.1", port: admin.port)])
        configuration.tunnelHost = "127.0.0.1"
        configuration.tunnelPort = 0
        configuration.edgeHosts = ["127.0.0.1", "127.0.0.1"]
        configuration.edgePorts = [0, 0]
        let agent = try await AgentServer.start(configuration, certificates: certs.agent, log: { _ in })
        let ports = agent.edgePorts
        #expect(ports.count == 2 && ports[0] != ports[1])

        let alice = try await TestLaptop.connect(agentPort: agent.tunnelPort, endpoint: try certs.developer("alice"), localPort: local.port, group: group)
        let rule = try RuleFlags(httpHeader: ["x-dev=alice"]).spec()
        let registered = try await alice.call(InterceptCalls.register, InterceptCalls.RegisterRequest(name: "orders-admin-alice", port: ports[1], rule: rule),
                                              as: InterceptCalls.Intercept.self).get()
        #expect(registered.port == ports[1])
        // Without a port, the first one is meant; the same rule on it is a separate intercept.
        let first = try await alice.register("orders-web-alice", rule: try RuleFlags(httpHeader: ["x-dev=alice-web"]).spec())
        #expect(first.port == ports[0])

        let onWeb = try await KeepAliveClient(port: ports[0], group: group)
        let onAdmin = try await KeepAliveClient(port: ports[1], group: group)
        #expect(try await onWeb.send("GET /w HTTP/1.1\r\nHost: o\r\nx-dev: alice\r\n\r\n").body.hasPrefix("web GET /w"))
        #expect(try await onWeb.send("GET /w HTTP/1.1\r\nHost: o\r\nx-dev: alice-web\r\n\r\n").body.hasPrefix("laptop GET /w"))
        #expect(try await onAdmin.send("GET /a HTTP/1.1\r\nHost: o\r\nx-dev: alice\r\n\r\n").body.hasPrefix("laptop GET /a"))
        #expect(try await onAdmin.send("GET /a HTTP/1.1\r\nHost: o\r\n\r\n").body.hasPrefix("admin GET /a"))
        #expect(try await onAdmin.send("GET /a HTTP/1.1\r\nHost: o\r\nx-dev: alice-web\r\n\r\n").body.hasPrefix("admin GET /a"))
        #expect(Set(agent.registry.list().map(\.port)) == Set(ports))

        // A port the agent does not serve is refused by name.
        let wrong = try await alice.call(InterceptCalls.register, InterceptCalls.RegisterRequest(name: "x", port: 1, rule: rule), as: InterceptCalls.Intercept.self)
        #expect(wrong.error != nil)

        await onWeb.close()
        await onAdmin.close()
        await alice.close()
        try await agent.stop()
        for server in [web, admin, local] { await server.stop() }
        certs.remove()
        try await group.shutdownGracefully()
    }
}

/// Path rules over real sockets: `--http-path-equal`, `--http-path-prefix` (segment-aware) and
/// `--http-path-regex` (the whole path), each with the auto header, the query never part of the path.
@Suite struct PathRuleTests {
    @Test(.timeLimit(.minutes(1))) func equalPrefixAndRegexRouteExactlyTheirPaths() async throws {
        let world = try await AgentLoopbackTests.World.start()
        let local = try await NamedHTTPServer(name: "laptop", group: world.group)
        let cases: [(flags: RuleFlags, laptop: [String], app: [String])] = [
            (RuleFlags(pathEqual: ["/api/orders"]), ["/api/orders", "/api/orders?x=1"], ["/api/orders/", "/api/orders/7", "/api"]),
            (RuleFlags(pathPrefix: ["/api"]), ["/api", "/api/", "/api/orders?q=/x"], ["/apix", "/ap", "/v1/api"]),
            (RuleFlags(pathRegex: ["/orders/[0-9]+"]), ["/orders/7", "/orders/123?x=a"], ["/orders/", "/orders/7/items", "/xorders/7", "/orders/7a"]),
        ]
        for (index, rule) in cases.enumerated() {
            let alice = try await world.laptop("alice", serving: local)
            let intercept = try await alice.register("orders-alice-\(index)", rule: try rule.flags.spec())
            let (name, value) = AgentLoopbackTests.header(intercept)
            let caller = try await KeepAliveClient(port: world.agent.edgePorts[0], group: world.group)
            for path in rule.laptop {
                #expect(try await caller.send("GET \(path) HTTP/1.1\r\nHost: o\r\n\(name): \(value)\r\n\r\n").body.hasPrefix("laptop GET \(path)"), "\(path)")
                #expect(try await caller.send("GET \(path) HTTP/1.1\r\nHost: o\r\n\r\n").body.hasPrefix("app GET \(path)"), "\(path) without the header")
            }
            for path in rule.app {
                #expect(try await caller.send("GET \(path) HTTP/1.1\r\nHost: o\r\n\(name): \(value)\r\n\r\n").body.hasPrefix("app GET \(path)"), "\(path)")
            }
            await caller.close()
            await alice.close()
            for _ in 0..<200 where !world.agent.registry.list().isEmpty { try await Task.sleep(for: .milliseconds(10)) }
        }
        await local.stop()
        try await world.stop()
    }
}

/// The pool of app connections: reused while busy, closed by the agent after `appIdleTimeout`
/// unused (before a server's own keep-alive timeout can race a request for it).
@Suite struct AppPoolTests {
    /// An agent in front of an app that counts the connections it accepts and those still open.
    struct CountingApp {
        let world: AgentLoopbackTests.World
        let app: Channel
        let agent: AgentServer
        let open = NIOLockedValueBox(0)
        let accepted = NIOLockedValueBox(0)

        init(appIdleTimeout: TimeAmount) async throws {
            var edge = EdgeConfiguration()
            edge.appIdleTimeout = appIdleTimeout
            world = try await AgentLoopbackTests.World.start(edge: edge)
            let open = self.open
            let accepted = self.accepted
            app = try await ServerBootstrap(group: world.group)
                .childChannelInitializer { channel in
                    accepted.withLockedValue { $0 += 1 }
                    open.withLockedValue { $0 += 1 }
                    channel.closeFuture.whenComplete { _ in open.withLockedValue { $0 -= 1 } }
                    return channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.configureHTTPServerPipeline()
                        try channel.pipeline.syncOperations.addHandler(NamedHTTPServer.Responder(name: "counted"))
                    }
                }
                .bind(host: "127.0.0.1", port: 0).get()
            let configuration = AgentServer.Configuration.loopback(app: app.localAddress!, edge: edge)
            agent = try await AgentServer.start(configuration, certificates: world.certs.agent, log: { _ in })
        }

        func stop() async throws {
            try await agent.stop()
            try await app.close()
            try await world.stop()
        }
    }

    /// With an idle timeout far longer than any stall of a loaded machine, back-to-back requests on
    /// one client connection use one app connection.
    @Test(.timeLimit(.minutes(1))) func backToBackRequestsReuseOneAppConnection() async throws {
        let counting = try await CountingApp(appIdleTimeout: .seconds(60))
        let caller = try await KeepAliveClient(port: counting.agent.edgePorts[0], group: counting.world.group)
        for index in 0..<5 {
            #expect(try await caller.send("GET /\(index) HTTP/1.1\r\nHost: o\r\n\r\n").body.hasPrefix("counted GET /\(index)"))
        }
        #expect(counting.accepted.withLockedValue { $0 } == 1, "back-to-back requests reuse one app connection")
        #expect(counting.open.withLockedValue { $0 } == 1)
        await caller.close()
        try await counting.stop()
    }

    /// Callers that send each request on a connection of their own, with `Connection: close`, still
    /// share one app connection: the field is the caller's connection's, not the app's.
    @Test(.timeLimit(.minutes(1))) func callersThatCloseAfterEachRequestShareOneAppConnection() async throws {
        let counting = try await CountingApp(appIdleTimeout: .seconds(60))
        for index in 0..<5 {
            let caller = try await KeepAliveClient(port: counting.agent.edgePorts[0], group: counting.world.group)
            #expect(try await caller.send("GET /\(index) HTTP/1.1\r\nHost: o\r\nConnection: close\r\n\r\n").body.hasPrefix("counted GET /\(index)"))
            await caller.close()
        }
        #expect(counting.accepted.withLockedValue { $0 } == 1, "one app connection for five callers")
        // An HTTP/1.0 caller's request reaches the app as HTTP/1.0, which ends that connection.
        let old = try await KeepAliveClient(port: counting.agent.edgePorts[0], group: counting.world.group)
        #expect(try await old.send("GET /old HTTP/1.0\r\nHost: o\r\n\r\n").body.hasPrefix("counted GET /old"))
        await old.close()
        let caller = try await KeepAliveClient(port: counting.agent.edgePorts[0], group: counting.world.group)
        #expect(try await caller.send("GET /after HTTP/1.1\r\nHost: o\r\n\r\n").body.hasPrefix("counted GET /after"))
        #expect(counting.accepted.withLockedValue { $0 } == 2, "the request after the HTTP/1.0 one dialled again")
        await caller.close()
        try await counting.stop()
    }

    /// With a short idle timeout, the agent closes the unused app connection by itself, and the next
    /// request dials a new one (whatever happened before: this half does not depend on timing).
    @Test(.timeLimit(.minutes(1))) func anIdleAppConnectionIsClosedAfterTheIdleTimeout() async throws {
        let counting = try await CountingApp(appIdleTimeout: .milliseconds(200))
        let caller = try await KeepAliveClient(port: counting.agent.edgePorts[0], group: counting.world.group)
        #expect(try await caller.send("GET /first HTTP/1.1\r\nHost: o\r\n\r\n").body.hasPrefix("counted GET /first"))
        var closed = false
        for _ in 0..<250 where !closed {
            try await Task.sleep(for: .milliseconds(20))
            closed = counting.open.withLockedValue { $0 } == 0
        }
        #expect(closed, "the idle app connection was closed by the agent")
        let before = counting.accepted.withLockedValue { $0 }
        #expect(try await caller.send("GET /again HTTP/1.1\r\nHost: o\r\n\r\n").body.hasPrefix("counted GET /again"))
        #expect(counting.accepted.withLockedValue { $0 } == before + 1, "the request after the close dialled a new connection")
        await caller.close()
        try await counting.stop()
    }

    /// The app closes a kept-alive connection just as the next request arrives on it (its own
    /// keep-alive timeout, racing the agent's pool): the agent sends the GET again on a new
    /// connection and the client never sees the race.
    @Test(.timeLimit(.minutes(1))) func aGETOnAConnectionTheAppClosedIsSentAgainOnANewOne() async throws {
        let world = try await AgentLoopbackTests.World.start()
        let accepted = NIOLockedValueBox(0)
        let app = try await ServerBootstrap(group: world.group)
            .childChannelInitializer { channel in
                accepted.withLockedValue { $0 += 1 }
                return channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(AnswersOnceThenCloses()) }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        var configuration = AgentServer.Configuration.loopback(app: app.localAddress!)
        configuration.edge.appIdleTimeout = .seconds(60)
        let agent = try await AgentServer.start(configuration, certificates: world.certs.agent, log: { _ in })
        let caller = try await KeepAliveClient(port: agent.edgePorts[0], group: world.group)
        for index in 0..<3 {
            let answer = try await caller.send("GET /\(index) HTTP/1.1\r\nHost: o\r\n\r\n")
            #expect(answer.body == "ok", "request \(index)")
        }
        #expect(accepted.withLockedValue { $0 } == 3, "each request after the first met a closed connection and got a new one")
        await caller.close()
        // A POST is never sent twice: the client gets the 502.
        let poster = try await KeepAliveClient(port: agent.edgePorts[0], group: world.group)
        #expect(try await poster.send("GET /warm HTTP/1.1\r\nHost: o\r\n\r\n").body == "ok")
        let refused = try await poster.send("POST /p HTTP/1.1\r\nHost: o\r\nContent-Length: 0\r\n\r\n", method: .post)
        #expect(refused.status == 502)
        await poster.close()
        try await agent.stop()
        try await app.close()
        try await world.stop()
    }

    /// Answers the first request of a connection, and closes the connection on the second.
    final class AnswersOnceThenCloses: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer
        private var text = ""
        private var seen = 0

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            text += String(buffer: unwrapInboundIn(data))
            while let end = text.range(of: "\r\n\r\n") {
                text.removeSubrange(..<end.upperBound)
                seen += 1
                if seen == 1 {
                    context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")), promise: nil)
                } else {
                    context.close(promise: nil)
                    return
                }
            }
        }
    }
}

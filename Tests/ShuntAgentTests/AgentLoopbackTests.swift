import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import ShuntAgent
import ShuntHTTP1
import ShuntMatch
import ShuntSession
import ShuntTLS
import ShuntTestSupport
import Testing

/// The agent on 127.0.0.1: an app, two laptops with their local builds, and callers, all real sockets.
@Suite(.serialized) struct AgentLoopbackTests {
    struct World {
        let group: MultiThreadedEventLoopGroup
        let certs: TestCertificates
        let app: NamedHTTPServer
        let agent: AgentServer
        let log: LogLines

        static func start(edge: EdgeConfiguration = EdgeConfiguration(), admin: Bool = false,
                          configure: (inout AgentServer.Configuration) -> Void = { _ in }) async throws -> World {
            let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
            let certs = try TestCertificates()
            let app = try await NamedHTTPServer(name: "app", group: group)
            var configuration = AgentServer.Configuration(appAddresses: [try SocketAddress(ipAddress: "127.0.0.1", port: app.port)])
            configuration.tunnelHost = "127.0.0.1"
            configuration.tunnelPort = 0
            configuration.edgeHost = "127.0.0.1"
            configuration.edgePorts = [0]
            configuration.service = "orders"
            configuration.environment = ["DATABASE_URL": "postgres://orders-db/orders"]
            configuration.edge = edge
            if admin {
                configuration.adminHost = "127.0.0.1"
                configuration.adminPort = 0
            }
            configure(&configuration)
            let log = LogLines()
            let agent = try await AgentServer.start(configuration, certificates: certs.agent, log: { log.append($0) })
            return World(group: group, certs: certs, app: app, agent: agent, log: log)
        }

        func laptop(_ developer: String, serving local: NamedHTTPServer?) async throws -> TestLaptop {
            try await TestLaptop.connect(agentPort: agent.tunnelPort, endpoint: try certs.developer(developer),
                                         localPort: local?.port ?? 1, group: group)
        }

        func stop() async throws {
            try await agent.stop()
            await app.stop()
            certs.remove()
            try await group.shutdownGracefully()
        }
    }

    static func header(_ intercept: InterceptCalls.Intercept) -> (String, String) {
        (intercept.header!.name, intercept.header!.value)
    }

    /// One keep-alive connection mixes requests with and without the developer's header: each goes
    /// where its header says, in order, on the same connection.
    @Test(.timeLimit(.minutes(1))) func aPersonalInterceptTakesOnlyRequestsWithItsHeader() async throws {
        let world = try await World.start()
        let local = try await NamedHTTPServer(name: "laptop", group: world.group)
        let alice = try await world.laptop("alice", serving: local)
        let rule = try RuleFlags(httpHeader: ["auto"]).spec()
        let intercept = try await alice.register("orders-alice", rule: rule)
        #expect(intercept.owner == "alice")
        let (name, value) = Self.header(intercept)
        #expect(name == "x-shunt-intercept")

        let caller = try await KeepAliveClient(port: world.agent.edgePorts[0], group: world.group)
        for round in 0..<3 {
            let plain = try await caller.send("GET /orders/\(round) HTTP/1.1\r\nHost: orders\r\n\r\n")
            #expect(plain.body == "app GET /orders/\(round) 0")
            let mine = try await caller.send("GET /orders/\(round) HTTP/1.1\r\nHost: orders\r\n\(name): \(value)\r\n\r\n")
            #expect(mine.body == "laptop GET /orders/\(round) 0")
            #expect(mine.header("x-seen-forwarded-for") == "127.0.0.1")
        }
        let other = try await caller.send("POST /orders HTTP/1.1\r\nHost: orders\r\n\(name): someone-else\r\nContent-Length: 5\r\n\r\nhello")
        #expect(other.body == "app POST /orders 5")
        let upload = try await caller.send("POST /orders HTTP/1.1\r\nHost: orders\r\n\(name): \(value)\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n")
        #expect(upload.body == "laptop POST /orders 5")
        let list = try await alice.call(InterceptCalls.list, InterceptCalls.Empty(), as: InterceptCalls.ListResult.self).get()
        #expect(list.intercepts.map(\.requests) == [4])

        await caller.close()
        await alice.close()
        await local.stop()
        try await world.stop()
    }

    /// Two developers on one service, each getting only their own requests; a third whose rule
    /// could take theirs is refused, naming the intercept in the way and its owner.
    @Test(.timeLimit(.minutes(1))) func twoDevelopersShareAServiceAndAConflictIsRefused() async throws {
        let world = try await World.start()
        let aliceBuild = try await NamedHTTPServer(name: "alice", group: world.group)
        let bobBuild = try await NamedHTTPServer(name: "bob", group: world.group)
        let alice = try await world.laptop("alice", serving: aliceBuild)
        let bob = try await world.laptop("bob", serving: bobBuild)
        let aliceIntercept = try await alice.register("orders-alice", rule: try RuleFlags(httpHeader: ["x-dev=alice"]).spec())
        _ = try await bob.register("orders-bob", rule: try RuleFlags(httpHeader: ["x-dev=bob"]).spec())
        #expect(aliceIntercept.owner == "alice")

        let caller = try await KeepAliveClient(port: world.agent.edgePorts[0], group: world.group)
        #expect(try await caller.send("GET /a HTTP/1.1\r\nHost: o\r\nx-dev: alice\r\n\r\n").body == "alice GET /a 0")
        #expect(try await caller.send("GET /b HTTP/1.1\r\nHost: o\r\nx-dev: bob\r\n\r\n").body == "bob GET /b 0")
        #expect(try await caller.send("GET /c HTTP/1.1\r\nHost: o\r\n\r\n").body == "app GET /c 0")

        // Carol's rule on another header could take requests that carry alice's header too: refused.
        let carol = try await world.laptop("carol", serving: nil)
        let refused = try await carol.call(InterceptCalls.register,
                                           InterceptCalls.RegisterRequest(name: "orders-carol", rule: try RuleFlags(httpHeader: ["x-team=x"], pathPrefix: ["/api"]).spec()),
                                           as: InterceptCalls.Intercept.self)
        #expect(refused.error?.code == "INTERCEPT_CONFLICT")
        #expect(refused.error?.message.contains("orders-alice of alice") == true)
        let global = try await carol.call(InterceptCalls.register,
                                          InterceptCalls.RegisterRequest(name: "orders-all", rule: .global),
                                          as: InterceptCalls.Intercept.self)
        #expect(!global.ok)
        #expect(global.error?.code == "INTERCEPT_CONFLICT")
        #expect(global.error?.message.contains("alice") == true || global.error?.message.contains("bob") == true)
        // Only the owner may remove an intercept.
        let steal = try await carol.call(InterceptCalls.remove, InterceptCalls.RemoveRequest(name: "orders-alice"), as: InterceptCalls.Empty.self)
        #expect(steal.error?.code == "NOT_OWNER")

        await caller.close()
        for laptop in [alice, bob, carol] { await laptop.close() }
        await aliceBuild.stop()
        await bobBuild.stop()
        try await world.stop()
    }

    /// Fail open: when the laptop's session ends its intercept goes, and its requests reach the app.
    /// While the laptop is there but nothing listens on its side, the caller gets a 502 naming it.
    @Test(.timeLimit(.minutes(1))) func aLaptopThatGoesAwayHandsItsTrafficBackToTheApp() async throws {
        let world = try await World.start()
        let alice = try await world.laptop("alice", serving: nil)
        _ = try await alice.register("orders-alice", rule: try RuleFlags(httpHeader: ["x-dev=alice"]).spec())
        let caller = try await KeepAliveClient(port: world.agent.edgePorts[0], group: world.group)
        let failed = try await caller.send("GET /x HTTP/1.1\r\nHost: o\r\nx-dev: alice\r\n\r\n")
        #expect(failed.status == 502)
        #expect(failed.body.contains("alice's laptop"))
        #expect(failed.body.contains("nothing listens on 127.0.0.1:1"))
        await caller.close()

        await alice.close()
        // The agent notices the closed session and removes the intercept.
        for _ in 0..<200 where !world.agent.registry.list().isEmpty { try await Task.sleep(for: .milliseconds(10)) }
        #expect(world.agent.registry.list().isEmpty)
        let again = try await KeepAliveClient(port: world.agent.edgePorts[0], group: world.group)
        #expect(try await again.send("GET /x HTTP/1.1\r\nHost: o\r\nx-dev: alice\r\n\r\n").body == "app GET /x 0")
        let ended = try #require(world.log.all.first { $0.contains("their traffic goes to the app") })
        // The laptop closed its connection without a GOAWAY: no error code was said, and none is logged.
        #expect(ended.contains("why=\"connection lost: the connection closed\""), "\(ended)")
        #expect(!ended.contains("code="), "\(ended)")
        await again.close()
        try await world.stop()
    }

    /// A request that opens a stream leaves the agent in the same write as the opening: when the
    /// laptop starts serving the stream its request is there, so a laptop that cannot reach its
    /// service can still say which request it was. (The session's flush was queued when the stream
    /// opened, and the edge's own flush of the request after it: the two went in separate writes.)
    @Test(.timeLimit(.minutes(1))) func aNewStreamsRequestLeavesWithItsOpening() async throws {
        let world = try await World.start()
        let buffered = NIOLockedValueBox<[Int]>([])
        let alice = try await TestLaptop.connect(agentPort: world.agent.tunnelPort, endpoint: try world.certs.developer("alice"),
                                                 localPort: 1, group: world.group) { stream in
            // Once the session has read what came with the opening (a loop turn later); the stream is
            // not active before then, so what arrived waits in it.
            let served = stream.eventLoop.makePromise(of: Void.self)
            stream.eventLoop.execute {
                buffered.withLockedValue { $0.append(stream.bufferedInboundBytes) }
                stream.reset(code: .connectError, reason: "the test laptop serves nothing")
                served.succeed()
            }
            return served.futureResult
        }
        _ = try await alice.register("orders-alice", rule: try RuleFlags(httpHeader: ["x-dev=alice"]).spec())
        for round in 0..<20 {
            let caller = try await KeepAliveClient(port: world.agent.edgePorts[0], group: world.group)
            let answer = try await caller.send("GET /orders/\(round) HTTP/1.1\r\nHost: o\r\nx-dev: alice\r\n\r\n")
            #expect(answer.status == 502)
            await caller.close()
        }
        let counts = buffered.withLockedValue { $0 }
        #expect(counts.count == 20)
        #expect(counts.allSatisfy { $0 > 0 }, "octets of each request there when its stream was served: \(counts)")
        await alice.close()
        try await world.stop()
    }

    /// A global intercept takes whole connections, whatever they carry (not only HTTP).
    @Test(.timeLimit(.minutes(1))) func aGlobalInterceptCarriesRawTCP() async throws {
        let world = try await World.start()
        let echo = try await ServerBootstrap(group: world.group)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(UpperCaseEcho()) }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        let alice = try await TestLaptop.connect(agentPort: world.agent.tunnelPort, endpoint: try world.certs.developer("alice"),
                                                 localPort: echo.localAddress!.port!, group: world.group)
        _ = try await alice.register("orders-all", rule: .global)
        let raw = try await KeepAliveClient(port: world.agent.edgePorts[0], group: world.group)
        let reply = raw.channel.eventLoop.makePromise(of: String.self)
        try await raw.channel.eventLoop.submit {
            try raw.channel.pipeline.syncOperations.addHandler(FirstLine(done: reply), position: .first)
        }.get()
        try await raw.channel.writeAndFlush(ByteBuffer(string: "ping not-http\n"))
        #expect(try await reply.futureResult.awaited() == "PING NOT-HTTP")
        await raw.close()
        await alice.close()
        try await echo.close()
        try await world.stop()
    }

    /// `agent.info` reports the service, its ports and the environment the agent exposes.
    @Test(.timeLimit(.minutes(1))) func agentInfoReportsTheAppsEnvironment() async throws {
        let world = try await World.start()
        let alice = try await world.laptop("alice", serving: nil)
        let info = try await alice.call(InterceptCalls.agentInfo, InterceptCalls.Empty(), as: InterceptCalls.AgentInfo.self).get()
        #expect(info.service == "orders")
        #expect(info.ports == world.agent.edgePorts)
        #expect(info.env == ["DATABASE_URL": "postgres://orders-db/orders"])
        let unknown = try await alice.call("intercept.steal", InterceptCalls.Empty(), as: InterceptCalls.Empty.self)
        #expect(unknown.error?.code == "UNKNOWN_CALL")
        await alice.close()
        try await world.stop()
    }
}

final class LogLines: Sendable {
    private let lines = NIOLockedValueBox<[String]>([])
    func append(_ line: String) { lines.withLockedValue { $0.append(line) } }
    func contains(_ text: String) -> Bool { lines.withLockedValue { $0.contains { $0.contains(text) } } }
    var all: [String] { lines.withLockedValue { $0 } }
}

final class UpperCaseEcho: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: String(buffer: unwrapInboundIn(data)).uppercased())), promise: nil)
    }
}

final class FirstLine: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    let done: EventLoopPromise<String>
    var text = ""
    init(done: EventLoopPromise<String>) { self.done = done }
    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        text += String(buffer: unwrapInboundIn(data))
        if let newline = text.firstIndex(of: "\n") { done.succeed(String(text[..<newline])) }
    }
}

import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOEmbedded
import NIOPosix
import ShuntAgent
import ShuntEndpoint
import ShuntMatch
import ShuntSession
import ShuntWire
import Testing

/// The edge keeps a caller's tunnel stream alive for its next request to the same laptop (spec
/// §10.2): with a laptop that sets HTTP_KEEP_ALIVE, one keep-alive caller connection uses one stream;
/// kept streams stay under half the laptop's stream credit; a laptop without the setting gets a
/// stream per request, as before.
@Suite(.serialized) struct KeptStreamEdgeTests {
    typealias World = AgentLoopbackTests.World

    struct Laptop {
        let client: InterceptClient
        let forwarder: LocalForwarder
        let lines: NIOLockedValueBox<[RequestLogLine]>

        static func connect(_ world: World, serving local: NamedHTTPServer,
                            configuration: SessionConfiguration = InterceptClient.sessionConfiguration) async throws -> Laptop {
            let lines = NIOLockedValueBox<[RequestLogLine]>([])
            let forwarder = LocalForwarder(port: local.port, developer: "alice", events: { event in
                if case .request(let line) = event { lines.withLockedValue { $0.append(line) } }
            })
            let client = try await InterceptClient.connect(host: "127.0.0.1", port: world.agent.tunnelPort, endpoint: try world.certs.developer("alice"),
                                                           group: world.group, configuration: configuration, streams: forwarder.streamInitializer)
            _ = try await client.register(InterceptCalls.RegisterRequest(name: "orders-alice", rule: try RuleFlags(httpHeader: ["x-dev=alice"]).spec()))
            return Laptop(client: client, forwarder: forwarder, lines: lines)
        }

        /// Streams open on the laptop's session now.
        func openStreams() async throws -> Int {
            let session = client.session
            return try await client.eventLoop.submit { session.streamCount }.get()
        }

        /// Waits (at most 5 s) until `openStreams()` is `count`.
        func waitForOpenStreams(_ count: Int) async throws -> Int {
            let since = ContinuousClock.now
            var open = try await openStreams()
            while open != count && ContinuousClock.now - since < .seconds(5) {
                try await Task.sleep(for: .milliseconds(20))
                open = try await openStreams()
            }
            return open
        }
    }

    static func metric(_ name: String, _ world: World) async throws -> String? {
        let admin = try await KeepAliveClient(port: try #require(world.agent.adminPort), group: world.group)
        let text = try await admin.send("GET /metrics HTTP/1.1\r\nHost: agent\r\n\r\n").body
        await admin.close()
        return text.split(separator: "\n").first { $0.hasPrefix(name + " ") }.map { String($0.dropFirst(name.count + 1)) }
    }

    @Test(.timeLimit(.minutes(1))) func aCallersRequestsToALaptopShareOneStream() async throws {
        let world = try await World.start(admin: true)
        let local = try await NamedHTTPServer(name: "laptop", group: world.group)
        let alice = try await Laptop.connect(world, serving: local)

        let caller = try await KeepAliveClient(port: world.agent.edgePorts[0], group: world.group)
        for round in 0..<5 {
            #expect(try await caller.send("GET /k/\(round) HTTP/1.1\r\nHost: orders\r\nx-dev: alice\r\n\r\n").body == "laptop GET /k/\(round) 0")
            // Requests to the app in between leave the kept stream alone.
            #expect(try await caller.send("GET /a/\(round) HTTP/1.1\r\nHost: orders\r\n\r\n").body == "app GET /a/\(round) 0")
        }
        #expect(try await caller.send("POST /k HTTP/1.1\r\nHost: orders\r\nx-dev: alice\r\nContent-Length: 5\r\n\r\nhello").body == "laptop POST /k 5")
        #expect(try await Self.metric("shunt_agent_laptop_streams_reused_total", world) == "5")
        // Every request counts where it went, on a kept stream as on a new one.
        #expect(try await Self.metric(#"shunt_agent_requests_total{route="laptop"}"#, world) == "6")
        #expect(try await Self.metric(#"shunt_agent_requests_total{route="app"}"#, world) == "5")
        #expect(try await alice.openStreams() == 1, "one stream, kept between the requests")
        #expect(alice.forwarder.connectionsDialled == 1)
        // Where the kernel gives io_uring, the answers to the caller and the requests to the local
        // service left through the write batches (`SocketWriteBatch`), one send per flush.
        let ring = SocketWriteBatch(eventLoop: EmbeddedEventLoop()).isAvailable
        #expect((world.agent.writeCounts != nil) == ring)
        if ring {
            #expect((world.agent.writeCounts?.sends ?? 0) >= 6, "the laptop's six answers, through the batch")
            #expect(alice.forwarder.batchedWrites.sends >= 6, "the six requests to the local service, through the batch")
        }

        let lines = alice.lines.withLockedValue { $0 }
        #expect(lines.count == 6)
        let first = try #require(lines.first?.requestID)
        #expect(lines.map(\.requestID) == [first] + (2...6).map { "\(first).\($0)" })
        #expect(lines.map(\.path) == (0..<5).map { "/k/\($0)" } + ["/k"])
        #expect(lines.allSatisfy { $0.status == 200 })

        // The caller leaves: the agent ends the kept stream, and the laptop answers its FIN.
        await caller.close()
        #expect(try await alice.waitForOpenStreams(0) == 0)

        await alice.client.close()
        await local.stop()
        try await world.stop()
    }

    /// A laptop that grants 4 streams: the edge keeps at most 2, so three callers' connections keep
    /// two streams between requests and the third opens and ends one per request; every request is
    /// answered, whatever the credit.
    @Test(.timeLimit(.minutes(1))) func keptStreamsStayUnderHalfTheLaptopsCredit() async throws {
        let world = try await World.start(admin: true)
        let local = try await NamedHTTPServer(name: "laptop", group: world.group)
        var configuration = InterceptClient.sessionConfiguration
        configuration.settings.initialMaxStreams = 4
        let alice = try await Laptop.connect(world, serving: local, configuration: configuration)

        var callers: [KeepAliveClient] = []
        for _ in 0..<3 { callers.append(try await KeepAliveClient(port: world.agent.edgePorts[0], group: world.group)) }
        for round in 0..<4 {
            for (index, caller) in callers.enumerated() {
                #expect(try await caller.send("GET /\(index)/\(round) HTTP/1.1\r\nHost: o\r\nx-dev: alice\r\n\r\n").body == "laptop GET /\(index)/\(round) 0")
            }
            #expect(try await alice.waitForOpenStreams(2) == 2, "round \(round)")
        }
        // Callers 0 and 1 reused their streams in rounds 1–3; caller 2 never kept one.
        #expect(try await Self.metric("shunt_agent_laptop_streams_reused_total", world) == "6")
        #expect(try await Self.metric(#"shunt_agent_requests_total{route="laptop"}"#, world) == "12")

        for caller in callers { await caller.close() }
        #expect(try await alice.waitForOpenStreams(0) == 0)
        await alice.client.close()
        await local.stop()
        try await world.stop()
    }

    /// A laptop that refuses the second request of a kept stream (REFUSED_STREAM, as when it had
    /// ended the stream as the request went out): the edge sends the request again on a new stream,
    /// and the caller never sees the refusal. The request is counted once where it went, and once as
    /// a retry.
    @Test(.timeLimit(.minutes(1))) func aRequestRefusedOnAKeptStreamGoesOutAgainAndCountsOnce() async throws {
        let world = try await World.start(admin: true)
        let opened = NIOLockedValueBox(0)
        let client = try await InterceptClient.connect(
            host: "127.0.0.1", port: world.agent.tunnelPort, endpoint: try world.certs.developer("alice"), group: world.group,
            configuration: InterceptClient.sessionConfiguration,
            streams: { stream in
                let number = opened.withLockedValue { $0 += 1; return $0 }
                return stream.eventLoop.makeCompletedFuture {
                    try stream.pipeline.syncOperations.addHandler(OneAnswerPerStream(body: "stream \(number)"))
                }
            })
        _ = try await client.register(InterceptCalls.RegisterRequest(name: "orders-alice", rule: try RuleFlags(httpHeader: ["x-dev=alice"]).spec()))

        let caller = try await KeepAliveClient(port: world.agent.edgePorts[0], group: world.group)
        #expect(try await caller.send("GET /1 HTTP/1.1\r\nHost: o\r\nx-dev: alice\r\n\r\n").body == "stream 1")
        // Sent on the kept stream 1, refused there, answered on stream 2.
        #expect(try await caller.send("GET /2 HTTP/1.1\r\nHost: o\r\nx-dev: alice\r\n\r\n").body == "stream 2")
        #expect(opened.withLockedValue { $0 } == 2)
        #expect(try await Self.metric("shunt_agent_laptop_streams_reused_total", world) == "1")
        #expect(try await Self.metric("shunt_agent_laptop_retries_total", world) == "1")
        #expect(try await Self.metric(#"shunt_agent_requests_total{route="laptop"}"#, world) == "2")
        #expect(try await Self.metric(#"shunt_agent_requests_total{route="failed_open"}"#, world) == "0")

        await caller.close()
        await client.close()
        try await world.stop()
    }

    /// The same refusal from a laptop that is going away (GOAWAY just before it): the new stream
    /// for the retry cannot be had, so the app serves the request. It counts for the app alone, in
    /// the metrics and in `shunt list`. A second caller's request, held unanswered by the laptop,
    /// keeps alice's session (and so her intercept) open while bob lists it.
    @Test(.timeLimit(.minutes(1))) func aRefusedRequestWhoseRetryFailsOpenCountsForTheAppAlone() async throws {
        let world = try await World.start(admin: true)
        let client = try await InterceptClient.connect(
            host: "127.0.0.1", port: world.agent.tunnelPort, endpoint: try world.certs.developer("alice"), group: world.group,
            configuration: InterceptClient.sessionConfiguration,
            streams: { stream in
                stream.eventLoop.makeCompletedFuture {
                    try stream.pipeline.syncOperations.addHandler(OneAnswerPerStream(body: "laptop", goAwayFirst: true))
                }
            })
        _ = try await client.register(InterceptCalls.RegisterRequest(name: "orders-alice", rule: try RuleFlags(httpHeader: ["x-dev=alice"]).spec()))

        let caller = try await KeepAliveClient(port: world.agent.edgePorts[0], group: world.group)
        #expect(try await caller.send("GET /1 HTTP/1.1\r\nHost: o\r\nx-dev: alice\r\n\r\n").body == "laptop")
        let holder = try await KeepAliveClient(port: world.agent.edgePorts[0], group: world.group)
        let held = Task { try await holder.send("GET /hold HTTP/1.1\r\nHost: o\r\nx-dev: alice\r\n\r\n") }
        for _ in 0..<250 where try await Self.metric(#"shunt_agent_requests_total{route="laptop"}"#, world) != "2" {
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(try await caller.send("GET /2 HTTP/1.1\r\nHost: o\r\nx-dev: alice\r\n\r\n").body == "app GET /2 0")
        #expect(try await Self.metric("shunt_agent_laptop_streams_reused_total", world) == "1")
        #expect(try await Self.metric("shunt_agent_laptop_retries_total", world) == "1")
        #expect(try await Self.metric(#"shunt_agent_requests_total{route="laptop"}"#, world) == "2", "/1 and /hold")
        #expect(try await Self.metric(#"shunt_agent_requests_total{route="failed_open"}"#, world) == "1")
        let bob = try await InterceptClient.connect(host: "127.0.0.1", port: world.agent.tunnelPort, endpoint: try world.certs.developer("bob"),
                                                    group: world.group, configuration: InterceptClient.sessionConfiguration,
                                                    streams: { $0.eventLoop.makeSucceededVoidFuture() })
        let listed = try await bob.list()
        #expect(listed.first { $0.name == "orders-alice" }?.requests == 2, "\(listed)")

        await caller.close()
        await holder.close()
        _ = await held.result
        await bob.close()
        await client.close()
        try await world.stop()
    }

    /// On a laptop's stream: answers the first request with `body`, and resets the stream with
    /// REFUSED_STREAM when a second arrives on it (`goAwayFirst`: after sending GOAWAY on its session).
    final class OneAnswerPerStream: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer
        let body: String
        let goAwayFirst: Bool
        var answered = false

        init(body: String, goAwayFirst: Bool = false) {
            self.body = body
            self.goAwayFirst = goAwayFirst
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            if goAwayFirst, String(buffer: unwrapInboundIn(data)).hasPrefix("GET /hold ") { return }  // never answered
            guard !answered else {
                if goAwayFirst, let session = try? context.channel.parent?.pipeline.syncOperations.handler(type: SessionHandler.self) {
                    session.goAway(debug: "leaving")
                }
                (context.channel as? ShuntStreamChannel)?.reset(code: .refusedStream, reason: "one exchange per stream here")
                return
            }
            answered = true
            let response = "HTTP/1.1 200 OK\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)"
            context.writeAndFlush(wrapOutboundOut(context.channel.allocator.buffer(string: response)), promise: nil)
        }
    }

    /// A laptop whose HELLO does not set HTTP_KEEP_ALIVE (an older one) gets one stream per request,
    /// each ended after its response.
    @Test(.timeLimit(.minutes(1))) func aLaptopWithoutTheSettingGetsAStreamPerRequest() async throws {
        let world = try await World.start(admin: true)
        let local = try await NamedHTTPServer(name: "laptop", group: world.group)
        var configuration = InterceptClient.sessionConfiguration
        configuration.settings.httpKeepAlive = 0
        let alice = try await Laptop.connect(world, serving: local, configuration: configuration)

        let caller = try await KeepAliveClient(port: world.agent.edgePorts[0], group: world.group)
        for round in 0..<3 {
            #expect(try await caller.send("GET /\(round) HTTP/1.1\r\nHost: o\r\nx-dev: alice\r\n\r\n").body == "laptop GET /\(round) 0")
            #expect(try await alice.waitForOpenStreams(0) == 0, "round \(round)")
        }
        #expect(try await Self.metric("shunt_agent_laptop_streams_reused_total", world) == "0")
        #expect(alice.lines.withLockedValue { $0.count } == 3)

        await caller.close()
        await alice.client.close()
        await local.stop()
        try await world.stop()
    }
}

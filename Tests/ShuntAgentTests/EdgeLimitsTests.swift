import Foundation
import NIOCore
import NIOPosix
import ShuntAgent
import ShuntMatch
import ShuntTestSupport
import Testing

/// The edge's limits on real sockets: strict parsing, the header-read timeout, big bodies streamed.
@Suite(.serialized) struct EdgeLimitsTests {
    /// Sends raw octets and collects everything until the edge closes the connection.
    static func exchange(port: Int, group: EventLoopGroup, send: [String], pause: TimeAmount = .zero) async throws -> String {
        let done = group.next().makePromise(of: String.self)
        let channel = try await ClientBootstrap(group: group)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(Drain(done: done)) }
            }
            .connect(host: "127.0.0.1", port: port).get()
        // The pieces are written, and the pauses kept, by the channel's event loop: a test task
        // resumed late (the runner's threads busy with other tests) would stretch a pause past the
        // timeouts the test sets. The edge may close before every piece is written (that is what
        // some tests wait for): a write that fails is not an error.
        let loop = channel.eventLoop
        let pieces = send.map { ByteBuffer(string: $0) }
        try await loop.submit { Self.write(pieces[...], to: channel, pause: pause) }.get()
        return try await done.futureResult.awaited()
    }

    /// Writes the first piece now and the rest one `pause` after another (on the channel's loop).
    static func write(_ pieces: ArraySlice<ByteBuffer>, to channel: Channel, pause: TimeAmount) {
        guard let first = pieces.first else { return }
        channel.writeAndFlush(first, promise: nil)
        let rest = pieces.dropFirst()
        guard !rest.isEmpty else { return }
        if pause == .zero {
            write(rest, to: channel, pause: pause)
        } else {
            channel.eventLoop.scheduleTask(in: pause) { write(rest, to: channel, pause: pause) }
        }
    }

    final class Drain: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        let done: EventLoopPromise<String>
        var text = ""
        init(done: EventLoopPromise<String>) { self.done = done }
        func channelRead(context: ChannelHandlerContext, data: NIOAny) { text += String(buffer: unwrapInboundIn(data)) }
        func channelInactive(context: ChannelHandlerContext) { done.succeed(text) }
    }

    @Test(.timeLimit(.minutes(1))) func aSmugglingAttemptIsRefusedAtTheEdgeAndNeverReachesTheApp() async throws {
        let world = try await AgentLoopbackTests.World.start()
        let answer = try await Self.exchange(port: world.agent.edgePorts[0], group: world.group, send: [
            "POST / HTTP/1.1\r\nHost: o\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /admin HTTP/1.1\r\nHost: o\r\n\r\n",
        ])
        #expect(answer.hasPrefix("HTTP/1.1 400 Bad Request\r\n"))
        #expect(!answer.contains("app GET /admin"))
        #expect(answer.contains("Content-Length and Transfer-Encoding") || answer.lowercased().contains("transfer-encoding"))
        try await world.stop()
    }

    /// Slowloris: a head that trickles in is cut at the header-read timeout with 408.
    @Test(.timeLimit(.minutes(1))) func aHeadThatDoesNotArriveInTimeGets408() async throws {
        var configuration = EdgeConfiguration()
        configuration.headerReadTimeout = .milliseconds(300)
        let world = try await AgentLoopbackTests.World.start(edge: configuration)
        let answer = try await Self.exchange(port: world.agent.edgePorts[0], group: world.group,
                                             send: ["GET / HTTP/1.1\r\n", "Host: o\r\n"], pause: .milliseconds(200))
        #expect(answer.hasPrefix("HTTP/1.1 408 Request Timeout\r\n"))
        try await world.stop()
    }

    /// An idle keep-alive connection is closed quietly after the idle timeout.
    @Test(.timeLimit(.minutes(1))) func anIdleConnectionIsClosedWithoutAWord() async throws {
        var configuration = EdgeConfiguration()
        configuration.idleTimeout = .milliseconds(200)
        let world = try await AgentLoopbackTests.World.start(edge: configuration)
        let answer = try await Self.exchange(port: world.agent.edgePorts[0], group: world.group,
                                             send: ["GET /a HTTP/1.1\r\nHost: o\r\n\r\n"])
        #expect(answer.hasPrefix("HTTP/1.1 200 OK"))
        #expect(answer.hasSuffix("app GET /a 0"))
        try await world.stop()
    }

    /// The connection's one wake-up comes every header-read timeout at most and moves on while the
    /// deadline does: an idle timeout ten times longer is kept whole, not cut at the first wake-up.
    @Test(.timeLimit(.minutes(1))) func anIdleTimeoutLongerThanTheHeaderTimeoutIsKeptWhole() async throws {
        var configuration = EdgeConfiguration()
        configuration.headerReadTimeout = .milliseconds(100)
        configuration.idleTimeout = .seconds(3)
        let world = try await AgentLoopbackTests.World.start(edge: configuration)
        let answer = try await Self.exchange(port: world.agent.edgePorts[0], group: world.group,
                                             send: ["GET /a HTTP/1.1\r\nHost: o\r\n\r\n", "GET /b HTTP/1.1\r\nHost: o\r\n\r\n"],
                                             pause: .seconds(1))
        #expect(answer.components(separatedBy: "HTTP/1.1 200 OK").count == 3, "both requests answered: \(answer)")
        #expect(answer.hasSuffix("app GET /b 0"))
        try await world.stop()
    }

    /// A head begun after a long idle spell (many wake-ups moved on) still gets its 408 at the
    /// header-read timeout, not at the idle one.
    @Test(.timeLimit(.minutes(1))) func aHeadBegunLateInAnIdleSpellStillGets408OnTime() async throws {
        var configuration = EdgeConfiguration()
        configuration.headerReadTimeout = .milliseconds(300)
        configuration.idleTimeout = .seconds(60)
        let world = try await AgentLoopbackTests.World.start(edge: configuration)
        let started = ContinuousClock.now
        let answer = try await Self.exchange(port: world.agent.edgePorts[0], group: world.group,
                                             send: ["GET /a HTTP/1.1\r\nHost: o\r\n\r\n", "GET /b HTTP/1.1\r\n"], pause: .seconds(1))
        #expect(answer.hasPrefix("HTTP/1.1 200 OK"))
        #expect(answer.contains("HTTP/1.1 408 Request Timeout\r\n"))
        // Far below the 60 s idle timeout, whatever the machine's load.
        #expect(ContinuousClock.now - started < .seconds(30))
        try await world.stop()
    }

    /// A 64 MiB upload through a personal intercept: streamed, not buffered, and counted intact.
    @Test(.timeLimit(.minutes(2))) func aLargeUploadStreamsThroughTheTunnel() async throws {
        let world = try await AgentLoopbackTests.World.start()
        let local = try await NamedHTTPServer(name: "laptop", group: world.group)
        let alice = try await world.laptop("alice", serving: local)
        _ = try await alice.register("orders-alice", rule: try RuleFlags(httpHeader: ["x-dev=alice"]).spec())
        let size = 64 << 20
        let caller = try await KeepAliveClient(port: world.agent.edgePorts[0], group: world.group)
        let channel = caller.channel
        let head = "PUT /big HTTP/1.1\r\nHost: o\r\nx-dev: alice\r\nContent-Length: \(size)\r\n\r\n"
        let answer: KeepAliveClient.Response
        do {
            let response = try await caller.start(head)
            let chunk = ByteBuffer(repeating: 0x61, count: 1 << 20)
            for _ in 0..<(size >> 20) { try await channel.writeAndFlush(chunk) }
            answer = try await response.awaited("the upload's answer", within: .minutes(2))
        } catch {
            Issue.record("upload failed: \(error); agent log: \(world.log.all)")
            throw error
        }
        #expect(answer.body == "laptop PUT /big \(size)")
        await caller.close()
        await alice.close()
        await local.stop()
        try await world.stop()
    }
}

/// The admin port answers Kubernetes probes.
@Suite struct AdminPortTests {
    @Test(.timeLimit(.minutes(1))) func healthAndReadinessAnswer200() async throws {
        let world = try await AgentLoopbackTests.World.start(admin: true)
        let port = try #require(world.agent.adminPort)
        let client = try await KeepAliveClient(port: port, group: world.group)
        let health = try await client.send("GET /healthz HTTP/1.1\r\nHost: agent\r\n\r\n")
        #expect(health.status == 200)
        #expect(health.body == "ok\n")
        let ready = try await client.send("GET /readyz HTTP/1.1\r\nHost: agent\r\n\r\n")
        #expect(ready.status == 200)
        let other = try await client.send("GET /secrets HTTP/1.1\r\nHost: agent\r\n\r\n")
        #expect(other.status == 404)
        await client.close()
        try await world.stop()
    }
}

/// SIGTERM: the agent stops accepting, lets connections finish, sends laptops GOAWAY, and is done.
@Suite struct AgentShutdownTests {
    @Test(.timeLimit(.minutes(1))) func aGracefulShutdownClosesIdleConnectionsAndEndsSessionsCleanly() async throws {
        let world = try await AgentLoopbackTests.World.start()
        let local = try await NamedHTTPServer(name: "laptop", group: world.group)
        let alice = try await world.laptop("alice", serving: local)
        _ = try await alice.register("orders-alice", rule: try RuleFlags(httpHeader: ["x-dev=alice"]).spec())
        let caller = try await KeepAliveClient(port: world.agent.edgePorts[0], group: world.group)
        #expect(try await caller.send("GET /a HTTP/1.1\r\nHost: o\r\nx-dev: alice\r\n\r\n").body == "laptop GET /a 0")
        let loop = alice.connection.channel.eventLoop
        let aliceEnded = try await loop.submit { alice.connection.session.ended(on: loop) }.get()

        let cut = await world.agent.shutdown(deadline: .seconds(5))
        #expect(cut.connections == 0)
        #expect(cut.sessions == 0)
        try await caller.channel.closeFuture.awaited()
        #expect(try await aliceEnded.awaited() == nil)
        #expect(world.log.contains("shut down"))
        await local.stop()
        await world.app.stop()
        world.certs.remove()
    }
}

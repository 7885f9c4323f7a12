import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import ShuntEndpoint
import ShuntSession
import ShuntTLS
import ShuntWire
import Testing

/// HTTP streams share keep-alive connections to the local service: one connection serves request
/// after request; a response that says `Connection: close` is not reused; an idle connection is
/// closed after the pool's idle timeout.
@Suite(.timeLimit(.minutes(1))) struct LocalPoolTests {
    static let request = Array("GET /api HTTP/1.1\r\nHost: orders\r\n\r\n".utf8)

    @Test func sequentialStreamsReuseOneConnection() async throws {
        let response = Array("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".utf8)
        let world = try await PoolWorld.start(response: response, pool: LocalPoolLimits(idleTimeout: .seconds(60)))
        let (local, connection) = (world.local, world.connection)

        for id in 1...20 {
            let answer = try await FakeAgent.exchange(on: connection, request: Self.request, responseLength: response.count, requestID: "r\(id)")
            #expect(answer == response)
        }
        #expect(local.accepted.withLockedValue { $0 } == 1)
        #expect(local.requests == 20)
        #expect(world.forwarder.connectionsDialled == 1)

        try await world.stop()
    }

    /// The service closes a kept-alive connection just as a GET goes out on it: the GET is sent
    /// again on a new connection and answered; a POST in the same spot is not sent again (it may
    /// have had an effect) and its stream ends without an answer, which the agent turns into 502.
    @Test func aSafeRequestIsSentAgainWhenAReusedConnectionClosesOnIt() async throws {
        let response = Array("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".utf8)
        let world = try await PoolWorld.start(response: response, closeOnRequest: 2, pool: LocalPoolLimits(idleTimeout: .seconds(60)))
        let (local, connection) = (world.local, world.connection)

        for id in 1...3 {
            // r1 on connection 1; r2 reuses it, is dropped, and is answered on connection 2; r3 reuses 2, and so on.
            let answer = try await FakeAgent.exchange(on: connection, request: Self.request, responseLength: response.count, requestID: "r\(id)")
            #expect(answer == response, "request \(id)")
        }
        #expect(local.requests == 3)
        #expect(local.accepted.withLockedValue { $0 } == 3)

        let post = Array("POST /api HTTP/1.1\r\nHost: orders\r\nContent-Length: 0\r\n\r\n".utf8)
        let answer = try await FakeAgent.exchange(on: connection, request: post, responseLength: response.count, requestID: "p1")
        #expect(answer.isEmpty, "the POST was not sent again")
        #expect(local.accepted.withLockedValue { $0 } == 3)

        try await world.stop()
    }

    /// Sent again once only: when the new connection drops the request too, the stream ends
    /// without an answer.
    @Test func aRequestIsSentAgainAtMostOnce() async throws {
        let response = Array("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".utf8)
        let world = try await PoolWorld.start(response: response, pool: LocalPoolLimits(idleTimeout: .seconds(60)))
        let (local, connection) = (world.local, world.connection)
        let first = try await FakeAgent.exchange(on: connection, request: Self.request, responseLength: response.count, requestID: "r1")
        #expect(first == response)
        // From now on every request is dropped: on the reused connection, and again on the new one.
        local.closeOnRequest.withLockedValue { $0 = 1 }
        let second = try await FakeAgent.exchange(on: connection, request: Self.request, responseLength: response.count, requestID: "r2")
        #expect(second.isEmpty)
        #expect(local.accepted.withLockedValue { $0 } == 2, "one new connection, not more")
        try await world.stop()
    }

    @Test func aResponseThatSaysCloseIsNotReusedAndIdleConnectionsTimeOut() async throws {
        let closing = Array("HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok".utf8)
        // 1 s: long enough that a loaded machine (the whole suite runs in parallel on two cores) sees
        // the connection pooled before its time runs out.
        let world = try await PoolWorld.start(response: closing, pool: LocalPoolLimits(maxIdle: 4, idleTimeout: .seconds(1)))
        let (local, connection) = (world.local, world.connection)

        for id in 1...3 {
            let answer = try await FakeAgent.exchange(on: connection, request: Self.request, responseLength: closing.count, requestID: "r\(id)")
            #expect(answer == closing)
        }
        #expect(local.accepted.withLockedValue { $0 } == 3)

        // Now keep-alive answers: one connection is pooled, then closed by the idle timeout.
        local.response.withLockedValue { $0 = Array("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".utf8) }
        _ = try await FakeAgent.exchange(on: connection, request: Self.request, responseLength: 40, requestID: "r4")
        #expect(local.open.withLockedValue { $0 } == 1)
        // Waited for, not slept on: the pool closes it 1 s after it went idle; 5 s is the bound.
        let idleSince = ContinuousClock.now
        while local.open.withLockedValue({ $0 }) != 0 && ContinuousClock.now - idleSince < .seconds(5) {
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(local.open.withLockedValue { $0 } == 0, "the idle connection was closed by the pool")
        _ = try await FakeAgent.exchange(on: connection, request: Self.request, responseLength: 40, requestID: "r5")
        #expect(local.accepted.withLockedValue { $0 } == 5)

        try await world.stop()
    }
}

/// A fake agent, a laptop's forwarder connected to it with `pool`, and a `KeepAliveServer` as the
/// local service.
struct PoolWorld {
    let group: MultiThreadedEventLoopGroup
    let agent: FakeAgent
    let local: KeepAliveServer
    let forwarder: LocalForwarder
    let client: InterceptClient
    let connection: ShuntConnection

    static func start(response: [UInt8], closeOnRequest: Int = 0, pool: LocalPoolLimits,
                      events: @escaping @Sendable (EndpointEvent) -> Void = { _ in }) async throws -> PoolWorld {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let agent = try await FakeAgent(group: group)
        let local = try await KeepAliveServer(group: group, response: response, closeOnRequest: closeOnRequest)
        let forwarder = LocalForwarder(port: local.port, developer: "alice", pool: pool, events: events)
        let client = try await InterceptClient.connect(host: "127.0.0.1", port: agent.port, endpoint: try agent.developerEndpoint(),
                                                       group: group, streams: forwarder.streamInitializer)
        var connections = agent.connections.makeAsyncIterator()
        let connection = try #require(await connections.next())
        return PoolWorld(group: group, agent: agent, local: local, forwarder: forwarder, client: client, connection: connection)
    }

    func stop() async throws {
        await client.close()
        await local.stop()
        await agent.stop()
        try await group.shutdownGracefully()
    }
}

/// A keep-alive HTTP/1.1 service: answers every request head (requests without bodies) with
/// `response`, closes after a response that says `Connection: close`, and counts connections. With
/// `closeOnRequest` N > 0, it closes a connection without a word when its Nth or a later request
/// arrives (its keep-alive timeout running out just as a request comes).
final class KeepAliveServer: @unchecked Sendable {
    let listener: Channel
    let accepted = NIOLockedValueBox(0)
    let open = NIOLockedValueBox(0)
    /// The request line of each request answered, in order.
    let answered = NIOLockedValueBox<[String]>([])
    /// Requests answered.
    var requests: Int { answered.withLockedValue { $0.count } }
    let response: NIOLockedValueBox<[UInt8]>
    let closeOnRequest: NIOLockedValueBox<Int>

    init(group: EventLoopGroup, response: [UInt8], closeOnRequest: Int = 0) async throws {
        let state = (accepted, open, answered, NIOLockedValueBox(response))
        let closing = NIOLockedValueBox(closeOnRequest)
        self.closeOnRequest = closing
        self.response = state.3
        listener = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .childChannelInitializer { channel in
                state.0.withLockedValue { $0 += 1 }
                state.1.withLockedValue { $0 += 1 }
                channel.closeFuture.whenComplete { _ in state.1.withLockedValue { $0 -= 1 } }
                return channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(Responder(response: state.3, answered: state.2, closeOnRequest: closing))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
    }

    var port: Int { listener.localAddress!.port! }

    func stop() async { try? await listener.close() }

    final class Responder: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer
        let response: NIOLockedValueBox<[UInt8]>
        let answered: NIOLockedValueBox<[String]>
        let closeOnRequest: NIOLockedValueBox<Int>
        var pending: [UInt8] = []
        var seen = 0

        init(response: NIOLockedValueBox<[UInt8]>, answered: NIOLockedValueBox<[String]>, closeOnRequest: NIOLockedValueBox<Int>) {
            self.response = response
            self.answered = answered
            self.closeOnRequest = closeOnRequest
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            pending += Array(unwrapInboundIn(data).readableBytesView)
            while let end = pending.indices.dropLast(3).first(where: { pending[$0..<$0 + 4].elementsEqual("\r\n\r\n".utf8) }) {
                let line = String(decoding: pending[..<end].prefix { $0 != UInt8(ascii: "\r") }, as: UTF8.self)
                pending.removeFirst(end + 4)
                seen += 1
                let closeOn = closeOnRequest.withLockedValue { $0 }
                if closeOn > 0 && seen >= closeOn {
                    context.close(promise: nil)
                    return
                }
                answered.withLockedValue { $0.append(line) }
                let answer = response.withLockedValue { $0 }
                context.writeAndFlush(wrapOutboundOut(ByteBuffer(bytes: answer)), promise: nil)
                if String(decoding: answer, as: UTF8.self).lowercased().contains("connection: close") {
                    context.close(promise: nil)
                    return
                }
            }
        }

        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            if let event = event as? ChannelEvent, case .inputClosed = event { context.close(promise: nil) }
        }
    }
}

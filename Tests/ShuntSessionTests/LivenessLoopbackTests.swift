import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import ShuntSession
import ShuntTestSupport
import ShuntWire
import Testing

/// Drops everything that arrives while `open` is false: a network that silently loses packets.
final class Valve: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    let open: NIOLockedValueBox<Bool>
    init(open: NIOLockedValueBox<Bool>) { self.open = open }
    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if open.withLockedValue({ $0 }) { context.fireChannelRead(data) }
    }
}

/// A TCP proxy on 127.0.0.1 between the two sessions, whose valve can be shut.
struct LossyProxy {
    let listener: Channel
    let open: NIOLockedValueBox<Bool>

    static func start(group: EventLoopGroup, to target: SocketAddress) async throws -> LossyProxy {
        let open = NIOLockedValueBox(true)
        let listener = try await ServerBootstrap(group: group)
            .childChannelOption(.autoRead, value: false)
            .childChannelInitializer { inbound in
                ClientBootstrap(group: inbound.eventLoop).connect(to: target).flatMapThrowing { outbound in
                    let (a, b) = GlueHandler.matchedPair()
                    try inbound.pipeline.syncOperations.addHandler(Valve(open: open))
                    try inbound.pipeline.syncOperations.addHandler(a)
                    try outbound.pipeline.syncOperations.addHandler(Valve(open: open))
                    try outbound.pipeline.syncOperations.addHandler(b)
                }.flatMap { inbound.setOption(.autoRead, value: true) }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        return LossyProxy(listener: listener, open: open)
    }

    func cut() { open.withLockedValue { $0 = false } }
}

@Suite(.timeLimit(.minutes(1))) struct LivenessLoopbackTests {
    /// The network between the sides starts dropping everything: each side declares the other dead
    /// within its bound, resets its streams (their owners see the error) and reports TIMEOUT.
    @Test func aPeerBehindALossyLinkIsDeclaredDeadAndItsStreamsReset() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        var serverConfiguration = SessionConfiguration(role: .server)
        serverConfiguration.pingInterval = .milliseconds(100)
        // Longer than the client's: the side asserted on below must be the first to see the death.
        // With equal bounds the server could win the race on a loaded machine, close its TCP
        // connection, and the proxy would pass that close on: the client then saw "the connection
        // closed" instead of detecting the silence itself.
        serverConfiguration.deathBound = .seconds(2)
        let server = serverConfiguration
        let serverListener = try await ServerBootstrap(group: group)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(SessionHandler(configuration: server, inboundStreamInitializer: LoopbackSessions.echo))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        let proxy = try await LossyProxy.start(group: group, to: serverListener.localAddress!)

        var clientConfiguration = SessionConfiguration(role: .client)
        clientConfiguration.pingInterval = .milliseconds(100)
        clientConfiguration.deathBound = .milliseconds(500)
        let client = SessionHandler(configuration: clientConfiguration, inboundStreamInitializer: LoopbackSessions.echo)
        let channel = try await ClientBootstrap(group: group)
            .channelInitializer { channel in channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(client) } }
            .connect(to: proxy.listener.localAddress!).get()
        let loop = channel.eventLoop
        _ = try await loop.flatSubmit { client.ready(on: loop) }.awaited()

        // An idle session with a working link survives several death bounds.
        try await Task.sleep(for: .milliseconds(1_500))
        #expect(try await loop.submit { client.isReady && !client.isClosing }.get())

        // A stream is open when the link dies.
        let streamError = loop.makePromise(of: Error.self)
        let ended = try await loop.submit { client.ended(on: loop) }.get()
        _ = try await loop.flatSubmit {
            client.openStream(kind: .tcp) { stream in
                stream.eventLoop.makeCompletedFuture { try stream.pipeline.syncOperations.addHandler(ErrorCatcher(caught: streamError)) }
            }
        }.get()
        // The end is timed on the session's event loop, as it happens: this task may resume late.
        let endedAt = ended.map { error in (error, NIODeadline.now()) }
        let cutAt = NIODeadline.now()
        proxy.cut()
        let (ending, at) = try await endedAt.awaited()
        let error = try #require(ending)
        let detected = at - cutAt
        #expect(error.code == .timeout)
        #expect(error.message.contains("no frame from the peer"))
        #expect(detected < .milliseconds(1_500), "death took \(detected.nanoseconds / 1_000_000) ms for a 500 ms bound")
        let reset = try #require(try await streamError.futureResult.awaited() as? StreamResetError)
        #expect(reset.byPeer == false)

        try? await channel.close()
        try await proxy.listener.close()
        try await serverListener.close()
        try await group.shutdownGracefully()
    }
}

final class ErrorCatcher: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer
    let caught: EventLoopPromise<Error>
    init(caught: EventLoopPromise<Error>) { self.caught = caught }
    func errorCaught(context: ChannelHandlerContext, error: Error) { caught.succeed(error) }
    func channelInactive(context: ChannelHandlerContext) { caught.succeed(ChannelError.eof) }
}

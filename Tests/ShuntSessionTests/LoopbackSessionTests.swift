import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import ShuntSession
import ShuntTestSupport
import ShuntWire
import Testing

/// The session over real sockets on 127.0.0.1 (no TLS: the session layer alone).
/// The time limit guards against hangs; the thousand-stream echo takes minutes on a loaded 2-core machine.
@Suite(.timeLimit(.minutes(8))) struct LoopbackSessionTests {
    @Test func aStreamEchoesOneMebibyteIntact() async throws {
        let sessions = try await LoopbackSessions.start()
        let (count, intact) = try await sessions.client.exchange(total: 1 << 20, seed: 1).awaited("the echo of 1 MiB", within: .minutes(8))
        #expect(count == 1 << 20)
        #expect(intact)
        let ended = try await sessions.shutdown()
        #expect(ended.client == nil)
        #expect(ended.server == nil)
    }

    @Test func aThousandConcurrentStreamsEchoOneMebibyteEachBothSidesOpening() async throws {
        let sessions = try await LoopbackSessions.startWide()
        let size = 1 << 20
        var exchanges = (0..<500).map { sessions.client.exchange(total: size, seed: UInt64($0)) }
        exchanges += (500..<1000).map { sessions.server.exchange(total: size, seed: UInt64($0)) }
        for future in exchanges {
            let (count, intact) = try await future.awaited("the echo", within: .minutes(8))
            #expect(count == size)
            #expect(intact)
        }
        let ended = try await sessions.shutdown()
        #expect(ended.client == nil)
        #expect(ended.server == nil)
    }
}

extension LoopbackSessions {
    /// Both sides grant 1,000 streams; a long death bound, as both ends share two busy cores with
    /// the other tests (liveness has tests of its own).
    static func startWide() async throws -> LoopbackSessions {
        var client = SessionConfiguration(role: .client)
        client.settings.initialMaxStreams = 1000
        client.deathBound = .seconds(30)
        var server = SessionConfiguration(role: .server)
        server.settings.initialMaxStreams = 1000
        server.deathBound = .seconds(30)
        return try await start(client: client, server: server)
    }
}

extension LoopbackSessionTests {
    @Test func twoHundredStreamsEchoQuarterMebibyteEach() async throws {
        let sessions = try await LoopbackSessions.startWide()
        var exchanges = (0..<100).map { sessions.client.exchange(total: 1 << 18, seed: UInt64($0)) }
        exchanges += (100..<200).map { sessions.server.exchange(total: 1 << 18, seed: UInt64($0)) }
        for future in exchanges {
            let (count, intact) = try await future.awaited("the echo", within: .minutes(8))
            #expect(count == 1 << 18)
            #expect(intact)
        }
        let ended = try await sessions.shutdown()
        #expect(ended.client == nil)
        #expect(ended.server == nil)
    }
}

/// Writes `total` octets while the channel is writable; counts what it handed over.
final class GreedyWriter: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    let total: Int
    private(set) var written = 0
    init(total: Int) { self.total = total }
    func channelActive(context: ChannelHandlerContext) { pump(context) }
    func channelWritabilityChanged(context: ChannelHandlerContext) { pump(context) }
    private func pump(_ context: ChannelHandlerContext) {
        while written < total && context.channel.isWritable {
            context.writeAndFlush(wrapOutboundOut(ByteBuffer(repeating: 0x42, count: 16_384)), promise: nil)
            written += 16_384
        }
        if written == total { context.close(mode: .output, promise: nil); written += 1 }
    }
}

extension LoopbackSessionTests {
    /// A receiver that does not read: the sender stops at the window; both sides' buffers stay within
    /// their limits (asserted on octets, not on time); when the reader starts, everything arrives.
    @Test func aSlowReaderStopsTheSenderWithBoundedBuffers() async throws {
        let received = NIOLockedValueBox(0)
        let sessions = try await LoopbackSessions.start(serverStreams: { channel in
            channel.setOption(.autoRead, value: false).flatMapThrowing {
                try channel.pipeline.syncOperations.addHandler(ByteCounter(count: received))
            }
        })
        let total = 8 << 20
        let writer = GreedyWriter(total: total)
        let stream = try await sessions.client.onLoop { handler in
            handler.openStream(kind: .tcp) { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(writer) }
            }
        }.get()
        // Wait until the server holds a full window and the writer is stuck (bounded polling).
        let window = Int(SessionConfiguration(role: .server).settings.initialStreamWindow)
        var serverBuffered = 0
        for _ in 0..<500 {
            serverBuffered = try await sessions.server.onLoop { $0.streamChannels.values.first?.bufferedInboundBytes ?? 0 }
            if serverBuffered == window { break }
            try await Task.sleep(for: .milliseconds(10))
        }
        try await Task.sleep(for: .milliseconds(200))  // give a misbehaving sender time to overrun
        serverBuffered = try await sessions.server.onLoop { $0.streamChannels.values.first?.bufferedInboundBytes ?? 0 }
        let clientQueued = try await sessions.client.onLoop { $0.queuedBytes(StreamID(1)) }
        let handedOver = try await stream.eventLoop.submit { writer.written }.get()
        let sendBuffer = SessionConfiguration(role: .client).streamSendBuffer
        #expect(serverBuffered == window, "the receiver buffers exactly the window it granted")
        #expect(clientQueued <= sendBuffer + 16_384, "the sender's queue is bounded")
        #expect(handedOver <= window + sendBuffer + 16_384, "the writer was stopped, not buffered without bound")
        #expect(stream.isWritable == false)

        // The reader starts: the rest flows.
        let serverStream = try await sessions.server.onLoop { $0.streamChannels.values.first! }
        try await serverStream.setOption(.autoRead, value: true).get()
        for _ in 0..<500 where received.withLockedValue({ $0 }) < total {
            try await Task.sleep(for: .milliseconds(10))
        }
        #expect(received.withLockedValue { $0 } == total)
        if received.withLockedValue({ $0 }) < total {
            print("client:\n" + (try await sessions.client.onLoop { $0.streamDiagnostics.joined(separator: "\n") }))
            print("server:\n" + (try await sessions.server.onLoop { $0.streamDiagnostics.joined(separator: "\n") }))
            print("writer: \(try await stream.eventLoop.submit { writer.written }.get())")
        }
        try await sessions.shutdown()
    }
}

final class ByteCounter: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer
    let count: NIOLockedValueBox<Int>
    init(count: NIOLockedValueBox<Int>) { self.count = count }
    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let octets = unwrapInboundIn(data).readableBytes
        count.withLockedValue { $0 += octets }
    }
}

/// Writes `total` octets as fast as the socket takes them, then closes (a server that answers and hangs up).
final class BlastAndClose: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    let total: Int
    init(total: Int) { self.total = total }
    func channelActive(context: ChannelHandlerContext) {
        var sent = 0
        while sent < total {
            context.write(wrapOutboundOut(Payload.chunk(seed: 7, offset: sent, size: 65_536)), promise: nil)
            sent += 65_536
        }
        context.writeAndFlush(wrapOutboundOut(ByteBuffer())).assumeIsolated().whenComplete { _ in context.close(promise: nil) }
    }
}

extension LoopbackSessionTests {
    /// A stream glued to a TCP connection whose server writes 4 MiB and closes at once: every octet
    /// reaches the other end of the stream before it ends (closing one side of a glue never drops
    /// what is still queued on the other).
    /// The source server allows half-closure: one that does not drops its own unsent tail when it reads
    /// the FIN the stream passes on (NIO fails queued writes on a full close), which is not a loss in Shunt.
    @Test
    func aGluedConnectionThatHangsUpRightAfterWritingLosesNothing() async throws {
        let total = 4 << 20
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let source = try await ServerBootstrap(group: group)
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(BlastAndClose(total: total)) }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        let address = source.localAddress!
        let sessions = try await LoopbackSessions.start(serverStreams: { stream in
            ClientBootstrap(group: stream.eventLoop)
                .channelOption(.allowRemoteHalfClosure, value: true)
                .connect(to: address)
                .flatMapThrowing { socket in
                    let (streamSide, socketSide) = GlueHandler.matchedPair()
                    try stream.pipeline.syncOperations.addHandler(streamSide)
                    try socket.pipeline.syncOperations.addHandler(socketSide)
                }
        })
        let (count, intact) = try await sessions.client.exchangeReceiving(seed: 7).awaited("what the server sent", within: .minutes(8))
        #expect(count == total)
        #expect(intact)
        try await sessions.shutdown()
        try await source.close()
        try await group.shutdownGracefully()
    }
}

extension SessionEnd {
    /// Opens a stream, sends FIN at once, and checks what comes back as stream `seed`'s octets.
    func exchangeReceiving(seed: UInt64) -> EventLoopFuture<(Int, Bool)> {
        exchange(total: 0, seed: seed)
    }
}

/// A stream whose setup (the initializer's future) completes after its session is gone: the
/// channel must not reach back into a freed session (it used to, through an unowned reference).
@Suite struct StreamOutlivesSessionTests {
    @Test(.timeLimit(.minutes(1))) func aSetupThatFinishesAfterTheSessionEndedIsHarmless() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let setups = NIOLockedValueBox(0)
        let slowSetup: SessionHandler.StreamInitializer = { stream in
            stream.eventLoop.scheduleTask(in: .milliseconds(300)) {}.futureResult.flatMapThrowing {
                setups.withLockedValue { $0 += 1 }
                try stream.pipeline.syncOperations.addHandler(EchoHandler())
            }
        }
        // The server's session handler is held by its pipeline only: it goes when the connection does.
        let serverHandler = NIOLockedValueBox(WeakHandler())
        let listener = try await ServerBootstrap(group: group)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let handler = SessionHandler(configuration: SessionConfiguration(role: .server), inboundStreamInitializer: slowSetup)
                    serverHandler.withLockedValue { $0.handler = handler }
                    try channel.pipeline.syncOperations.addHandler(handler)
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        let client = SessionHandler(configuration: SessionConfiguration(role: .client), inboundStreamInitializer: LoopbackSessions.echo)
        let channel = try await ClientBootstrap(group: group)
            .channelInitializer { channel in channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(client) } }
            .connect(to: listener.localAddress!).get()
        let loop = channel.eventLoop
        _ = try await loop.flatSubmit { client.ready(on: loop) }.awaited()
        for _ in 0..<3 {
            _ = try await loop.flatSubmit { client.openStream(kind: .tcp, metadata: StreamMetadata([])) { $0.eventLoop.makeSucceededVoidFuture() } }.awaited()
        }
        try await Task.sleep(for: .milliseconds(50))
        try await channel.close()
        // The setups finish on a session that ended (and whose handler is gone); nothing crashes.
        try await Task.sleep(for: .milliseconds(600))
        #expect(setups.withLockedValue { $0 } == 3)
        // And nothing is kept alive by the streams: the session and its channels are freed.
        try await listener.close()
        try await loop.submit {}.get()
        #expect(serverHandler.withLockedValue { $0.handler } == nil, "the ended session is still referenced")
        try await group.shutdownGracefully()
    }
}

struct WeakHandler: @unchecked Sendable {
    weak var handler: SessionHandler?
}

#if canImport(Glibc)
import Glibc
#endif
import NIOCore
import NIOPosix
import ShuntSession
import ShuntTestSupport
import ShuntWire

/// Echoes a stream back with backpressure: reads only while it can write, FIN answers FIN.
final class EchoHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    private var pendingRead = false

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        context.write(data, promise: nil)
    }

    func channelReadComplete(context: ChannelHandlerContext) {
        context.flush()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, case .inputClosed = event {
            context.close(mode: .output, promise: nil)
        }
    }

    func read(context: ChannelHandlerContext) {
        if context.channel.isWritable { context.read() } else { pendingRead = true }
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable && pendingRead {
            pendingRead = false
            context.read()
        }
    }
}

/// Test data: stream `seed` carries an endless repetition of a fixed random block, starting at an
/// offset of its own, so every octet's expected value is known and checks are a `memcmp`.
enum Payload {
    static let blockSize = 1 << 20
    static let block: [UInt8] = {
        var state: UInt64 = 0x5348_554E_5421
        return (0..<blockSize).map { _ in
            state ^= state << 13; state ^= state >> 7; state ^= state << 17
            return UInt8(truncatingIfNeeded: state)
        }
    }()

    static func start(seed: UInt64) -> Int { Int(seed &* 4099 % UInt64(blockSize)) }

    /// `size` octets of stream `seed` from stream offset `offset`.
    static func chunk(seed: UInt64, offset: Int, size: Int) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.reserveCapacity(size)
        var position = (start(seed: seed) + offset) % blockSize
        var remaining = size
        while remaining > 0 {
            let run = min(remaining, blockSize - position)
            buffer.writeBytes(block[position..<(position + run)])
            remaining -= run
            position = 0
        }
        return buffer
    }

    /// Whether `bytes` are exactly stream `seed`'s octets at `offset`.
    static func matches(_ bytes: ByteBuffer, seed: UInt64, offset: Int) -> Bool {
        bytes.withUnsafeReadableBytes { raw in
            block.withUnsafeBytes { expected in
                var position = (start(seed: seed) + offset) % blockSize
                var done = 0
                while done < raw.count {
                    let run = min(raw.count - done, blockSize - position)
                    if memcmp(raw.baseAddress! + done, expected.baseAddress! + position, run) != 0 { return false }
                    done += run
                    position = 0
                }
                return true
            }
        }
    }
}

/// Sends `total` octets of stream `seed` in `chunk`-sized writes respecting writability, then FIN,
/// while checking every octet that comes back; completes with (octets back, all matched).
final class ExchangeHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer
    let total: Int
    let chunkSize: Int
    let seed: UInt64
    let done: EventLoopPromise<(Int, Bool)>
    private var sent = 0
    private var received = 0
    private var intact = true
    private var finished = false

    init(total: Int, chunkSize: Int = 16_384, seed: UInt64, done: EventLoopPromise<(Int, Bool)>) {
        self.total = total
        self.chunkSize = chunkSize
        self.seed = seed
        self.done = done
    }

    func channelActive(context: ChannelHandlerContext) {
        pump(context: context)
        context.fireChannelActive()
    }

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        pump(context: context)
    }

    private func pump(context: ChannelHandlerContext) {
        guard !finished else { return }
        var wrote = false
        while sent < total && context.channel.isWritable {
            let size = min(chunkSize, total - sent)
            context.write(wrapOutboundOut(Payload.chunk(seed: seed, offset: sent, size: size)), promise: nil)
            sent += size
            wrote = true
        }
        if wrote { context.flush() }
        if sent == total {
            finished = true
            context.close(mode: .output, promise: nil)
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let bytes = unwrapInboundIn(data)
        if !Payload.matches(bytes, seed: seed, offset: received) { intact = false }
        received += bytes.readableBytes
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, case .inputClosed = event {
            done.succeed((received, intact))
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        done.fail(error)
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        done.fail(ChannelError.eof)
    }
}

/// A session endpoint in a test: its handler and the channel it runs on.
struct SessionEnd: @unchecked Sendable {
    let handler: SessionHandler
    let channel: Channel

    /// Opens a stream from this end that sends `total` octets and checks the echo.
    func exchange(total: Int, seed: UInt64) -> EventLoopFuture<(Int, Bool)> {
        let loop = channel.eventLoop
        let done = loop.makePromise(of: (Int, Bool).self)
        let handler = self.handler
        loop.execute {
            handler.openStream(kind: .tcp) { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(ExchangeHandler(total: total, seed: seed, done: done))
                }
            }.whenFailure { done.fail($0) }
        }
        return done.futureResult
    }

    /// Runs `body` on the session's event loop.
    func onLoop<T: Sendable>(_ body: @escaping @Sendable (SessionHandler) throws -> T) async throws -> T {
        let handler = self.handler
        return try await channel.eventLoop.submit { try body(handler) }.get()
    }
}

/// A server and a client session over TCP on 127.0.0.1 (an ephemeral port), without TLS: the
/// session layer alone. By default both sides echo the streams the other opens.
struct LoopbackSessions {
    let group: MultiThreadedEventLoopGroup
    let listener: Channel
    let client: SessionEnd
    let server: SessionEnd

    static func start(client clientConfiguration: SessionConfiguration = SessionConfiguration(role: .client),
                      server serverConfiguration: SessionConfiguration = SessionConfiguration(role: .server),
                      serverStreams: @escaping SessionHandler.StreamInitializer = echo,
                      clientStreams: @escaping SessionHandler.StreamInitializer = echo) async throws -> LoopbackSessions {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 2)
        let accepted = group.next().makePromise(of: SessionEnd.self)
        let listener = try await ServerBootstrap(group: group)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let handler = SessionHandler(configuration: serverConfiguration, inboundStreamInitializer: serverStreams)
                    try channel.pipeline.syncOperations.addHandler(handler)
                    accepted.succeed(SessionEnd(handler: handler, channel: channel))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        let clientHandler = SessionHandler(configuration: clientConfiguration, inboundStreamInitializer: clientStreams)
        let clientChannel = try await ClientBootstrap(group: group)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(clientHandler)
                }
            }
            .connect(to: listener.localAddress!).get()
        let client = SessionEnd(handler: clientHandler, channel: clientChannel)
        let server = try await accepted.futureResult.awaited()
        _ = try await client.onLoop { $0.ready(on: clientChannel.eventLoop) }.awaited()
        return LoopbackSessions(group: group, listener: listener, client: client, server: server)
    }

    static let echo: SessionHandler.StreamInitializer = { channel in
        channel.eventLoop.makeCompletedFuture {
            try channel.pipeline.syncOperations.addHandler(EchoHandler())
        }
    }

    /// Ends the sessions with a graceful GOAWAY from the client, then stops everything. Returns
    /// how each side's session ended (nil: cleanly).
    @discardableResult
    func shutdown() async throws -> (client: SessionError?, server: SessionError?) {
        let clientEnded = try await client.onLoop { $0.ended(on: client.channel.eventLoop) }
        let serverEnded = try await server.onLoop { $0.ended(on: server.channel.eventLoop) }
        try await client.onLoop { $0.goAway() }
        let result = (client: try await clientEnded.awaited(), server: try await serverEnded.awaited())
        try? await client.channel.close()
        try? await listener.close()
        try await group.shutdownGracefully()
        return result
    }
}

import NIOConcurrencyHelpers
import NIOCore
import NIOEmbedded
import NIOPosix
import ShuntSession
import Testing
#if canImport(Glibc)
import Glibc
#endif

private let ringAvailable = SocketWriteBatch(eventLoop: EmbeddedEventLoop()).isAvailable

/// Writes that leave in one system call per wake-up (`SocketWriteBatch`, `BatchedSocketHandler`), on
/// real sockets on 127.0.0.1: what a wake-up writes to many sockets arrives whole and in order, in
/// one system call; a write larger than the socket's buffer (a short send) goes on
/// through the channel, ahead of what follows; so does everything after a write with a promise; a
/// close sends what waits first; and a socket closed before the burst's end is skipped.
@Suite(.enabled(if: ringAvailable, "io_uring is not available on this machine"))
struct SocketWriteBatchTests {
    /// Collects what each accepted connection receives, until its EOF.
    final class Collector: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = ByteBuffer
        let received: NIOLockedValueBox<[Int: [UInt8]]>
        let ended: NIOLockedValueBox<Set<Int>>
        var port = 0
        init(received: NIOLockedValueBox<[Int: [UInt8]]>, ended: NIOLockedValueBox<Set<Int>>) {
            self.received = received
            self.ended = ended
        }
        func channelActive(context: ChannelHandlerContext) {
            port = context.channel.remoteAddress?.port ?? 0
        }
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let bytes = unwrapInboundIn(data)
            let octets = bytes.getBytes(at: bytes.readerIndex, length: bytes.readableBytes) ?? []
            received.withLockedValue { $0[port, default: []].append(contentsOf: octets) }
        }
        func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
            if let event = event as? ChannelEvent, case .inputClosed = event {
                ended.withLockedValue { _ = $0.insert(port) }
                context.close(promise: nil)
            }
        }
        func channelInactive(context: ChannelHandlerContext) {
            ended.withLockedValue { _ = $0.insert(port) }
        }
    }

    final class Marker: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
    }

    /// A member of the burst that flushes one channel.
    final class Flusher: TickFlushes.Member {
        let channel: Channel
        init(_ channel: Channel) { self.channel = channel }
        func flushNow() { channel.flush() }
    }

    struct Setup {
        let group: MultiThreadedEventLoopGroup
        let server: Channel
        let received: NIOLockedValueBox<[Int: [UInt8]]>
        let ended: NIOLockedValueBox<Set<Int>>
        let flushes: NIOLoopBound<TickFlushes>
        let idle: NIOLoopBound<IdleConnections<Marker>>
        var loop: EventLoop { group.next() }
    }

    static func setUp() async throws -> Setup {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let received = NIOLockedValueBox<[Int: [UInt8]]>([:])
        let ended = NIOLockedValueBox<Set<Int>>([])
        let server = try await ServerBootstrap(group: group)
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(Collector(received: received, ended: ended))
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        let loop = group.next()
        let (flushes, idle) = try await loop.submit {
            (NIOLoopBound(TickFlushes(eventLoop: loop, batchedWrites: true), eventLoop: loop),
             NIOLoopBound(IdleConnections<Marker>(eventLoop: loop, maxIdle: 8, idleTimeout: .seconds(5)), eventLoop: loop))
        }.get()
        return Setup(group: group, server: server, received: received, ended: ended, flushes: flushes, idle: idle)
    }

    static func withSetup(_ body: (Setup) async throws -> Void) async throws {
        let setup = try await setUp()
        do {
            try await body(setup)
        } catch {
            try? await setup.group.shutdownGracefully()
            throw error
        }
        try await setup.group.shutdownGracefully()
    }

    /// Dials the server with the batch (so the socket joins it).
    static func dial(_ setup: Setup) async throws -> Channel {
        let address = try #require(setup.server.localAddress)
        let loop = setup.loop
        return try await loop.flatSubmit {
            setup.idle.value.dial(address, connectTimeout: .seconds(2), handler: NIOLoopBound(Marker(), eventLoop: loop),
                                  batch: setup.flushes.value.batch)
        }.get()
    }

    static func waitUntil(_ condition: () -> Bool) async throws {
        for _ in 0..<500 where !condition() {
            try await Task.sleep(for: .milliseconds(10))
        }
    }

    @Test func aWakeUpsWritesToManySocketsLeaveInOneSystemCallAndArriveInOrder() async throws {
        try await Self.withSetup { setup in
            var channels: [Channel] = []
            for _ in 0..<10 { channels.append(try await Self.dial(setup)) }
            let ports = channels.map { $0.localAddress?.port ?? 0 }
            let loop = setup.loop
            let clients = channels
            let before = try await loop.submit { () -> (Int, Int, Bool) in
                let flushes = setup.flushes.value
                let batch = flushes.batch!
                let counts = (batch.sends, batch.submissions)
                let joined = clients.allSatisfy { (try? $0.pipeline.syncOperations.handler(type: BatchedSocketHandler.self)) != nil }
                for round in 0..<5 {
                    for (index, channel) in clients.enumerated() {
                        channel.write(ByteBuffer(string: "socket \(index) round \(round)\n"), promise: nil)
                        flushes.flushLater(Flusher(channel))
                    }
                }
                return (counts.0, counts.1, joined)
            }.get()
            #expect(before.2, "every socket dialled to 127.0.0.1 joins the batch")
            // The last burst's writes wait for the end of the loop's turn, then leave.
            try await loop.submit {}.get()
            let after = try await loop.submit { (setup.flushes.value.batch!.sends, setup.flushes.value.batch!.submissions) }.get()
            // Six bursts of `TickFlushes.defaultMaxBatch` (8) flushes and the last 2, all in one wake-up:
            // what each socket was given waits whole, and the wake-up sends it in one system call.
            #expect(after.0 - before.0 == 10, "one send per socket")
            #expect(after.1 - before.1 == 1, "one system call for the wake-up")
            for channel in channels { try await channel.close(mode: .output).get() }
            try await Self.waitUntil { setup.ended.withLockedValue { $0.count } == 10 }
            let received = setup.received.withLockedValue { $0 }
            for (index, port) in ports.enumerated() {
                let expected = (0..<5).map { "socket \(index) round \($0)\n" }.joined()
                #expect(String(decoding: received[port] ?? [], as: UTF8.self) == expected)
            }
            for channel in channels { try? await channel.close() }
        }
    }

    /// At the limit: a wake-up that writes to more sockets than a ring takes at once
    /// (`SocketWriteBatch.defaultCapacity`) sends them in as many system calls as it needs.
    @Test func moreSocketsThanTheCapacityLeaveInSeveralSystemCalls() async throws {
        try await Self.withSetup { setup in
            let count = SocketWriteBatch.defaultCapacity + 6
            var channels: [Channel] = []
            for _ in 0..<count { channels.append(try await Self.dial(setup)) }
            let ports = channels.map { $0.localAddress?.port ?? 0 }
            let clients = channels
            let loop = setup.loop
            let before = try await loop.submit { () -> (Int, Int) in
                let flushes = setup.flushes.value
                let counts = (flushes.batch!.sends, flushes.batch!.submissions)
                for (index, channel) in clients.enumerated() {
                    channel.write(ByteBuffer(string: "socket \(index)"), promise: nil)
                    flushes.flushLater(Flusher(channel))
                }
                return counts
            }.get()
            try await loop.submit {}.get()
            let after = try await loop.submit { (setup.flushes.value.batch!.sends, setup.flushes.value.batch!.submissions) }.get()
            #expect(after.0 - before.0 == count)
            #expect(after.1 - before.1 == 2, "a full ring, then the rest")
            for channel in channels { try await channel.close(mode: .output).get() }
            try await Self.waitUntil { setup.ended.withLockedValue { $0.count } == count }
            let received = setup.received.withLockedValue { $0 }
            for (index, port) in ports.enumerated() {
                #expect(String(decoding: received[port] ?? [], as: UTF8.self) == "socket \(index)")
            }
            for channel in channels { try? await channel.close() }
        }
    }

    @Test func aShortSendGoesOnThroughTheChannelAheadOfWhatFollows() async throws {
        try await Self.withSetup { setup in
            let channel = try await Self.dial(setup)
            let port = channel.localAddress?.port ?? 0
            let loop = setup.loop
            // 4 MiB in one write: more than the socket's buffers take at once.
            var block = ByteBuffer()
            for index in 0..<(64 << 10) / 4 { block.writeInteger(UInt32(index)) }
            var big = ByteBuffer()
            for index in 0..<64 {
                big.writeInteger(UInt32(index))  // each block begins differently: a misplaced one shows
                big.writeImmutableBuffer(block)
            }
            let bigBytes = big
            let viaChannel = try await loop.submit { () -> Bool in
                let flushes = setup.flushes.value
                channel.write(bigBytes, promise: nil)
                flushes.flushLater(Flusher(channel))
                return try channel.pipeline.syncOperations.handler(type: BatchedSocketHandler.self).viaChannel
            }.get()
            #expect(!viaChannel, "still in the batch until the burst's end")
            try await loop.submit {}.get()
            try await loop.submit {
                channel.write(ByteBuffer(string: "after"), promise: nil)
                setup.flushes.value.flushLater(Flusher(channel))
            }.get()
            let left = try await loop.submit { try channel.pipeline.syncOperations.handler(type: BatchedSocketHandler.self).viaChannel }.get()
            #expect(left, "the short send took the socket out of the batch")
            try await channel.close(mode: .output).get()
            try await Self.waitUntil { setup.ended.withLockedValue { $0.contains(port) } }
            let received = setup.received.withLockedValue { $0[port] ?? [] }
            #expect(received.count == bigBytes.readableBytes + 5)
            #expect(received.count > bigBytes.readableBytes && bigBytes.withUnsafeReadableBytes { sent in
                received.withUnsafeBytes { memcmp(sent.baseAddress!, $0.baseAddress!, sent.count) == 0 }
            })
            #expect(String(decoding: received.suffix(5), as: UTF8.self) == "after")
            try? await channel.close()
        }
    }

    @Test func aWriteWithAPromiseAndACloseKeepTheOrder() async throws {
        try await Self.withSetup { setup in
            let channel = try await Self.dial(setup)
            let port = channel.localAddress?.port ?? 0
            let loop = setup.loop
            try await loop.submit {
                let flushes = setup.flushes.value
                channel.write(ByteBuffer(string: "one "), promise: nil)
                flushes.flushLater(Flusher(channel))
                // Written with a promise inside the burst: what waits goes first, then this, by the channel.
                channel.write(ByteBuffer(string: "two "), promise: channel.eventLoop.makePromise())
                channel.write(ByteBuffer(string: "three"), promise: nil)
                channel.flush()
            }.get()
            try await loop.submit {}.get()
            try await channel.close(mode: .output).get()
            try await Self.waitUntil { setup.ended.withLockedValue { $0.contains(port) } }
            #expect(String(decoding: setup.received.withLockedValue { $0[port] ?? [] }, as: UTF8.self) == "one two three")

            // Flushed outside a burst, then closed at once: the octets leave before the FIN.
            let second = try await Self.dial(setup)
            let secondPort = second.localAddress?.port ?? 0
            try await loop.submit {
                second.write(ByteBuffer(string: "last words"), promise: nil)
                second.flush()
                second.close(mode: .output, promise: nil)
            }.get()
            try await Self.waitUntil { setup.ended.withLockedValue { $0.contains(secondPort) } }
            #expect(String(decoding: setup.received.withLockedValue { $0[secondPort] ?? [] }, as: UTF8.self) == "last words")
            try? await channel.close()
            try? await second.close()
        }
    }

    @Test func aSocketClosedInTheWakeUpOfItsWriteSendsNothingAndStopsNothing() async throws {
        try await Self.withSetup { setup in
            let closing = try await Self.dial(setup)
            let closingPort = closing.localAddress?.port ?? 0
            let staying = try await Self.dial(setup)
            let stayingPort = staying.localAddress?.port ?? 0
            let loop = setup.loop
            try await loop.submit {
                let flushes = setup.flushes.value
                closing.write(ByteBuffer(string: "never"), promise: nil)
                flushes.flushLater(Flusher(closing))
                staying.write(ByteBuffer(string: "kept"), promise: nil)
                flushes.flushLater(Flusher(staying))
                // Closed before the burst's end (its write not yet flushed): as on a plain channel,
                // what was written and not flushed is dropped.
                closing.close(promise: nil)
            }.get()
            try await loop.submit {}.get()
            try await staying.close(mode: .output).get()
            try await Self.waitUntil { setup.ended.withLockedValue { $0.isSuperset(of: [stayingPort, closingPort]) } }
            #expect(String(decoding: setup.received.withLockedValue { $0[stayingPort] ?? [] }, as: UTF8.self) == "kept")
            #expect(setup.received.withLockedValue { $0[closingPort] } == nil)
            try? await staying.close()
        }
    }
}

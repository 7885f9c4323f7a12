import NIOCore
import ShuntSession
import ShuntTestSupport
import ShuntWire
import Testing

/// Spec §12: DEFLATE of DATA payloads, one context per stream and direction.
@Suite struct CompressionTests {
    static func compressing(serverAccepts: Bool = true, serverWindow: UInt32? = nil) -> SessionPair {
        var server = SessionConfiguration(role: .server)
        server.settings.compression = serverAccepts ? 1 : 0
        if let serverWindow { server.settings.initialStreamWindow = serverWindow }
        var client = SessionConfiguration(role: .client)
        client.settings.compression = 1
        return SessionPair(client: client, server: server)
    }

    static let text = ByteBuffer(string: String(repeating: "{\"order\":1234,\"status\":\"shipped\",\"items\":[\"book\",\"lamp\"]}\n", count: 2_000))

    // MARK: The state machine

    @Test func compressedDataNeedsThePeersOffer() throws {
        var pair = Self.compressing(serverAccepts: false)
        let id = try pair.client.openStream(kind: .tcp)
        #expect(!pair.client.peerAcceptsCompression)
        #expect(throws: StreamOperationError.compressionNotNegotiated) {
            try pair.client.send(id, ByteBuffer(bytes: [0, 0, 0xFF, 0xFF]), compressed: true)
        }
    }

    @Test func aCompressedUnitIsAtMostHalfTheInitialWindowAndOneFrame() throws {
        var pair = Self.compressing(serverWindow: 10_000)
        let id = try pair.client.openStream(kind: .tcp)
        #expect(pair.client.maxCompressedUnit == 5_000)
        try pair.client.send(id, ByteBuffer(repeating: 7, count: 5_000), compressed: true)
        #expect(throws: StreamOperationError.compressedUnitSize(5_001, limit: 5_000)) {
            try pair.client.send(id, ByteBuffer(repeating: 7, count: 5_001), compressed: true)
        }
        #expect(throws: StreamOperationError.compressedUnitSize(0, limit: 5_000)) {
            try pair.client.send(id, ByteBuffer(), compressed: true)
        }
        #expect(Self.compressing().client.maxCompressedUnit == 16_384)
    }

    /// A peer whose initial window is below two octets leaves no room for any unit: a compressed
    /// send is refused with the limit 0 (found by FuzzSession: the check was a range 1...0, a trap).
    @Test func aPeerWithAWindowOfOneOctetRefusesEveryUnitWithoutATrap() throws {
        var pair = Self.compressing(serverWindow: 1)
        let id = try pair.client.openStream(kind: .tcp)
        #expect(pair.client.peerAcceptsCompression)
        #expect(pair.client.maxCompressedUnit == 0)
        #expect(throws: StreamOperationError.compressedUnitSize(5, limit: 0)) {
            try pair.client.send(id, ByteBuffer(bytes: [0, 0, 0, 0xFF, 0xFF]), compressed: true)
        }
    }

    /// A unit is never split: with 3,000 octets of window left it waits for a 4,000-octet unit,
    /// and goes whole once the window allows, while plain data would have gone in pieces.
    @Test func aCompressedUnitGoesWholeOrWaitsForWindow() throws {
        var pair = Self.compressing(serverWindow: 10_000)
        let id = try pair.client.openStream(kind: .tcp)
        try pair.client.send(id, ByteBuffer(repeating: 1, count: 4_000), compressed: true)
        try pair.client.send(id, ByteBuffer(repeating: 2, count: 3_000), compressed: true)
        try pair.client.send(id, ByteBuffer(repeating: 3, count: 4_000), compressed: true)
        let first = pair.takeOutbound(fromClient: true).filter { $0.type == .data }
        #expect(first == [.data(id, ByteBuffer(repeating: 1, count: 4_000), compressed: true),
                          .data(id, ByteBuffer(repeating: 2, count: 3_000), compressed: true)])
        #expect(pair.client.sendWindow(id) == 3_000)
        #expect(pair.client.schedulingViolation == nil)
        pair.injectToClient(Frame(streamID: id, payload: .windowUpdate(increment: 999)))
        #expect(pair.takeOutbound(fromClient: true).isEmpty)
        pair.injectToClient(Frame(streamID: id, payload: .windowUpdate(increment: 1)))
        #expect(pair.takeOutbound(fromClient: true) == [.data(id, ByteBuffer(repeating: 3, count: 4_000), compressed: true)])
    }

    @Test func theReceiverSeesTheCompressedFlagAndCountsCompressedOctets() throws {
        var pair = Self.compressing()
        let id = try pair.client.openStream(kind: .tcp)
        let credit = pair.server.sessionReceiveCredit
        try pair.client.send(id, ByteBuffer(repeating: 9, count: 100), compressed: true)
        pair.pump()
        #expect(pair.serverEvents.contains(.data(id, ByteBuffer(repeating: 9, count: 100), fin: false, compressed: true)))
        #expect(pair.server.receiveCredit(id) == Int(WireLimits.defaultInitialStreamWindow) - 100)
        #expect(pair.server.sessionReceiveCredit <= credit)
    }

    @Test func anEmptyCompressedFrameIsAStreamCompressionError() throws {
        var pair = Self.compressing()
        let id = try pair.client.openStream(kind: .tcp)
        pair.pump()
        pair.injectToServer(.data(id, ByteBuffer(), compressed: true))
        #expect(endCode(pair.serverEvents) == nil)
        #expect(pair.serverEvents.contains { if case .reset(id, .compressionError, _, false) = $0 { true } else { false } })
        #expect(pair.takeOutbound(fromClient: false).contains { if case .reset(.compressionError, _) = $0.payload { $0.streamID == id } else { false } })
    }

    @Test func compressedDataWithoutTheOfferIsASessionCompressionError() throws {
        var pair = Self.compressing(serverAccepts: false)
        let id = try pair.client.openStream(kind: .tcp)
        pair.pump()
        pair.injectToServer(.data(id, ByteBuffer(repeating: 1, count: 10), compressed: true))
        #expect(endCode(pair.serverEvents) == .compressionError)
    }

    @Test func anUninflatableUnitResetsTheStreamWithCompressionError() throws {
        var pair = Self.compressing()
        let id = try pair.client.openStream(kind: .tcp)
        pair.pump()
        pair.server.decompressionFailed(id, reason: "a compressed unit that inflates to more than 16384 octets", now: pair.now)
        pair.drainEvents()
        #expect(pair.serverEvents.contains { if case .reset(id, .compressionError, _, false) = $0 { true } else { false } })
        pair.pump()
        #expect(pair.clientEvents.contains { if case .reset(id, .compressionError, _, true) = $0 { true } else { false } })
    }

    // MARK: The DEFLATE contexts

    @Test func unitsInflateInOrderThroughOneContext() throws {
        let deflater = try StreamDeflater()
        let inflater = try StreamInflater(limit: 16_384)
        var plain = Self.text
        var restored = ByteBuffer()
        var wire = 0
        while plain.readableBytes > 0 {
            let piece = plain.readSlice(length: min(plain.readableBytes, StreamDeflater.plainChunk(forUnit: 16_384)))!
            let unit = try deflater.compress(piece, allocator: ByteBufferAllocator())
            #expect(unit.readableBytes <= 16_384)
            #expect(unit.getBytes(at: unit.writerIndex - 4, length: 4) == [0, 0, 0xFF, 0xFF])
            wire += unit.readableBytes
            var out = try inflater.inflate(unit, allocator: ByteBufferAllocator())
            restored.writeBuffer(&out)
        }
        #expect(restored == Self.text)
        // Text of this kind shrinks by far more than 10×.
        #expect(wire * 10 < Self.text.readableBytes)
    }

    /// The worst case: random octets do not compress, and the unit still fits.
    @Test(arguments: [64, 1_000, 5_000, 16_384, 1 << 20])
    func incompressibleDataStillFitsItsUnit(unit: Int) throws {
        var generator = SystemRandomNumberGenerator()
        let deflater = try StreamDeflater(level: 9)
        let size = StreamDeflater.plainChunk(forUnit: unit)
        #expect(size > unit * 99 / 100 - 20)
        for _ in 0..<3 {
            let piece = ByteBuffer(bytes: (0..<size).map { _ in UInt8.random(in: 0...255, using: &generator) })
            #expect(try deflater.compress(piece, allocator: ByteBufferAllocator()).readableBytes <= unit)
        }
    }

    /// A deflate bomb: one small unit that inflates past the limit fails instead of growing memory.
    @Test func aUnitInflatingPastTheLimitIsRefused() throws {
        let limit = 16_384
        let deflater = try StreamDeflater()
        let bomb = try deflater.compress(ByteBuffer(repeating: 0, count: 1 << 20), allocator: ByteBufferAllocator())
        #expect(bomb.readableBytes < 2_000)
        let inflater = try StreamInflater(limit: limit)
        #expect(throws: StreamInflater.Failure.tooLarge(limit: limit)) { try inflater.inflate(bomb, allocator: ByteBufferAllocator()) }
    }

    @Test func aUnitInflatingToExactlyTheLimitIsAccepted() throws {
        let limit = 16_384
        let deflater = try StreamDeflater()
        let unit = try deflater.compress(ByteBuffer(repeating: 0x61, count: limit), allocator: ByteBufferAllocator())
        let inflater = try StreamInflater(limit: limit)
        #expect(try inflater.inflate(unit, allocator: ByteBufferAllocator()).readableBytes == limit)
        let one = try StreamDeflater().compress(ByteBuffer(repeating: 0x61, count: limit + 1), allocator: ByteBufferAllocator())
        #expect(throws: StreamInflater.Failure.tooLarge(limit: limit)) { try StreamInflater(limit: limit).inflate(one, allocator: ByteBufferAllocator()) }
    }

    @Test func corruptAndUnflushedUnitsAreRefused() throws {
        let inflater = try StreamInflater(limit: 16_384)
        #expect(throws: StreamInflater.Failure.empty) { try inflater.inflate(ByteBuffer(), allocator: ByteBufferAllocator()) }
        #expect(throws: StreamInflater.Failure.incomplete) { try inflater.inflate(ByteBuffer(bytes: [0x4B, 0x4C, 0x4A]), allocator: ByteBufferAllocator()) }
        // Block type 3 is reserved in DEFLATE.
        #expect(throws: StreamInflater.Failure.corrupt) { try inflater.inflate(ByteBuffer(bytes: [0x07, 0, 0, 0xFF, 0xFF]), allocator: ByteBufferAllocator()) }
    }

    /// Units of one stream cannot be read with another stream's context: contexts are never shared.
    @Test func aUnitNeedsItsOwnStreamsHistory() throws {
        let deflater = try StreamDeflater()
        let line = ByteBuffer(string: String(repeating: "secret-token=abcdef0123456789;", count: 20))
        _ = try deflater.compress(line, allocator: ByteBufferAllocator())
        let second = try deflater.compress(line, allocator: ByteBufferAllocator())
        // The second unit refers back to the first: a fresh context cannot inflate it.
        #expect(second.readableBytes < 40)
        #expect(throws: StreamInflater.Failure.corrupt) { try StreamInflater(limit: 16_384).inflate(second, allocator: ByteBufferAllocator()) }
    }
}

/// Compression over real sockets: a text stream echoed with both directions compressed.
@Suite struct CompressionLoopbackTests {
    @Test func aCompressedTextStreamEchoesIntactWithAFractionOfTheOctets() async throws {
        var client = SessionConfiguration(role: .client)
        client.settings.compression = 1
        var server = SessionConfiguration(role: .server)
        server.settings.compression = 1
        let compressingEcho: SessionHandler.StreamInitializer = { channel in
            channel.eventLoop.makeCompletedFuture {
                try #require(try channel.enableCompression())
                try channel.pipeline.syncOperations.addHandler(EchoHandler())
            }
        }
        let sessions = try await LoopbackSessions.start(client: client, server: server, serverStreams: compressingEcho)
        var text = ByteBuffer()
        while text.readableBytes < 4 << 20 { text.writeImmutableBuffer(CompressionTests.text) }
        let total = text.readableBytes
        let echoed = try await Self.echo(text, through: sessions)
        #expect(echoed.readableBytes == total)
        #expect(echoed == text)
        let written = try await sessions.client.onLoop { $0.octetsWritten }
        let read = try await sessions.client.onLoop { $0.octetsRead }
        #expect(written < total / 10, "client wrote \(written) octets for \(total) of text")
        #expect(read < total / 10, "client read \(read) octets for \(total) of text")
        #expect(try await sessions.shutdown() == (nil, nil))
    }
}

extension CompressionLoopbackTests {
    /// Opens a client stream that compresses what it writes, writes `payload` and FIN, and returns
    /// what comes back until the server's FIN.
    static func echo(_ payload: ByteBuffer, through sessions: LoopbackSessions) async throws -> ByteBuffer {
        let done = sessions.client.channel.eventLoop.makePromise(of: ByteBuffer.self)
        try await sessions.client.onLoop { handler in
            handler.openStream(kind: .tcp) { channel in
                channel.eventLoop.makeCompletedFuture {
                    guard try channel.enableCompression() else { throw ChannelError.operationUnsupported }
                    try channel.pipeline.syncOperations.addHandler(CollectHandler(done: done))
                    channel.writeAndFlush(payload).flatMap { channel.close(mode: .output) }.whenFailure { done.fail($0) }
                }
            }.whenFailure { done.fail($0) }
        }
        return try await done.futureResult.awaited("the echo and the server's FIN", within: .minutes(2))
    }

    /// The server's stream window (20 octets) is too small for any compressed unit: the client's
    /// compressed stream sends plain DATA instead (spec §12 allows it), and everything arrives.
    @Test func aPeerWindowTooSmallForAUnitGetsPlainData() async throws {
        var client = SessionConfiguration(role: .client)
        client.settings.compression = 1
        var server = SessionConfiguration(role: .server)
        server.settings.compression = 1
        server.settings.initialStreamWindow = 20
        let echo: SessionHandler.StreamInitializer = { channel in
            channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(EchoHandler()) }
        }
        let sessions = try await LoopbackSessions.start(client: client, server: server, serverStreams: echo)
        let payload = ByteBuffer(bytes: (0..<4_096).map { UInt8(truncatingIfNeeded: $0 &* 31) })
        #expect(try await Self.echo(payload, through: sessions) == payload)
        #expect(try await sessions.shutdown() == (nil, nil))
    }
}

/// Collects a stream's inbound octets until FIN.
final class CollectHandler: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    let done: EventLoopPromise<ByteBuffer>
    private var collected = ByteBuffer()
    init(done: EventLoopPromise<ByteBuffer>) { self.done = done }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var bytes = unwrapInboundIn(data)
        collected.writeBuffer(&bytes)
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if let event = event as? ChannelEvent, case .inputClosed = event { done.succeed(collected) }
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        done.fail(error)
    }

    func channelInactive(context: ChannelHandlerContext) {
        done.fail(ChannelError.eof)
    }
}

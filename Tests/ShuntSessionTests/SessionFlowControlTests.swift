import NIOCore
import ShuntSession
import ShuntWire
import Testing

@Suite struct SessionFlowControlTests {
    func smallWindows() -> SessionConfiguration {
        var server = SessionConfiguration(role: .server)
        server.settings.initialStreamWindow = 65_536
        return server
    }

    @Test func aSenderStopsAtTheWindowOfASlowReaderAndQueuesOnlyItsBuffer() throws {
        var pair = SessionPair(server: smallWindows())
        let id = try pair.client.openStream(kind: .tcp)
        var written = 0
        // The owner writes while the stream is writable, as a socket reader with backpressure does.
        while pair.client.isWritable(id) {
            try pair.client.send(id, ByteBuffer(repeating: 1, count: 16_384))
            written += 16_384
            pair.pump()
        }
        // The server's owner never consumes: exactly one window crossed, the rest waits on the client.
        #expect(SessionPair.received(pair.serverEvents, on: id).bytes.count == 65_536)
        #expect(pair.server.receiveCredit(id) == 0)
        #expect(pair.client.queuedBytes(id) == written - 65_536)
        #expect(pair.client.queuedBytes(id) <= pair.client.configuration.streamSendBuffer + 16_384)
        #expect(throws: StreamOperationError.sendBufferFull(id)) { try pair.client.send(id, ByteBuffer(repeating: 1, count: 1)) }

        // The reader consumes: window comes back, data flows, the stream becomes writable again.
        pair.server.consumed(id, octets: 65_536, now: pair.now)
        pair.pump()
        #expect(SessionPair.received(pair.serverEvents, on: id).bytes.count == 131_072)
        #expect(pair.clientEvents.contains(.writable(id)))
        #expect(pair.client.isWritable(id))
    }

    @Test func oneStalledStreamDoesNotStallAnother() throws {
        var pair = SessionPair(server: smallWindows())
        let stalled = try pair.client.openStream(kind: .tcp)
        let other = try pair.client.openStream(kind: .tcp)
        for _ in 0..<6 { try? pair.client.send(stalled, ByteBuffer(repeating: 1, count: 16_384)) }
        pair.pump()
        try pair.client.send(other, ByteBuffer(repeating: 2, count: 1000), fin: true)
        pair.pump()
        #expect(SessionPair.received(pair.serverEvents, on: other) == (Array(repeating: 2, count: 1000), true))
    }

    @Test func windowUpdatesAreSentOnlyAfterHalfTheWindowIsConsumed() throws {
        var pair = SessionPair(server: smallWindows())
        let id = try pair.client.openStream(kind: .tcp)
        try pair.client.send(id, ByteBuffer(repeating: 1, count: 65_536))
        pair.pump()
        let early = pair.server.consumed(id, octets: 32_767, now: pair.now)
        #expect(!early, "nothing granted yet: the caller has nothing to flush")
        #expect(!pair.takeOutbound(fromClient: false).contains { $0.streamID == id })
        let due = pair.server.consumed(id, octets: 1, now: pair.now)
        #expect(due, "the WINDOW_UPDATE is queued: the caller flushes")
        #expect(pair.takeOutbound(fromClient: false).contains(Frame(streamID: id, payload: .windowUpdate(increment: 32_768))))
    }

    @Test func dataBeyondTheStreamWindowIsAFlowControlError() throws {
        var pair = SessionPair(server: smallWindows())
        let id = try pair.client.openStream(kind: .tcp)
        pair.pump()
        for _ in 0..<4 { pair.injectToServer(.data(id, ByteBuffer(repeating: 0, count: 16_384))) }
        #expect(endCode(pair.serverEvents) == nil)
        pair.injectToServer(.data(id, ByteBuffer(repeating: 0, count: 1)))
        #expect(endCode(pair.serverEvents) == .flowControlError)
        #expect(endMessage(pair.serverEvents) == "DATA of 1 octets on stream 1 exceeds its window (0 left)")
    }

    /// Found by FuzzSession (Fuzz/FailCases/FuzzSession-zero-session-window-empty-data): with a
    /// session window of 0, an empty DATA frame made the receiver send a WINDOW_UPDATE of 0.
    @Test func anEmptyDataFrameWithASessionWindowOfZeroGrantsNothing() throws {
        var server = SessionConfiguration(role: .server)
        server.settings.initialSessionWindow = 0
        var pair = SessionPair(server: server)
        let id = try pair.client.openStream(kind: .tcp)
        pair.pump()
        pair.injectToServer(.data(id, ByteBuffer()))
        pair.injectToServer(.data(id, ByteBuffer(), fin: true))
        #expect(endCode(pair.serverEvents) == nil)
        #expect(!pair.takeOutbound(fromClient: false).contains { $0.type == .windowUpdate })
    }

    /// Found with SessionInvariants (Fuzz/FailCases/FuzzSession-fin-behind-exhausted-session-window): a
    /// stream waiting for session window at the head of the round robin held back the FIN of the
    /// stream behind it, although an empty DATA frame needs no window.
    @Test func aFinNeedsNoWindowAndDoesNotWaitBehindAStreamThatNeedsSessionWindow() throws {
        var server = SessionConfiguration(role: .server)
        server.settings.initialSessionWindow = 300
        var pair = SessionPair(server: server)
        let bulk = try pair.client.openStream(kind: .tcp)
        try pair.client.send(bulk, ByteBuffer(repeating: 1, count: 1000))
        // The client writes into the void: its session window (300) is used up, the bulk stream waits.
        #expect(pair.takeOutbound(fromClient: true).compactMap { if case .data(let b, _, _) = $0.payload { b.readableBytes } else { nil } } == [300])
        #expect(pair.client.sessionSendWindow == 0)
        let short = try pair.client.openStream(kind: .control)
        try pair.client.send(short, ByteBuffer(), fin: true)
        let frames = pair.takeOutbound(fromClient: true)
        #expect(frames.contains(.data(short, ByteBuffer(), fin: true)))
        #expect(!frames.contains { $0.streamID == bulk && $0.type == .data })
        // The bulk stream kept its place: it goes on as soon as the session window comes back.
        pair.injectToClient(Frame(streamID: .session, payload: .windowUpdate(increment: 100)))
        #expect(pair.takeOutbound(fromClient: true) == [.data(bulk, ByteBuffer(repeating: 1, count: 100))])
    }

    @Test func dataBeyondTheSessionWindowIsAFlowControlError() throws {
        var server = SessionConfiguration(role: .server)
        server.settings.initialSessionWindow = 20_000
        var pair = SessionPair(server: server)
        let id = try pair.client.openStream(kind: .tcp)
        pair.pump()
        // 9,000 is below half the target, so the server grants nothing back yet: 11,000 are left.
        pair.injectToServer(.data(id, ByteBuffer(repeating: 0, count: 9_000)))
        pair.injectToServer(.data(id, ByteBuffer(repeating: 0, count: 11_001)))
        #expect(endCode(pair.serverEvents) == .flowControlError)
        #expect(endMessage(pair.serverEvents)?.contains("exceeds the session window (11000 left)") == true)
    }

    @Test func theSessionWindowIsGrantedOnReceiptSoASlowStreamDoesNotHoldIt() throws {
        var server = SessionConfiguration(role: .server)
        server.settings.initialSessionWindow = 65_536
        var pair = SessionPair(server: server)
        let slow = try pair.client.openStream(kind: .tcp)
        let fast = try pair.client.openStream(kind: .tcp)
        pair.pump()
        // The slow stream's reader never consumes: its stream window (256 KiB) fills, the session's does not stay used.
        try pair.client.send(slow, ByteBuffer(repeating: 1, count: 60_000))
        pair.pump()
        try pair.client.send(fast, ByteBuffer(repeating: 2, count: 60_000))
        pair.pump()
        #expect(SessionPair.received(pair.serverEvents, on: slow).bytes.count == 60_000)
        #expect(SessionPair.received(pair.serverEvents, on: fast).bytes.count == 60_000)
        #expect(pair.server.receiveCredit(slow) == 262_144 - 60_000)
        #expect(endCode(pair.serverEvents) == nil)
    }

    @Test(arguments: [StreamID(0), StreamID(1)])
    func aWindowUpdatePastTwoToThe31MinusOneIsAFlowControlError(_ stream: StreamID) throws {
        var pair = SessionPair()
        _ = try pair.client.openStream(kind: .tcp)
        pair.pump()
        let current = stream.isSession ? pair.server.sessionSendWindow : pair.server.sendWindow(stream)!
        pair.injectToServer(Frame(streamID: stream, payload: .windowUpdate(increment: UInt32(Int(WireLimits.maxWindow) - current))))
        #expect(endCode(pair.serverEvents) == nil)
        pair.injectToServer(Frame(streamID: stream, payload: .windowUpdate(increment: 1)))
        #expect(endCode(pair.serverEvents) == .flowControlError)
    }

    @Test func theSenderNeverExceedsTheSessionWindowAcrossStreams() throws {
        var server = SessionConfiguration(role: .server)
        server.settings.initialSessionWindow = 40_000
        var pair = SessionPair(server: server)
        pair.pump()
        let ids = try (0..<4).map { _ in try pair.client.openStream(kind: .tcp) }
        for id in ids { try pair.client.send(id, ByteBuffer(repeating: 1, count: 30_000)) }
        // Before the server grants anything back, the client sends exactly the session window.
        let flight = pair.takeOutbound(fromClient: true)
        let sent = flight.reduce(0) { total, frame in
            if case .data(let bytes, _, _) = frame.payload { return total + bytes.readableBytes }
            return total
        }
        #expect(sent == 40_000)
        #expect(pair.client.sessionSendWindow == 0)
        for frame in flight { pair.injectToServer(frame) }
        pair.pump()
        let delivered = ids.map { SessionPair.received(pair.serverEvents, on: $0).bytes.count }.reduce(0, +)
        #expect(delivered == 120_000)
        #expect(endCode(pair.serverEvents) == nil)
    }

    @Test func dataFramesNeverExceedThePeersMaxFrameSize() throws {
        var pair = SessionPair()
        let id = try pair.client.openStream(kind: .tcp)
        try pair.client.send(id, ByteBuffer(repeating: 1, count: 50_000), fin: true)
        pair.pump()
        let sizes = pair.clientSent.compactMap { frame -> Int? in
            if case .data(let bytes, _, _) = frame.payload { return bytes.readableBytes }
            return nil
        }
        #expect(sizes == [16_384, 16_384, 16_384, 848])
    }
}

import NIOCore
import ShuntSession
import ShuntWire
import Testing

@Suite struct SessionStreamTests {
    @Test func aStreamOpensWithDataInTheSameFlightAndEchoesBack() throws {
        var pair = SessionPair()
        let id = try pair.client.openStream(kind: .http, metadata: StreamMetadata([("intercept", "orders-alice")]))
        try pair.client.send(id, ByteBuffer(string: "GET / HTTP/1.1\r\n\r\n"), fin: true)
        // Both frames leave before anything comes back: no round trip to open.
        let flight = pair.takeOutbound(fromClient: true)
        #expect(flight.map(\.type) == [.streamOpen, .data])
        for frame in flight { pair.deliver(FrameEncoder.bytes(of: frame), toServer: true) }
        pair.drainEvents()
        #expect(pair.serverEvents.contains(.streamOpened(id, kind: .http, metadata: StreamMetadata([("intercept", "orders-alice")]), fin: false)))
        #expect(SessionPair.received(pair.serverEvents, on: id) == (Array("GET / HTTP/1.1\r\n\r\n".utf8), true))
        try pair.server.send(id, ByteBuffer(string: "HTTP/1.1 200 OK\r\n\r\n"), fin: true)
        pair.pump()
        #expect(SessionPair.received(pair.clientEvents, on: id) == (Array("HTTP/1.1 200 OK\r\n\r\n".utf8), true))
        #expect(pair.clientEvents.contains(.closed(id)))
        #expect(pair.serverEvents.contains(.closed(id)))
        #expect(pair.client.streamCount == 0)
        #expect(pair.server.streamCount == 1)  // until the owner releases it
        pair.server.release(id)
        #expect(pair.server.streamCount == 0)
    }

    @Test func theClientOpensOddIdsAndTheServerEvenIdsInOrder() throws {
        var pair = SessionPair()
        let c1 = try pair.client.openStream(kind: .control, fin: true)
        let c2 = try pair.client.openStream(kind: .control, fin: true)
        let s1 = try pair.server.openStream(kind: .tcp)
        let s2 = try pair.server.openStream(kind: .tcp)
        #expect([c1, c2, s1, s2].map(\.rawValue) == [1, 3, 2, 4])
        pair.pump()
        #expect(endCode(pair.clientEvents) == nil && endCode(pair.serverEvents) == nil)
    }

    @Test(arguments: [
        (UInt32(3), "the peer opened stream 3; the next id must be 1 (ids are never reused or skipped)"),
        (UInt32(2), "the peer opened stream 2, an id of this side's parity"),
    ])
    func openingAStreamOutOfOrderIsAProtocolError(_ id: UInt32, _ message: String) {
        var pair = SessionPair()
        pair.injectToServer(Frame(streamID: StreamID(id), payload: .streamOpen(kind: .http, metadata: StreamMetadata())))
        #expect(endCode(pair.serverEvents) == .protocolError)
        #expect(endMessage(pair.serverEvents) == message)
    }

    @Test func reusingAStreamIdIsAProtocolError() throws {
        var pair = SessionPair()
        let id = try pair.client.openStream(kind: .control, fin: true)
        pair.pump()
        pair.injectToServer(Frame(streamID: id, payload: .streamOpen(kind: .control, metadata: StreamMetadata(), fin: true)))
        #expect(endCode(pair.serverEvents) == .protocolError)
    }

    @Test(arguments: [
        Frame.data(StreamID(5), ByteBuffer(string: "x")),
        Frame(streamID: StreamID(5), payload: .windowUpdate(increment: 10)),
        Frame.reset(StreamID(5), .cancel),
        Frame.data(StreamID(6), ByteBuffer(string: "x")),
    ])
    func framesOnAStreamNeverOpenedAreAProtocolError(_ frame: Frame) {
        var pair = SessionPair()
        pair.injectToServer(frame)
        #expect(endCode(pair.serverEvents) == .protocolError)
        #expect(endMessage(pair.serverEvents)?.contains("which was never opened") == true)
    }

    @Test func dataAfterThePeersFinIsAStreamErrorStreamClosed() throws {
        var pair = SessionPair()
        let id = try pair.client.openStream(kind: .http)
        try pair.client.send(id, ByteBuffer(string: "a"), fin: true)
        pair.pump()
        pair.injectToServer(.data(id, ByteBuffer(string: "b")))
        #expect(pair.serverEvents.contains(.reset(id, code: .streamClosed, reason: "DATA after the peer's FIN on stream 1", byPeer: false)))
        #expect(endCode(pair.serverEvents) == nil)
        pair.pump()
        #expect(pair.clientEvents.contains { if case .reset(id, .streamClosed, _, true) = $0 { return true }; return false })
    }

    @Test func framesOnAStreamThisSideResetAreIgnoredButReturnSessionCredit() throws {
        var pair = SessionPair()
        let id = try pair.client.openStream(kind: .http)
        pair.pump()
        pair.server.reset(id, code: .cancel)
        // 32 frames of 16 KiB: half the session window, so the server must give it back.
        for _ in 0..<32 {
            pair.injectToServer(.data(id, ByteBuffer(repeating: 1, count: 16_384)))
        }
        #expect(endCode(pair.serverEvents) == nil)
        #expect(SessionPair.received(pair.serverEvents, on: id).bytes.isEmpty)
        let sent = pair.takeOutbound(fromClient: false)
        #expect(sent.contains(Frame(streamID: .session, payload: .windowUpdate(increment: 524_288))))
    }

    @Test func aResetDropsQueuedDataAndTellsThePeer() throws {
        var pair = SessionPair()
        let id = try pair.client.openStream(kind: .tcp)
        try pair.client.send(id, ByteBuffer(repeating: 7, count: 50_000))
        pair.client.reset(id, code: .cancel, reason: "caller went away")
        pair.pump()
        #expect(pair.client.queuedBytes(id) == 0)
        #expect(pair.serverEvents.contains(.reset(id, code: .cancel, reason: "caller went away", byPeer: true)))
        #expect(SessionPair.received(pair.serverEvents, on: id).bytes.isEmpty)
    }
}

import NIOCore
import ShuntSession
import ShuntWire
import Testing

@Suite struct SessionCreditTests {
    func serverAllowing(_ streams: UInt32) -> SessionConfiguration {
        var server = SessionConfiguration(role: .server)
        server.settings.initialMaxStreams = streams
        return server
    }

    @Test func openingBeyondTheCreditFailsLocallyUntilThePeerGrantsMore() throws {
        var pair = SessionPair(server: serverAllowing(2))
        let a = try pair.client.openStream(kind: .http, fin: true)
        let b = try pair.client.openStream(kind: .http, fin: true)
        #expect(throws: StreamOperationError.noStreamCredit) { try pair.client.openStream(kind: .http) }
        pair.pump()
        try pair.server.send(a, ByteBuffer(), fin: true)
        pair.pump()
        pair.server.release(a)
        pair.pump()
        // Half the limit (1) was released: the server grants one more.
        #expect(pair.serverSent.last == Frame(streamID: .session, payload: .maxStreams(3)))
        #expect(pair.clientEvents.contains(.streamCreditAvailable))
        _ = try pair.client.openStream(kind: .http, fin: true)
        _ = b
    }

    @Test func aPeerOpeningBeyondItsCreditIsAStreamLimitError() {
        var pair = SessionPair(server: serverAllowing(2))
        for id in [1, 3] as [UInt32] {
            pair.injectToServer(Frame(streamID: StreamID(id), payload: .streamOpen(kind: .http, metadata: StreamMetadata())))
        }
        #expect(endCode(pair.serverEvents) == nil)
        pair.injectToServer(Frame(streamID: StreamID(5), payload: .streamOpen(kind: .http, metadata: StreamMetadata())))
        #expect(endCode(pair.serverEvents) == .streamLimitError)
    }

    /// Rapid Reset and MadeYouReset: a reset (by either side) frees no credit until the owner releases.
    @Test func resetsFreeNoCreditUntilLocalWorkIsReleased() {
        var pair = SessionPair(server: serverAllowing(4))
        for index in 0..<4 {
            let id = StreamID(UInt32(2 * index + 1))
            pair.injectToServer(Frame(streamID: id, payload: .streamOpen(kind: .http, metadata: StreamMetadata())))
            pair.injectToServer(.reset(id, .cancel))
        }
        #expect(endCode(pair.serverEvents) == nil)
        #expect(!pair.takeOutbound(fromClient: false).contains { $0.type == .maxStreams })
        pair.injectToServer(Frame(streamID: StreamID(9), payload: .streamOpen(kind: .http, metadata: StreamMetadata())))
        #expect(endCode(pair.serverEvents) == .streamLimitError)
    }

    @Test func releasingStreamsReGrantsCreditInBatches() {
        var pair = SessionPair(server: serverAllowing(4))
        for index in 0..<4 {
            let id = StreamID(UInt32(2 * index + 1))
            pair.injectToServer(Frame(streamID: id, payload: .streamOpen(kind: .http, metadata: StreamMetadata())))
            pair.injectToServer(.reset(id, .cancel))
        }
        pair.server.release(StreamID(1))
        #expect(!pair.takeOutbound(fromClient: false).contains { $0.type == .maxStreams })
        pair.server.release(StreamID(3))
        #expect(pair.takeOutbound(fromClient: false) == [Frame(streamID: .session, payload: .maxStreams(6))])
    }

    @Test func aMaxStreamsThatLowersTheCreditIsAProtocolError() {
        var pair = SessionPair()
        pair.injectToClient(Frame(streamID: .session, payload: .maxStreams(99)))
        #expect(endCode(pair.clientEvents) == .protocolError)
    }

    @Test func idleStreamsCostLittleMemory() throws {
        // The per-stream record is small; a benchmark measures the whole cost per idle stream.
        var pair = SessionPair(server: serverAllowing(1000))
        for _ in 0..<1000 { _ = try pair.client.openStream(kind: .tcp) }
        pair.pump()
        #expect(pair.server.streamCount == 1000)
        #expect(pair.client.streamCount == 1000)
    }
}

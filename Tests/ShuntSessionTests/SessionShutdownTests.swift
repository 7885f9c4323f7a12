import NIOCore
import ShuntSession
import ShuntWire
import Testing

@Suite struct SessionShutdownTests {
    @Test func aGracefulGoAwayLetsOpenStreamsFinishAndRefusesNewOnes() throws {
        var pair = SessionPair()
        let running = try pair.client.openStream(kind: .http)
        try pair.client.send(running, ByteBuffer(string: "request"), fin: true)
        pair.pump()

        pair.server.goAway(now: pair.now)
        // A stream the client opens while the first GOAWAY is in flight is still accepted (id ≤ 2^31-1).
        let inFlight = try pair.client.openStream(kind: .http, fin: true)
        pair.pump()
        #expect(pair.clientEvents.contains(.goAwayReceived(lastStreamID: .max, code: .noError, debug: "")))
        #expect(pair.clientEvents.contains(.goAwayReceived(lastStreamID: inFlight, code: .noError, debug: "")))
        #expect(throws: StreamOperationError.sessionClosing) { try pair.client.openStream(kind: .http) }

        // Streams at or below the last id finish normally; then the session ends cleanly.
        try pair.server.send(running, ByteBuffer(string: "response"), fin: true)
        try pair.server.send(inFlight, ByteBuffer(), fin: true)
        pair.pump()
        #expect(SessionPair.received(pair.clientEvents, on: running) == (Array("response".utf8), true))
        pair.server.release(running)
        pair.server.release(inFlight)
        pair.pump()
        #expect(pair.serverEvents.last == .ended(nil))
        #expect(pair.clientEvents.last == .ended(nil))
    }

    @Test func streamsOpenedAfterTheFinalGoAwayAreRefusedAsRetryable() throws {
        var pair = SessionPair()
        let serverStream = try pair.server.openStream(kind: .tcp)  // keeps the drain going
        pair.server.goAway(now: pair.now)
        pair.pump()  // both GOAWAYs; last id 0
        #expect(pair.server.queuedBytes(serverStream) == 0)
        // A client that ignores GOAWAY and opens anyway (crafted): refused, not processed.
        pair.injectToServer(Frame(streamID: StreamID(1), payload: .streamOpen(kind: .http, metadata: StreamMetadata())))
        #expect(pair.takeOutbound(fromClient: false).contains(.reset(StreamID(1), .refusedStream, reason: "the session is going away")))
        #expect(!pair.serverEvents.contains { if case .streamOpened = $0 { return true }; return false })
    }

    @Test func streamsAboveTheLastIdAreReportedRefusedToTheirOpener() throws {
        var pair = SessionPair()
        let first = try pair.client.openStream(kind: .http)
        pair.pump()
        let second = try pair.client.openStream(kind: .http)
        // The server's final GOAWAY names only the first stream; the second crossed it on the wire.
        pair.injectToClient(.goAway(lastStreamID: first, .noError))
        #expect(pair.clientEvents.contains(.reset(second, code: .refusedStream, reason: "the peer is going away", byPeer: true)))
    }

    @Test func theDrainDeadlineResetsWhatIsStillOpenAndEnds() throws {
        var pair = SessionPair()
        let id = try pair.client.openStream(kind: .tcp)
        pair.pump()
        pair.server.goAway(now: pair.now)
        pair.pump()
        for _ in 0..<18 {
            pair.advance(.milliseconds(500))
            pair.pump()
        }
        #expect(endCode(pair.serverEvents) == nil)
        pair.advance(.seconds(1))
        #expect(pair.serverEvents.contains(.reset(id, code: .cancel, reason: "drain deadline passed", byPeer: false)))
        #expect(pair.serverEvents.last == .ended(nil))
    }

    @Test func aGoAwayThatRaisesTheLastStreamIdIsAProtocolError() throws {
        var pair = SessionPair()
        let first = try pair.client.openStream(kind: .tcp)
        let second = try pair.client.openStream(kind: .tcp)
        pair.pump()
        pair.injectToClient(.goAway(lastStreamID: first, .noError))
        #expect(endCode(pair.clientEvents) == nil)
        pair.injectToClient(.goAway(lastStreamID: second, .noError))
        #expect(endCode(pair.clientEvents) == .protocolError)
    }

    @Test func aGoAwayWithAnErrorEndsTheSessionWithThePeersCodeAndText() throws {
        var pair = SessionPair()
        let id = try pair.client.openStream(kind: .tcp)
        pair.pump()
        pair.server.goAway(code: .internalError, debug: "agent crashed", graceful: false, now: pair.now)
        pair.pump()
        #expect(pair.clientEvents.contains(.reset(id, code: .internalError, reason: "agent crashed", byPeer: true)))
        #expect(pair.clientEvents.last == .ended(SessionError(.internalError, .peer, "agent crashed")))
        #expect(SessionError(.internalError, .peer, "agent crashed").description == "peer ended the session with INTERNAL_ERROR: agent crashed")
    }

    @Test func aLostConnectionFailsEveryOpenStream() throws {
        var pair = SessionPair()
        let id = try pair.client.openStream(kind: .tcp)
        pair.pump()
        pair.client.transportClosed("connection reset by peer")
        pair.drainEvents()
        #expect(pair.clientEvents.contains { if case .reset(id, _, "connection reset by peer", false) = $0 { return true }; return false })
        #expect(endCode(pair.clientEvents) == .internalError)
    }
}

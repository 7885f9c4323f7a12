import NIOCore
import ShuntSession
import ShuntWire
import Testing

@Suite struct SessionShutdownTests {
    /// Found by FuzzSession (Fuzz/FailCases/FuzzSession-goaway-debug-cut-inside-a-character and
    /// -reset-reason-cut-inside-a-character): texts were cut at 1024 / 256 octets inside a character,
    /// whose remains became U+FFFD, so the GOAWAY (1034) or RESET (262) was too long for the peer.
    @Test(arguments: ["a", "é", "€", "😀", "a€", "a😀", "aa😀"])
    func textsCutToTheirLimitStayWithinTheFrameAndValidUTF8(_ unit: String) throws {
        var pair = SessionPair()
        let stream = try pair.server.openStream(kind: .tcp)
        let long = String(repeating: unit, count: 2000)
        pair.server.reset(stream, code: .cancel, reason: long)
        var frames = pair.takeOutbound(fromClient: false)  // the abortive GOAWAY drops what is queued
        pair.server.goAway(code: .internalError, debug: long, graceful: false, now: pair.now)
        frames += pair.takeOutbound(fromClient: false)
        for frame in frames {
            var decoder = FrameDecoder()
            decoder.append(FrameEncoder.bytes(of: frame))
            #expect(throws: Never.self) { _ = try decoder.next() }
        }
        let reason = frames.lazy.compactMap { frame -> ByteBuffer? in
            if case .reset(_, let reason) = frame.payload { reason } else { nil }
        }.first
        let debug = frames.lazy.compactMap { frame -> ByteBuffer? in
            if case .goAway(_, _, let debug) = frame.payload { debug } else { nil }
        }.first
        let reasonText = try #require(reason.map { String(buffer: $0) })
        let debugText = try #require(debug.map { String(buffer: $0) })
        #expect(reasonText.utf8.count <= 256 && reasonText.utf8.count > 256 - 4)
        #expect(debugText.utf8.count <= 1024 && debugText.utf8.count > 1024 - 4)
        #expect(long.hasPrefix(reasonText) && long.hasPrefix(debugText))
    }

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

    /// The RESET(CANCEL)s of the drain deadline go on the wire before the session ends: the peer
    /// learns which streams were cut, not only that the connection closed.
    @Test func theDrainDeadlineResetsReachThePeer() throws {
        var pair = SessionPair()
        let first = try pair.client.openStream(kind: .tcp)
        let second = try pair.client.openStream(kind: .tcp)
        pair.pump()
        pair.server.goAway(now: pair.now)
        pair.pump()
        for _ in 0..<19 {
            pair.advance(.milliseconds(500))
            pair.pump()
        }
        pair.advance(.seconds(1))
        #expect(pair.serverEvents.last == .ended(nil))
        let resets = pair.takeOutbound(fromClient: false).filter { $0.type == .reset }
        #expect(resets.map(\.streamID) == [first, second])
        #expect(resets.allSatisfy { if case .reset(.cancel, _) = $0.payload { true } else { false } })
    }

    /// A stream the owner releases unfinished during a drain is reset on the wire, even though
    /// releasing it ends the (now idle) drain at once.
    @Test func theLastStreamsResetGoesOutWhenItEndsTheDrain() throws {
        var pair = SessionPair()
        let id = try pair.client.openStream(kind: .tcp)
        pair.pump()
        pair.server.goAway(now: pair.now)
        pair.pump()
        pair.server.release(id)
        pair.drainEvents()
        #expect(pair.serverEvents.last == .ended(nil))
        #expect(pair.takeOutbound(fromClient: false).contains { $0.streamID == id && $0.type == .reset })
    }

    /// Found with SessionInvariants (Fuzz/FailCases/FuzzSession-drain-deadline-reset-after-ended):
    /// resetting the last stream at the deadline forgot it, which ended the idle drain inside the loop;
    /// the loop then reported the stream after `.ended`, and ended the session a second time.
    @Test func theDrainDeadlineReportsTheLastOwnStreamBeforeTheEndAndEndsOnce() throws {
        var pair = SessionPair()
        let id = try pair.server.openStream(kind: .tcp)
        pair.pump()
        pair.server.goAway(now: pair.now)
        pair.pump()
        for _ in 0..<21 {
            pair.advance(.milliseconds(500))
            pair.pump()
        }
        let reset = SessionEvent.reset(id, code: .cancel, reason: "drain deadline passed", byPeer: false)
        #expect(pair.serverEvents.suffix(2) == [reset, .ended(nil)])
        #expect(pair.serverEvents.filter { $0.endedCode != nil }.count == 1)
    }

    /// Found with SessionInvariants (Fuzz/FailCases/FuzzSession-drain-deadline-full-queue-trap): when
    /// the RESETs of the drain deadline overflowed the control queue of a peer that does not read, the
    /// session ended inside the loop and the next stream's lookup trapped on a force unwrap.
    @Test func theDrainDeadlineWithAFullControlQueueEndsWithoutTrapping() throws {
        var server = SessionConfiguration(role: .server)
        server.drainDeadline = .seconds(2)
        server.abuse.maxQueuedControlFrames = 6
        var pair = SessionPair(server: server)
        var ids: [StreamID] = []
        for _ in 0..<8 { ids.append(try pair.client.openStream(kind: .tcp)) }
        pair.pump()
        pair.server.goAway(now: pair.now)
        pair.pump()
        // From now on the client does not read; it only pings, to stay alive.
        for index in 0..<3 {
            pair.now = pair.now + .seconds(1)
            pair.injectToServer(Frame(streamID: .session, payload: .ping(opaque: UInt64(index))))
            pair.server.tick(now: pair.now)
            pair.drainEvents()
        }
        #expect(endCode(pair.serverEvents) == .enhanceYourCalm)
        #expect(pair.serverEvents.filter { $0.endedCode != nil }.count == 1)
        #expect(pair.serverEvents.last?.endedCode == .enhanceYourCalm)
        for id in ids {
            #expect(pair.serverEvents.filter { if case .reset(id, _, _, _) = $0 { true } else { false } }.count == 1)
        }
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

import NIOCore
import ShuntSession
import ShuntWire
import Testing

@Suite struct SessionHandshakeTests {
    @Test func helloExchangeMakesBothSidesReadyWithThePeersSettings() {
        var server = SessionConfiguration(role: .server)
        server.settings.initialMaxStreams = 7
        let pair = SessionPair(server: server)
        #expect(pair.client.isReady && pair.server.isReady)
        #expect(pair.client.version == 1)
        #expect(pair.client.peerSettings.initialMaxStreams == 7)
        #expect(pair.clientEvents.first == .ready(version: 1, peer: pair.client.peerSettings))
        #expect(pair.clientSent.first?.type == .hello)
        #expect(pair.serverSent.first?.type == .hello)
    }

    @Test func aVersionMismatchEndsBothSidesNamingBothRanges() {
        var client = SessionConfiguration(role: .client)
        client.versions = 2...3
        let pair = SessionPair(client: client)
        #expect(endCode(pair.clientEvents) == .versionMismatch)
        #expect(endCode(pair.serverEvents) == .versionMismatch)
        #expect(endMessage(pair.serverEvents) == "version mismatch: we speak 1..1, peer speaks 2..3")
        #expect(endMessage(pair.clientEvents) == "version mismatch: we speak 2..3, peer speaks 1..1")
        let goAway = pair.serverSent.last
        #expect(goAway == .goAway(lastStreamID: .session, .versionMismatch, debug: "version mismatch: we speak 1..1, peer speaks 2..3"))
    }

    @Test func aFirstFrameOtherThanHelloIsAProtocolError() {
        var pair = SessionPair(handshake: false)
        _ = pair.takeOutbound(fromClient: true)
        pair.injectToServer(Frame(streamID: .session, payload: .ping(opaque: 1)))
        #expect(endCode(pair.serverEvents) == .protocolError)
        #expect(endMessage(pair.serverEvents) == "the first frame was PING, not HELLO")
    }

    /// Found by FuzzSession (Fuzz/FailCases/FuzzSession-goaway-before-hello): a session that failed
    /// before its owner wrote anything dropped its queued HELLO, so its first frame was a GOAWAY.
    @Test func aSessionThatFailsBeforeItsHelloWentOutStillSendsHelloFirst() {
        var pair = SessionPair(handshake: false)
        pair.injectToServer(Frame(streamID: .session, payload: .ping(opaque: 1)))
        #expect(endCode(pair.serverEvents) == .protocolError)
        let frames = pair.takeOutbound(fromClient: false)
        #expect(frames.map(\.type) == [.hello, .goAway])
        #expect(frames.first == Frame(streamID: .session, payload: .hello(pair.server.configuration.hello)))
    }

    @Test func aSecondHelloIsAProtocolError() {
        var pair = SessionPair()
        pair.injectToServer(Frame(streamID: .session, payload: .hello(Hello())))
        #expect(endCode(pair.serverEvents) == .protocolError)
        pair.pump()
        #expect(endCode(pair.clientEvents) == .protocolError)
        #expect(pair.clientEvents.contains { if case .ended(let e) = $0 { return e?.origin == .peer }; return false })
    }

    @Test func nothingButHelloIsSentBeforeThePeersHelloArrives() {
        var pair = SessionPair(handshake: false)
        #expect(throws: StreamOperationError.notReady) { try pair.client.openStream(kind: .control) }
        let frames = pair.takeOutbound(fromClient: true)
        #expect(frames.map(\.type) == [.hello])
    }

    @Test func aMalformedByteStreamEndsTheSessionWithTheMalformationsCode() {
        var pair = SessionPair()
        var bytes = ByteBuffer()
        bytes.writeMultipleIntegers(UInt32(20_000), UInt8(0), UInt8(0), UInt16(0), UInt32(1))
        pair.deliver(bytes, toServer: true)
        pair.drainEvents()
        #expect(endCode(pair.serverEvents) == .frameSizeError)
        #expect(endMessage(pair.serverEvents)?.hasPrefix("FRAME_TOO_LARGE at octet") == true)
    }
}

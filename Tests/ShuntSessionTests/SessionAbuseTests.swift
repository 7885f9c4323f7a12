import NIOCore
import ShuntSession
import ShuntWire
import Testing

/// Each abuse of spec §8, sent exactly, ends the session with its code; memory does not grow meanwhile.
@Suite struct SessionAbuseTests {
    @Test func rapidResetBeyondTheBudgetIsEnhanceYourCalmAndHoldsNoStreams() {
        var server = SessionConfiguration(role: .server)
        server.settings.initialMaxStreams = 10_000
        var pair = SessionPair(server: server)
        var maxStreams = 0
        for index in 0..<201 {
            let id = StreamID(UInt32(2 * index + 1))
            pair.injectToServer(Frame(streamID: id, payload: .streamOpen(kind: .http, metadata: StreamMetadata())))
            pair.injectToServer(.reset(id, .cancel))
            // The owner tears its work down at once, as the agent does for a reset request.
            pair.server.release(id)
            maxStreams = max(maxStreams, pair.server.streamCount)
            if index < 200 { #expect(endCode(pair.serverEvents) == nil) }
        }
        #expect(endCode(pair.serverEvents) == .enhanceYourCalm)
        #expect(endMessage(pair.serverEvents) == "too many RESET frames: more than 200 in 30 s")
        #expect(maxStreams <= 1)
    }

    @Test func resetsSpreadOverTimeStayWithinTheBudget() {
        var server = SessionConfiguration(role: .server)
        server.settings.initialMaxStreams = 10_000
        var pair = SessionPair(server: server)
        for index in 0..<1000 {
            let id = StreamID(UInt32(2 * index + 1))
            pair.injectToServer(Frame(streamID: id, payload: .streamOpen(kind: .http, metadata: StreamMetadata())))
            pair.injectToServer(.reset(id, .cancel))
            pair.server.release(id)
            pair.now = pair.now + .milliseconds(160)  // 6.25 per second, under 200 per 30 s
            pair.injectToServer(Frame(streamID: .session, payload: .ping(opaque: 1, ack: false)))
            _ = pair.takeOutbound(fromClient: false)
        }
        #expect(endCode(pair.serverEvents) == nil)
    }

    @Test func aPingFloodIsEnhanceYourCalmAndTheReplyQueueStaysBounded() {
        var pair = SessionPair()
        // The client's own RTT probe after HELLO was the first; 99 more stay within the budget of 100.
        for index in 0..<100 {
            pair.injectToServer(Frame(streamID: .session, payload: .ping(opaque: UInt64(index))))
            if index < 99 { #expect(endCode(pair.serverEvents) == nil) }
        }
        #expect(endCode(pair.serverEvents) == .enhanceYourCalm)
        #expect(endMessage(pair.serverEvents) == "too many PING frames: more than 100 in 10 s")
        // After the end only the GOAWAY is left to send, not 100 queued PING answers.
        #expect(pair.takeOutbound(fromClient: false).map(\.type) == [.goAway])
    }

    @Test func anEmptyFrameFloodIsEnhanceYourCalm() throws {
        var pair = SessionPair()
        let id = try pair.client.openStream(kind: .tcp)
        pair.pump()
        for _ in 0..<101 { pair.injectToServer(.data(id, ByteBuffer())) }
        #expect(endCode(pair.serverEvents) == .enhanceYourCalm)
        #expect(endMessage(pair.serverEvents) == "too many empty DATA frames: more than 100 in 10 s")
    }

    @Test func anExtensionFrameFloodIsEnhanceYourCalm() {
        var pair = SessionPair()
        for _ in 0..<1001 {
            pair.injectToServer(Frame(streamID: .session, payload: .extension(type: FrameType(rawValue: 0x80), flags: 0, payload: ByteBuffer())))
        }
        #expect(endCode(pair.serverEvents) == .enhanceYourCalm)
    }

    @Test func unsolicitedPingAnswersCountAsGlitches() {
        var pair = SessionPair()
        for index in 0..<1001 {
            pair.injectToServer(Frame(streamID: .session, payload: .ping(opaque: UInt64(index), ack: true)))
        }
        #expect(endCode(pair.serverEvents) == .enhanceYourCalm)
    }

    @Test func aPeerThatDoesNotReadHitsTheControlQueueLimit() {
        var server = SessionConfiguration(role: .server)
        server.abuse.maxQueuedControlFrames = 50
        var pair = SessionPair(server: server)
        // The server never writes (its peer does not read): PING answers pile up to the limit.
        for index in 0..<51 {
            pair.deliver(FrameEncoder.bytes(of: Frame(streamID: .session, payload: .ping(opaque: UInt64(index)))), toServer: true)
        }
        pair.drainEvents()
        #expect(pair.server.queuedControlFrames <= 50)
        #expect(endCode(pair.serverEvents) == .enhanceYourCalm)
        #expect(endMessage(pair.serverEvents) == "the peer does not read: 50 control frames queued (limit 50)")
    }

    @Test func compressedDataWithoutNegotiationIsACompressionError() throws {
        var server = SessionConfiguration(role: .server)
        server.settings.compression = 0
        var pair = SessionPair(server: server)
        let id = try pair.client.openStream(kind: .tcp)
        pair.pump()
        pair.injectToServer(.data(id, ByteBuffer(string: "x"), compressed: true))
        #expect(endCode(pair.serverEvents) == .compressionError)
    }

    @Test func streamErrorsCausedByThePeerAreBudgeted() throws {
        // MadeYouReset: the peer provokes this side into resetting streams (here: DATA after FIN).
        var server = SessionConfiguration(role: .server)
        server.settings.initialMaxStreams = 10_000
        var pair = SessionPair(server: server)
        for index in 0..<201 {
            let id = StreamID(UInt32(2 * index + 1))
            pair.injectToServer(Frame(streamID: id, payload: .streamOpen(kind: .http, metadata: StreamMetadata(), fin: true)))
            pair.injectToServer(.data(id, ByteBuffer(string: "x")))
            pair.server.release(id)
        }
        #expect(endCode(pair.serverEvents) == .enhanceYourCalm)
        #expect(endMessage(pair.serverEvents) == "too many stream errors caused by the peer: more than 200 in 30 s")
    }
}

import NIOCore
import ShuntSession
import ShuntWire
import Testing

@Suite struct SessionLivenessTests {
    @Test func aPingGoesOutAfterTheIntervalAndItsAnswerMeasuresTheRoundTrip() {
        var pair = SessionPair()
        pair.advance(.seconds(1))
        let pings = pair.takeOutbound(fromClient: true).filter { $0.type == .ping }
        #expect(pings.count == 1)
        for ping in pings { pair.deliver(FrameEncoder.bytes(of: ping), toServer: true) }
        pair.now = pair.now + .milliseconds(20)
        _ = pair.transfer(fromClient: false)
        pair.drainEvents()
        #expect(pair.clientEvents.contains(.roundTrip(.milliseconds(20))))
        #expect(pair.client.roundTripTime == .milliseconds(20))
    }

    @Test func aSilentPeerIsDeadWithinTheBoundAndItsStreamsAreReset() throws {
        var pair = SessionPair()
        let id = try pair.client.openStream(kind: .tcp)
        pair.pump()
        // The server vanishes: nothing reaches the client any more.
        pair.advance(.milliseconds(2_999))
        #expect(endCode(pair.clientEvents) == nil)
        pair.advance(.milliseconds(1))
        #expect(endCode(pair.clientEvents) == .timeout)
        #expect(endMessage(pair.clientEvents) == "no frame from the peer for 3.0 s (the bound is 3.0 s)")
        #expect(pair.clientEvents.contains { if case .reset(id, .timeout, _, false) = $0 { return true }; return false })
        #expect(pair.client.streamCount == 0)
    }

    /// Found with SessionInvariants (Fuzz/FailCases/FuzzSession-timeout-goaway-raises-last-id): the
    /// TIMEOUT GOAWAY named the newest peer stream, even one refused after the final GOAWAY, so its
    /// last stream id rose above the earlier GOAWAY's (spec §7.2).
    @Test func theTimeoutGoAwayNeverRaisesAnEarlierGoAwaysLastStreamID() throws {
        var pair = SessionPair()
        let first = try pair.client.openStream(kind: .tcp)
        pair.pump()
        pair.server.goAway(now: pair.now)
        pair.pump()
        #expect(pair.serverSent.last == .goAway(lastStreamID: first, .noError))
        // The client opens another stream anyway: refused. Then it falls silent.
        pair.injectToServer(Frame(streamID: StreamID(3), payload: .streamOpen(kind: .tcp, metadata: StreamMetadata())))
        _ = pair.takeOutbound(fromClient: false)
        pair.now = pair.now + .seconds(3)
        pair.server.tick(now: pair.now)
        pair.drainEvents()
        #expect(endCode(pair.serverEvents) == .timeout)
        let goAways = pair.takeOutbound(fromClient: false).compactMap { frame -> StreamID? in
            if case .goAway(let last, .timeout, _) = frame.payload { last } else { nil }
        }
        #expect(goAways == [first])
    }

    @Test func theDeathBoundIsConfigurable() {
        var client = SessionConfiguration(role: .client)
        client.deathBound = .milliseconds(500)
        client.pingInterval = .milliseconds(100)
        var pair = SessionPair(client: client)
        pair.advance(.milliseconds(499))
        #expect(endCode(pair.clientEvents) == nil)
        pair.advance(.milliseconds(1))
        #expect(endCode(pair.clientEvents) == .timeout)
    }

    @Test func anIdleSessionWhosePingsAreAnsweredLivesIndefinitely() {
        var pair = SessionPair()
        for _ in 0..<10_000 {
            pair.advance(.milliseconds(500))
            pair.pump()
        }
        #expect(pair.client.isReady && pair.server.isReady)
        #expect(endCode(pair.clientEvents) == nil && endCode(pair.serverEvents) == nil)
    }

    @Test func theNextDeadlineIsTheEarliestTimerDue() {
        let pair = SessionPair()
        #expect(pair.client.nextDeadline == pair.now + .seconds(1))
    }
}

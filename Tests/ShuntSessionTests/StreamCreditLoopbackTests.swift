import NIOCore
import NIOPosix
import ShuntSession
import ShuntTestSupport
import ShuntWire
import Testing

/// `SessionHandler.openStream` waits for the peer's stream credit (spec §5.4) instead of failing.
@Suite struct StreamCreditLoopbackTests {
    /// With credit for 2 streams, 20 opens all complete: they wait in order and go as MAX_STREAMS arrives.
    @Test func opensBeyondTheCreditWaitAndAllComplete() async throws {
        var server = SessionConfiguration(role: .server)
        server.settings.initialMaxStreams = 2
        let sessions = try await LoopbackSessions.start(server: server)
        let results = (0..<20).map { sessions.client.exchange(total: 65_536, seed: UInt64($0)) }
        for result in results {
            let (count, intact) = try await result.awaited("the echo", within: .minutes(1))
            #expect(count == 65_536)
            #expect(intact)
        }
        #expect(try await sessions.client.onLoop { $0.streamsWaitingForCredit } == 0)
        try await sessions.shutdown()
    }

    /// At most `maxPendingOpens` wait; the next open fails at once with `noStreamCredit`.
    @Test func theWaitingLineIsBounded() async throws {
        var server = SessionConfiguration(role: .server)
        server.settings.initialMaxStreams = 1
        var client = SessionConfiguration(role: .client)
        client.maxPendingOpens = 3
        // The server never reads its streams: the first stream never ends, so no credit comes back.
        let sessions = try await LoopbackSessions.start(client: client, server: server, serverStreams: { channel in
            channel.setOption(.autoRead, value: false)
        })
        let opens = try await sessions.client.onLoop { handler in
            (0..<5).map { _ in handler.openStream(kind: .tcp) { $0.eventLoop.makeSucceededVoidFuture() } }
        }
        let first = try await opens[0].awaited()
        #expect(try await sessions.client.onLoop { $0.streamsWaitingForCredit } == 3)
        await #expect { try await opens[4].get() } throws: { ($0 as? StreamOpenError)?.reason == .noStreamCredit }
        // The waiting opens fail as soon as the session starts going away, rather than hang.
        try await sessions.client.onLoop { $0.goAway() }
        for open in opens[1...3] {
            await #expect { try await open.get() } throws: { ($0 as? StreamOpenError)?.reason == .sessionClosing }
        }
        try await first.close()
        try await sessions.shutdown()
    }
}

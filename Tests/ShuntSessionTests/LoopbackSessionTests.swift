import NIOCore
import NIOPosix
import ShuntSession
import ShuntWire
import Testing

/// The session over real sockets on 127.0.0.1 (no TLS: the session layer alone).
@Suite(.timeLimit(.minutes(3))) struct LoopbackSessionTests {
    @Test func aStreamEchoesOneMebibyteIntact() async throws {
        let sessions = try await LoopbackSessions.start()
        let (count, intact) = try await sessions.client.exchange(total: 1 << 20, seed: 1).get()
        #expect(count == 1 << 20)
        #expect(intact)
        let ended = try await sessions.shutdown()
        #expect(ended.client == nil)
        #expect(ended.server == nil)
    }

    @Test func aThousandConcurrentStreamsEchoOneMebibyteEachBothSidesOpening() async throws {
        var client = SessionConfiguration(role: .client)
        client.settings.initialMaxStreams = 1000
        client.deathBound = .seconds(30)  // both ends share two busy cores with the other tests
        var server = SessionConfiguration(role: .server)
        server.settings.initialMaxStreams = 1000
        server.deathBound = .seconds(30)
        let sessions = try await LoopbackSessions.start(client: client, server: server)
        let size = 1 << 20
        var exchanges = (0..<500).map { sessions.client.exchange(total: size, seed: UInt64($0)) }
        exchanges += (500..<1000).map { sessions.server.exchange(total: size, seed: UInt64($0)) }
        for future in exchanges {
            let (count, intact) = try await future.get()
            #expect(count == size)
            #expect(intact)
        }
        let ended = try await sessions.shutdown()
        #expect(ended.client == nil)
        #expect(ended.server == nil)
    }
}

extension LoopbackSessionTests {
    @Test func twoHundredStreamsEchoQuarterMebibyteEach() async throws {
        var client = SessionConfiguration(role: .client)
        client.settings.initialMaxStreams = 1000
        client.deathBound = .seconds(30)  // both ends share two busy cores with the other tests
        var server = SessionConfiguration(role: .server)
        server.settings.initialMaxStreams = 1000
        server.deathBound = .seconds(30)
        let sessions = try await LoopbackSessions.start(client: client, server: server)
        var exchanges = (0..<100).map { sessions.client.exchange(total: 1 << 18, seed: UInt64($0)) }
        exchanges += (100..<200).map { sessions.server.exchange(total: 1 << 18, seed: UInt64($0)) }
        for future in exchanges {
            let (count, intact) = try await future.get()
            #expect(count == 1 << 18)
            #expect(intact)
        }
        let ended = try await sessions.shutdown()
        #expect(ended.client == nil)
        #expect(ended.server == nil)
    }
}

import NIOCore
import NIOEmbedded
import ShuntSession
import Testing

/// The keep-alive pool's bookkeeping, on an embedded event loop whose clock the test moves: most
/// recent first, at most `maxIdle`, each closed when its `idleTimeout` runs out (one sweep, not a
/// timer each), and a connection taken out is never closed by the sweep.
@Suite struct IdleConnectionsTests {
    final class Marker: ChannelInboundHandler {
        typealias InboundIn = Never
        let name: String
        init(_ name: String) { self.name = name }
    }

    static func channel(_ loop: EmbeddedEventLoop, _ name: String) throws -> (EmbeddedChannel, Marker) {
        let marker = Marker(name)
        let channel = EmbeddedChannel(handler: marker, loop: loop)
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
        return (channel, marker)
    }

    @Test func eachConnectionWaitsItsIdleTimeoutAndNoLonger() throws {
        let loop = EmbeddedEventLoop()
        let pool = IdleConnections<Marker>(eventLoop: loop, maxIdle: 8, idleTimeout: .milliseconds(500))
        var channels: [EmbeddedChannel] = []
        for name in ["a", "b", "c"] {
            let (channel, marker) = try Self.channel(loop, name)
            pool.put(channel, handler: marker)
            channels.append(channel)
            loop.advanceTime(by: .milliseconds(100))
        }
        // Now 300 ms: a has waited 300, b 200, c 100.
        loop.advanceTime(by: .milliseconds(199))
        #expect(channels.map(\.isActive) == [true, true, true])
        loop.advanceTime(by: .milliseconds(1))  // 500: a's time is up
        #expect(channels.map(\.isActive) == [false, true, true])
        #expect(pool.count == 2)
        loop.advanceTime(by: .milliseconds(100))  // 600: b's
        #expect(channels.map(\.isActive) == [false, false, true])

        // c is taken before its time is up: the sweep leaves it alone.
        let taken = try #require(pool.take())
        #expect(taken.handler.name == "c")
        loop.advanceTime(by: .seconds(5))
        #expect(channels[2].isActive)
        #expect(pool.count == 0)
    }

    @Test func theMostRecentIsTakenFirstAndAtMostMaxIdleWait() throws {
        let loop = EmbeddedEventLoop()
        let pool = IdleConnections<Marker>(eventLoop: loop, maxIdle: 2, idleTimeout: .seconds(1))
        var channels: [EmbeddedChannel] = []
        for name in ["a", "b", "c"] {
            let (channel, marker) = try Self.channel(loop, name)
            pool.put(channel, handler: marker)
            channels.append(channel)
        }
        #expect(pool.count == 2, "the third is closed: the pool is full")
        #expect(channels.map(\.isActive) == [true, true, false])
        #expect(pool.take()?.handler.name == "b")
        // A connection that closed while it waited is skipped.
        _ = try? channels[0].close().wait()
        #expect(pool.take() == nil)
    }
}

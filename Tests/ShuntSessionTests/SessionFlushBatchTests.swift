import NIOCore
import NIOPosix
import ShuntSession
import ShuntTestSupport
import Testing

/// Stream writes made in one wake-up of the loop leave the session together, but at most
/// `SessionHandler.maxFlushBatch` of them wait: the one that reaches the bound writes at once.
@Suite struct SessionFlushBatchTests {
    /// Counts the flushes the session makes on its connection.
    final class FlushCounter: ChannelOutboundHandler, @unchecked Sendable {
        typealias OutboundIn = Any
        var flushes = 0
        func flush(context: ChannelHandlerContext) {
            flushes += 1
            context.flush()
        }
    }

    /// Collects what the peer echoes on a stream.
    final class Collector: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = ByteBuffer
        let echoed: EventLoopPromise<Void>
        init(echoed: EventLoopPromise<Void>) { self.echoed = echoed }
        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            if unwrapInboundIn(data).readableBytes > 0 { echoed.succeed() }
        }
    }

    @Test func theStreamFlushAtTheBoundWritesAtOnceAndTheRestAtTheWakeUpsEnd() async throws {
        let sessions = try await LoopbackSessions.start()
        let loop = sessions.client.channel.eventLoop
        let batch = SessionHandler.maxFlushBatch
        let count = 2 * batch + batch / 2
        var streams: [Channel] = []
        var echoes: [EventLoopFuture<Void>] = []
        for _ in 0..<count {
            let echoed = loop.makePromise(of: Void.self)
            echoes.append(echoed.futureResult)
            let stream = try await sessions.client.onLoop { handler in
                handler.openStream(kind: .tcp) { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(Collector(echoed: echoed))
                    }
                }
            }.get()
            streams.append(stream)
        }
        let counter = FlushCounter()
        let parent = sessions.client.channel
        try await loop.submit { try parent.pipeline.syncOperations.addHandler(counter, position: .first) }.get()
        let streamsNow = streams
        // One task is one wake-up: every stream writes and flushes. Only the flushes made inside it
        // count: before it, the sessions' own traffic (a liveness PING and its answer, on a slow
        // machine) may flush too.
        let inside = try await loop.submit {
            let before = counter.flushes
            for stream in streamsNow { stream.writeAndFlush(ByteBuffer(string: "x"), promise: nil) }
            return counter.flushes - before
        }.get()
        #expect(inside == 2)  // at the batch-th and the 2 × batch-th
        for echo in echoes { try await echo.awaited() }  // the last half batch left at the end of the wake-up
        #expect(try await loop.submit { counter.flushes }.get() >= 3)
        for stream in streams { try await stream.close() }
        try await sessions.shutdown()
    }
}

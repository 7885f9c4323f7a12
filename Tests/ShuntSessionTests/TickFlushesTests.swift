import NIOCore
import NIOEmbedded
import ShuntSession
import Testing

/// Flushes asked for during one wake-up of the loop are made once that wake-up is over, or when
/// `maxBatch` wait, in the order asked, and a member that asks again while being flushed gets
/// another pass.
@Suite struct TickFlushesTests {
    final class Member: TickFlushes.Member {
        let name: String
        var onFlush: (() -> Void)?
        private let record: (String) -> Void

        init(_ name: String, record: @escaping (String) -> Void) {
            self.name = name
            self.record = record
        }

        func flushNow() {
            record(name)
            onFlush?()
        }
    }

    @Test func flushesWaitForTheEndOfTheWakeUpAndKeepTheirOrder() {
        let loop = EmbeddedEventLoop()
        let flushes = TickFlushes(eventLoop: loop)
        var flushed: [String] = []
        let members = ["a", "b", "c"].map { name in Member(name) { flushed.append($0) } }
        flushes.flushLater(members[1])
        flushes.flushLater(members[0])
        flushes.flushLater(members[2])
        #expect(flushed.isEmpty)
        #expect(flushes.count == 3)
        loop.run()
        #expect(flushed == ["b", "a", "c"])
        #expect(flushes.count == 0)
        loop.run()
        #expect(flushed == ["b", "a", "c"])  // nothing twice
    }

    @Test func aMemberAskingAgainDuringTheFlushGetsAnotherPass() {
        let loop = EmbeddedEventLoop()
        let flushes = TickFlushes(eventLoop: loop)
        var flushed: [String] = []
        let first = Member("first") { flushed.append($0) }
        let second = Member("second") { flushed.append($0) }
        var asked = false
        // Flushing `first` makes `second` writable, which writes and asks again.
        first.onFlush = {
            guard !asked else { return }
            asked = true
            flushes.flushLater(second)
            flushes.flushLater(first)
        }
        flushes.flushLater(first)
        loop.run()
        #expect(flushed == ["first", "second", "first"])
        #expect(flushes.count == 0)
    }

    /// The bound at its edge: the `maxBatch`-th member flushes those waiting at once; the next ones
    /// wait for the end of the wake-up again.
    @Test func theMaxBatchthMemberFlushesTheWaitingOnesAtOnce() {
        let loop = EmbeddedEventLoop()
        let flushes = TickFlushes(eventLoop: loop, maxBatch: 3)
        var flushed: [String] = []
        let members = (1...7).map { index in Member("m\(index)") { flushed.append($0) } }
        flushes.flushLater(members[0])
        flushes.flushLater(members[1])
        #expect(flushed.isEmpty)
        flushes.flushLater(members[2])
        #expect(flushed == ["m1", "m2", "m3"])
        #expect(flushes.count == 0)
        for member in members[3...] { flushes.flushLater(member) }
        #expect(flushed == ["m1", "m2", "m3", "m4", "m5", "m6"])
        #expect(flushes.count == 1)
        loop.run()
        #expect(flushed == ["m1", "m2", "m3", "m4", "m5", "m6", "m7"])
        #expect(TickFlushes(eventLoop: loop).maxBatch == TickFlushes.defaultMaxBatch)
        #expect(TickFlushes.defaultMaxBatch == 8)
    }

    /// A flush that makes others ask, up to the bound, flushes them in a burst of their own inside
    /// the first; nobody is flushed twice and nothing is left behind.
    @Test func aBurstInsideABurstFlushesEachMemberOnce() {
        let loop = EmbeddedEventLoop()
        let flushes = TickFlushes(eventLoop: loop, maxBatch: 2)
        var flushed: [String] = []
        let members = ["a", "b", "c", "d"].map { name in Member(name) { flushed.append($0) } }
        members[0].onFlush = {
            members[0].onFlush = nil
            flushes.flushLater(members[2])
            flushes.flushLater(members[3])  // the bound: c and d now, inside a's flush
        }
        flushes.flushLater(members[0])
        flushes.flushLater(members[1])
        #expect(flushed == ["a", "c", "d", "b"])
        #expect(flushes.count == 0)
        loop.run()
        #expect(flushed == ["a", "c", "d", "b"])
    }

    @Test func writesReachTheChannelOnlyWhenFlushed() throws {
        final class Writer: TickFlushes.Member {
            let channel: EmbeddedChannel
            init(_ channel: EmbeddedChannel) { self.channel = channel }
            func flushNow() { channel.flush() }
        }
        let loop = EmbeddedEventLoop()
        let channel = EmbeddedChannel(loop: loop)
        let flushes = TickFlushes(eventLoop: loop)
        let writer = Writer(channel)
        channel.write(ByteBuffer(string: "GET / HTTP/1.1\r\n\r\n"), promise: nil)
        flushes.flushLater(writer)
        #expect(try channel.readOutbound(as: ByteBuffer.self) == nil)
        loop.run()
        #expect(try channel.readOutbound(as: ByteBuffer.self) == ByteBuffer(string: "GET / HTTP/1.1\r\n\r\n"))
        _ = try channel.finish()
    }

    /// Writes are batched only when asked for, and a batch that is switched off has no ring: every
    /// write then goes through SwiftNIO's channels, as where the kernel gives no io_uring.
    @Test func writesAreBatchedOnlyWhenAskedForAndAvailable() {
        let loop = EmbeddedEventLoop()
        #expect(TickFlushes(eventLoop: loop).batch == nil)
        #expect(!SocketWriteBatch(eventLoop: loop, enabled: false).isAvailable)
        let asked = TickFlushes(eventLoop: loop, batchedWrites: true)
        #expect((asked.batch != nil) == (SocketWriteBatch(eventLoop: loop).isAvailable && SocketWriteBatch.enabledByEnvironment))
    }
}

import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import ShuntTestSupport
import Testing

/// The tests' bounded wait on a future: a future nobody completes ends the wait with a message that
/// names what was awaited and where, even while the future's event loop is stuck; a completed one
/// gives its value or its error.
@Suite struct BoundedWaitTests {
    @Test func aFutureNobodyCompletesEndsTheWaitWithItsName() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let loop = group.next()
        let never = loop.makePromise(of: Int.self)
        let line = #line + 1
        let error = await #expect(throws: WaitTimedOut.self) { try await never.futureResult.awaited("the laptop's FIN", within: .milliseconds(50)) }
        #expect(error?.description == "the laptop's FIN did not complete within 0.05 s (ShuntSessionTests/BoundedWaitTests.swift:\(line))")
        never.succeed(1)  // a late completion is harmless

        // The bound holds while the future's own event loop is stuck: the loop is let go only after
        // the wait ended (at the latest after 60 s, when a bound kept by the loop would end it).
        let stuck = loop.makePromise(of: Int.self)
        let release = DispatchSemaphore(value: 0)
        let released = NIOLockedValueBox(false)
        loop.execute {
            _ = release.wait(timeout: .now() + .seconds(60))
            released.withLockedValue { $0 = true }
        }
        await #expect(throws: WaitTimedOut.self) { try await stuck.futureResult.awaited(within: .milliseconds(50)) }
        #expect(!released.withLockedValue { $0 }, "the wait ended while the loop was still stuck")
        release.signal()
        stuck.succeed(2)
        try await group.shutdownGracefully()
    }

    @Test func aCompletedFutureGivesItsValueOrError() async throws {
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        #expect(try await loop.makeSucceededFuture(7).awaited(within: .seconds(5)) == 7)
        struct Refused: Error {}
        await #expect(throws: Refused.self) { try await loop.makeFailedFuture(Refused()).awaited() as Int }
        let later = loop.makePromise(of: String.self)
        loop.scheduleTask(in: .milliseconds(20)) { later.succeed("answered") }
        #expect(try await later.futureResult.awaited(within: .seconds(20)) == "answered")
    }
}

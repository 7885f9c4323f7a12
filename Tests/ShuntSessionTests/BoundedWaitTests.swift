import NIOCore
import NIOPosix
import ShuntTestSupport
import Testing

/// The tests' bounded wait on a future: a future nobody completes ends the wait with a message that
/// names what was awaited and where; a completed one gives its value or its error.
@Suite struct BoundedWaitTests {
    @Test func aFutureNobodyCompletesEndsTheWaitWithItsName() async throws {
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        let never = loop.makePromise(of: Int.self)
        let started = ContinuousClock.now
        let line = #line + 1
        let error = await #expect(throws: WaitTimedOut.self) { try await never.futureResult.awaited("the laptop's FIN", within: .milliseconds(50)) }
        #expect(ContinuousClock.now - started < .seconds(5))
        #expect(error?.description == "the laptop's FIN did not complete within 0.05 s (ShuntSessionTests/BoundedWaitTests.swift:\(line))")
        never.succeed(1)  // a late completion is harmless
    }

    @Test func aCompletedFutureGivesItsValueOrError() async throws {
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        #expect(try await loop.makeSucceededFuture(7).awaited(within: .milliseconds(50)) == 7)
        struct Refused: Error {}
        await #expect(throws: Refused.self) { try await loop.makeFailedFuture(Refused()).awaited() as Int }
        let later = loop.makePromise(of: String.self)
        loop.scheduleTask(in: .milliseconds(20)) { later.succeed("answered") }
        #expect(try await later.futureResult.awaited(within: .seconds(5)) == "answered")
    }
}

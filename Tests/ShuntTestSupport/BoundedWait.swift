import NIOCore

/// A wait on a future that did not complete within its bound: says what was awaited, where, and
/// how long.
public struct WaitTimedOut: Error, CustomStringConvertible {
    public let what: String
    public let bound: TimeAmount
    public let fileID: String
    public let line: Int

    public var description: String {
        let seconds = Double(bound.nanoseconds) / 1e9
        return "\(what.isEmpty ? "the awaited future" : what) did not complete within \(seconds) s (\(fileID):\(line))"
    }
}

/// How long a test waits, by default, for something a peer must do (an answer, a FIN, a close).
public let defaultWaitBound = TimeAmount.seconds(20)

extension EventLoopFuture where Value: Sendable {
    /// The future's value, or `WaitTimedOut` once `bound` has passed. A test's time limit cancels its
    /// task, and a wait on a future ignores that: a peer that never answers would hold the whole run.
    public func awaited(_ what: String = "", within bound: TimeAmount = defaultWaitBound,
                        fileID: String = #fileID, line: Int = #line) async throws -> Value {
        let bounded = eventLoop.makePromise(of: Value.self)
        let timeout = eventLoop.scheduleTask(in: bound) {
            bounded.fail(WaitTimedOut(what: what, bound: bound, fileID: fileID, line: line))
        }
        whenComplete { result in
            timeout.cancel()
            bounded.completeWith(result)
        }
        return try await bounded.futureResult.get()
    }
}

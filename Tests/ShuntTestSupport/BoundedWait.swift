import Foundation
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
    /// The bound is kept by a timer of its own, not by the future's event loop, which may be the one
    /// that is stuck.
    public func awaited(_ what: String = "", within bound: TimeAmount = defaultWaitBound,
                        fileID: String = #fileID, line: Int = #line) async throws -> Value {
        let first = FirstCompletion<Value>()
        return try await withCheckedThrowingContinuation { continuation in
            first.set(continuation)
            DispatchQueue.global().asyncAfter(deadline: .now() + .nanoseconds(Int(bound.nanoseconds))) {
                first.complete(.failure(WaitTimedOut(what: what, bound: bound, fileID: fileID, line: line)))
            }
            whenComplete { first.complete($0) }
        }
    }
}

/// Resumes a continuation with whichever result comes first; later ones are dropped.
private final class FirstCompletion<Value: Sendable>: @unchecked Sendable {
    private let lock = NSLock()
    private var continuation: CheckedContinuation<Value, Error>?

    func set(_ continuation: CheckedContinuation<Value, Error>) {
        lock.withLock { self.continuation = continuation }
    }

    func complete(_ result: Result<Value, Error>) {
        let waiting = lock.withLock { () -> CheckedContinuation<Value, Error>? in
            defer { continuation = nil }
            return continuation
        }
        waiting?.resume(with: result)
    }
}

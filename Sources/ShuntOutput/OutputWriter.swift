import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Standard output and error, written from a thread of its own through an `OutputQueue`: the
/// developer's terminal for `shunt intercept`, the agent's log for `shunt-agent`. What is written
/// never holds the traffic back, even when the reader is slow or stopped (a pipe to a pager, a
/// paused pane, a log collector that fell behind): a write into a full pipe would stop the event
/// loop that serves every connection. Lines that arrive together leave in one write, and after each
/// write the thread rests `batchInterval` so that a busy intercept costs a few writes and wake-ups
/// a second, not one per request. When the output cannot keep up, droppable lines are dropped and
/// counted (`OutputQueue`). An output that is gone (EPIPE) ends the writing, not the process.
public final class OutputWriter: @unchecked Sendable {
    public typealias Notice = @Sendable (_ dropped: Int) -> (target: OutputQueue.Target, line: String)

    // All of these are guarded by `condition`.
    private let condition = NSCondition()
    private var queue: OutputQueue
    private var writing = false
    private var closed = false
    private var broken = false
    private var linesDropped = 0
    /// The thread rests after a write: new lines wait for it without waking it.
    private var resting = false
    /// Callers waiting in `flush`: the thread does not rest while there are any.
    private var flushWaiters = 0

    /// How long the writing thread rests after a write before it takes the next lines, by default.
    public static let batchInterval = Duration.milliseconds(10)
    /// This writer's rest after a write, in seconds; `flush` and `close` end a rest early.
    private let restSeconds: Double

    private let standardOutput: Int32
    private let standardError: Int32
    private let notice: Notice

    /// Writes to `standardOutput` and `standardError` (descriptors; the process's own by default)
    /// until `close()`, resting `batchInterval` after each write.
    public init(maxPendingBytes: Int = OutputQueue.defaultMaxPendingBytes, standardOutput: Int32 = STDOUT_FILENO,
                standardError: Int32 = STDERR_FILENO, batchInterval: Duration = OutputWriter.batchInterval,
                notice: @escaping Notice) {
        queue = OutputQueue(maxPendingBytes: maxPendingBytes)
        restSeconds = Self.seconds(batchInterval)
        self.standardOutput = standardOutput
        self.standardError = standardError
        self.notice = notice
        Thread.detachNewThread { [self] in run() }
    }

    /// Queues `line`; returns at once. False when it was dropped (only a `droppable` line is).
    @discardableResult
    public func write(_ line: String, to target: OutputQueue.Target, droppable: Bool) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        guard !closed else { return false }
        let queued = queue.append(line, to: target, droppable: droppable)
        if !queued {
            linesDropped += 1
        } else if !resting {
            condition.signal()
        }
        return queued
    }

    /// Lines dropped so far, over the life of the writer.
    public var dropped: Int {
        condition.lock()
        defer { condition.unlock() }
        return linesDropped
    }

    /// Waits until everything queued so far is written, at most `timeout` (a stopped terminal must
    /// not keep the process from exiting). True when it was.
    @discardableResult
    public func flush(timeout: Duration = .seconds(2)) -> Bool {
        let deadline = Date(timeIntervalSinceNow: Self.seconds(timeout))
        condition.lock()
        flushWaiters += 1
        defer {
            flushWaiters -= 1
            condition.unlock()
        }
        condition.broadcast()  // ends the writer's rest
        while !(queue.isEmpty && !writing) && !broken {
            if !condition.wait(until: deadline) { return false }
        }
        return true
    }

    /// Writes what is queued (see `flush`), then ends the writing thread.
    public func close(timeout: Duration = .seconds(2)) {
        flush(timeout: timeout)
        condition.lock()
        closed = true
        condition.broadcast()
        condition.unlock()
    }

    private func run() {
        condition.lock()
        while true {
            while queue.isEmpty && !closed { condition.wait() }
            if closed && (queue.isEmpty || broken) { break }
            let chunks = queue.take(notice: notice)
            writing = true
            condition.unlock()
            var gone = false
            for chunk in chunks where !gone {
                gone = !writeAll(chunk.bytes, to: chunk.target == .standardOutput ? standardOutput : standardError)
            }
            condition.lock()
            writing = false
            if gone { broken = true }
            condition.broadcast()
            if !closed && !broken && flushWaiters == 0 {
                resting = true
                _ = condition.wait(until: Date(timeIntervalSinceNow: restSeconds))
                resting = false
            }
        }
        condition.unlock()
    }

    /// False when the descriptor cannot be written any more.
    private func writeAll(_ bytes: [UInt8], to descriptor: Int32) -> Bool {
        if broken { return false }
        return bytes.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let written = Glibc.write(descriptor, buffer.baseAddress! + offset, buffer.count - offset)
                if written >= 0 {
                    offset += written
                } else if errno == EINTR {
                    continue
                } else if errno == EAGAIN {
                    // A terminal another program set non-blocking: wait until it takes more.
                    var poller = pollfd(fd: descriptor, events: Int16(POLLOUT), revents: 0)
                    _ = poll(&poller, 1, 100)
                } else {
                    return false
                }
            }
            return true
        }
    }

    private static func seconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) + Double(duration.components.attoseconds) / 1e18
    }
}

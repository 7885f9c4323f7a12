/// What waits to be written to a terminal or a log stream, bounded: droppable lines past
/// `maxPendingBytes` are dropped and counted, and the count is said once the output catches up.
/// In `shunt intercept` the request lines are droppable, and the others (the banner, tunnel lost,
/// reconnected, local service down), few, one per event of the session, are never dropped; in
/// `shunt-agent` every log line is droppable. Pure: `OutputWriter` runs it on a thread of its own.
public struct OutputQueue: Sendable {
    public enum Target: Sendable, Hashable {
        case standardOutput, standardError
    }

    /// Consecutive lines for one target, joined.
    public struct Chunk: Sendable, Hashable {
        public var target: Target
        public var bytes: [UInt8]
    }

    /// The default bound of queued lines: some 5,000 request lines, or 4,000 log lines.
    public static let defaultMaxPendingBytes = 1 << 20

    public let maxPendingBytes: Int
    public private(set) var chunks: [Chunk] = []
    public private(set) var pendingBytes = 0
    /// Lines dropped since the last notice.
    public private(set) var dropped = 0

    public init(maxPendingBytes: Int = OutputQueue.defaultMaxPendingBytes) {
        precondition(maxPendingBytes > 0, "maxPendingBytes must be positive")
        self.maxPendingBytes = maxPendingBytes
    }

    public var isEmpty: Bool { chunks.isEmpty }

    /// Queues `line` and a newline. A droppable line that would take the queue past the bound is
    /// dropped (false).
    @discardableResult
    public mutating func append(_ line: String, to target: Target, droppable: Bool) -> Bool {
        let size = line.utf8.count + 1
        if droppable && pendingBytes + size > maxPendingBytes {
            dropped += 1
            return false
        }
        add(line, to: target)
        return true
    }

    /// Everything queued, oldest first, with the notice of the lines dropped (rendered by `notice`)
    /// where they were missed; the queue is then empty.
    public mutating func take(notice: (Int) -> (target: Target, line: String)) -> [Chunk] {
        if dropped > 0 {
            let (target, line) = notice(dropped)
            dropped = 0
            add(line, to: target)
        }
        defer {
            chunks = []
            pendingBytes = 0
        }
        return chunks
    }

    private mutating func add(_ line: String, to target: Target) {
        pendingBytes += line.utf8.count + 1
        if chunks.last?.target != target {
            chunks.append(Chunk(target: target, bytes: []))
        }
        // Copied as one block of memory: appending the string's UTF-8 view goes octet by octet.
        var line = line
        line.withUTF8 { octets in
            chunks[chunks.count - 1].bytes.append(contentsOf: octets)
        }
        chunks[chunks.count - 1].bytes.append(0x0A)
    }
}
